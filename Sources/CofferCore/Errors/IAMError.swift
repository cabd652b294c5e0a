/// IAM (`/v3/auth/tokens`, `/v3/projects`) error codes, in IAM's `{error_code, error_msg}` form (reference 7.3).
package enum IAMError {
    /// 409 `IAM.0012`, a project of that name exists (admin CLI).
    package static func projectExists(_ name: String) -> CofferError {
        CofferError(status: 409, code: "IAM.0012", message: "A project named \(name) already exists.")
    }
    /// 409 `IAM.0013`, a user of that name exists (admin CLI).
    package static func userExists(_ name: String) -> CofferError {
        CofferError(status: 409, code: "IAM.0013", message: "A user named \(name) already exists.")
    }
    /// 404 `IAM.0014`, no user of that name (admin CLI).
    package static func noSuchUser(_ name: String) -> CofferError {
        CofferError(status: 404, code: "IAM.0014", message: "No user named \(name).")
    }
    /// 400 `IAM.0007`, a password shorter than 8 characters.
    package static let passwordTooShort = CofferError(
        status: 400, code: "IAM.0007", message: "Request parameter password is invalid: at least 8 characters.")
    /// 400 `IAM.0007`: Coffer issues project-scoped tokens only.
    package static let domainScopeRefused = CofferError(
        status: 400, code: "IAM.0007",
        message: "Request parameter auth.scope is invalid: Coffer issues project-scoped tokens only; scope the token to a project.")
    /// 400 `IAM.0007` for a body that is not a JSON object.
    package static func invalidBody(_ detail: String) -> CofferError {
        CofferError(status: 400, code: "IAM.0007", message: "Request body is invalid. \(detail)")
    }
    package static func invalidParameter(_ key: String) -> CofferError {
        CofferError(status: 400, code: "IAM.0007", message: "Request parameter \(key) is invalid.")
    }
    /// 401 for a wrong user name, domain or password; one message for all three, so names cannot be probed.
    package static let wrongPassword = CofferError(
        status: 401, code: "IAM.0004", message: "The username or password is wrong.")
    /// 401 while a user is locked after five consecutive wrong passwords (15 minutes), whatever the password.
    package static let userLocked = CofferError(
        status: 401, code: "IAM.0005", message: "The user is locked after too many failed logins; try again later (a lock lasts 15 minutes).")
    package static let projectNotFound = CofferError(status: 401, code: "IAM.0006", message: "The project does not exist or is not the user's.")
    package static let tokenInvalid = CofferError(status: 404, code: "IAM.0011", message: "The token could not be found or has expired.")
    package static let unknownURL = CofferError(status: 404, code: "IAM.0001", message: "The requested URL does not exist.")
    package static let methodNotAllowed = CofferError(status: 405, code: "IAM.0002", message: "This request method is not allowed.")
    package static let internalError = CofferError(status: 500, code: "IAM.0009", message: "Internal server error.")
}
