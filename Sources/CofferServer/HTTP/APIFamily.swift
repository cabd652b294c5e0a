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
        case .ddm: DDMError.unknownURL
        }
    }

    /// The family's answer for a known URL with another method.
    package var methodNotAllowed: CofferError {
        switch self {
        case .dcs, .operations: DCSError.methodNotAllowed
        case .iam: IAMError.methodNotAllowed
        case .ddm: DDMError.methodNotAllowed
        }
    }

    /// The family's answer for an unexpected failure.
    package var internalError: CofferError {
        switch self {
        case .dcs, .operations: DCSError.internalError
        case .iam: IAMError.internalError
        case .ddm: DDMError.internalError
        }
    }

    /// The family's answer when the path's project is not the caller's.
    package var projectMismatch: CofferError {
        switch self {
        case .dcs, .operations, .iam: DCSError.projectMismatch
        case .ddm: DDMError.projectMismatch
        }
    }

    /// The family's answer for a project id that is not 32 hex characters (e.g. the SDK's literal `{project_id}`).
    package var invalidProjectID: CofferError {
        switch self {
        case .dcs, .operations, .iam: DCSError.invalidProjectID
        case .ddm: DDMError.invalidProjectID
        }
    }

    /// A malformed or oversized body.
    package func invalidBody(_ detail: String) -> CofferError {
        switch self {
        case .dcs, .operations: DCSError.malformedBody(detail)
        case .iam: IAMError.invalidBody(detail)
        case .ddm: DDMError.invalidBody(detail)
        }
    }

    /// The family's invalid-parameter error naming `name` (a query parameter or a body field path).
    package func invalidParameter(_ name: String, _ detail: String? = nil) -> CofferError {
        switch self {
        case .dcs, .operations: DCSError.invalidParameter(name, detail)
        case .iam: IAMError.invalidParameter(name)
        case .ddm: DDMError.invalidParameter(name, detail)
        }
    }
}
