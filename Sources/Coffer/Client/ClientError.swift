/// Why a client command failed, as the one line `coffer` prints before it exits non-zero.
enum ClientError: Error, CustomStringConvertible {
    /// The server answered an error body (`code` is the service's own code: `DCS.3022`, `DBS.280001`, `APIGW.0301` …).
    case api(status: Int, code: String, message: String, requestID: String?)
    /// A `--wait` ended with the job failed.
    case jobFailed(what: String, code: String)
    /// The server could not be reached or answered something that is not Coffer's API.
    case transport(String)
    /// Bad input or local state (no profile, a malformed URL …).
    case usage(String)
    /// `--wait` gave up.
    case timedOut(String)

    var description: String {
        switch self {
        case .api(let status, let code, let message, let requestID):
            "\(code): \(message) (HTTP \(status)\(requestID.map { ", request \($0)" } ?? ""))"
        case .jobFailed(let what, let code): "\(what) failed: \(code)"
        case .transport(let text), .usage(let text), .timedOut(let text): text
        }
    }
}
