import CofferCore

/// Which service a path belongs to: it decides the error body shape and the codes for generic failures.
package enum APIFamily: String, Sendable {
    /// DCS v2, `/v2/…`: `{error_code, error_msg, error_ext_msg}`.
    case dcs
    /// DDM v3, `/v3/{project_id}/…`: both `error_code/error_msg` and `errCode/externalMessage`.
    case ddm
    /// IAM, `/v3/auth/…` and `/v3/projects`: `{error_code, error_msg}`.
    case iam
    /// Coffer's own endpoints (`/health`, `/metrics`, `/openapi.yaml`): the DCS form.
    case operations

    /// The family of a raw request path.
    package static func of(path: String) -> APIFamily {
        if path.hasPrefix("/v2/") || path == "/v2" { return .dcs }
        if path.hasPrefix("/v3/auth/") || path == "/v3/auth" || path.hasPrefix("/v3/projects") { return .iam }
        if path.hasPrefix("/v3/") || path.hasPrefix("/v1/") { return .ddm }
        return .operations
    }

    /// The family's answer for an unknown URL.
    package var unknownURL: CofferError {
        switch self {
        case .dcs, .operations: DCSError.unknownURL
        case .iam: IAMError.unknownURL
        case .ddm: CofferError(status: 404, code: "DBS.280404", message: "The requested URL does not exist.")
        }
    }

    /// The family's answer for a known URL with another method.
    package var methodNotAllowed: CofferError {
        switch self {
        case .dcs, .operations: DCSError.methodNotAllowed
        case .iam: IAMError.methodNotAllowed
        case .ddm: CofferError(status: 405, code: "DBS.280405", message: "This request method is not allowed.")
        }
    }

    /// The family's answer for an unexpected failure.
    package var internalError: CofferError {
        switch self {
        case .dcs, .operations: DCSError.internalError
        case .iam: IAMError.internalError
        case .ddm: CofferError(status: 500, code: "DBS.200412", message: "Server failure.")
        }
    }

    /// The family's answer when the path's project is not the caller's.
    package var projectMismatch: CofferError {
        switch self {
        case .dcs, .operations, .iam: DCSError.projectMismatch
        case .ddm: CofferError(status: 401, code: "DBS.280003", message: "Project ID does not match the token.")
        }
    }

    /// The family's answer for a project id that is not 32 hex characters (e.g. the SDK's literal `{project_id}`).
    package var invalidProjectID: CofferError {
        switch self {
        case .dcs, .operations, .iam: CofferError(status: 400, code: "DCS.4002", message: "Invalid project ID format.")
        case .ddm: CofferError(status: 400, code: "DBS.280001", message: "Parameter error: invalid project ID format.")
        }
    }

    /// A malformed or oversized body.
    package func invalidBody(_ detail: String) -> CofferError {
        switch self {
        case .dcs, .operations: DCSError.malformedBody(detail)
        case .iam: CofferError(status: 400, code: "IAM.0007", message: "Request body is invalid. \(detail)")
        case .ddm: CofferError(status: 400, code: "DBS.280001", message: "Parameter error. \(detail)")
        }
    }
}
