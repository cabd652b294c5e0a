/// Why an S3 request failed. Never carries credentials or signatures: descriptions end up in logs and in
/// failed backup records' diagnostics.
///
/// Jobs map every blob store failure that is not the engine's own to the storage code (`dcs.08.0005` for
/// DCS backups), whichever store it came from.
package enum S3Error: Error, CustomStringConvertible, Equatable {
    /// The server answered with an error status: its S3 `Code` (e.g. `SignatureDoesNotMatch`) and message.
    case service(operation: String, status: Int, code: String, message: String)
    /// No answer: connection refused, reset, timed out.
    case transport(operation: String, reason: String)
    /// An answer we cannot use (a missing `UploadId`, an unexpected status).
    case invalidResponse(operation: String, reason: String)
    /// The writer would need more than 10,000 parts.
    case tooManyParts(key: String)
    case exists(key: String)
    case invalidKey(String)
    /// The writer was already committed or aborted.
    case finished
    /// The reader was closed.
    case closed

    package var description: String {
        switch self {
        case .service(let operation, let status, let code, let message): "S3 \(operation): HTTP \(status) \(code): \(message)"
        case .transport(let operation, let reason): "S3 \(operation): no answer (\(reason))"
        case .invalidResponse(let operation, let reason): "S3 \(operation): unexpected answer (\(reason))"
        case .tooManyParts(let key): "S3 upload of \(key) would need more than 10,000 parts"
        case .exists(let key): "blob \(key) already exists"
        case .invalidKey(let key): "invalid blob key \(key)"
        case .finished: "the blob writer was already committed or aborted"
        case .closed: "the blob reader is closed"
        }
    }

    /// Worth another attempt: no answer, or a server-side 5xx (S3 asks clients to retry those).
    var isTransient: Bool {
        switch self {
        case .transport: true
        case .service(_, let status, _, _): status >= 500
        default: false
        }
    }
}
