import CofferCore
import Foundation

/// The `--blobs` setting: `file:///path` (the default, `<data-dir>/blobs`) or
/// `s3://bucket?endpoint=…&region=…` with `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` from the environment.
package enum BlobStoreURL: Sendable, Equatable {
    case file(root: String)
    case s3(S3Location, S3Credentials)

    /// Parses `url` (nil: the data directory's `blobs` folder); the error's description says what is wrong,
    /// for a start-up error, and never shows the secret key.
    package init(_ url: String?, dataDirectory: String, environment: [String: String]) throws {
        guard let url else {
            self = .file(root: (dataDirectory as NSString).appendingPathComponent("blobs"))
            return
        }
        if url.hasPrefix("s3://") {
            let location = try S3Location(url: url)
            guard let accessKey = environment["AWS_ACCESS_KEY_ID"], !accessKey.isEmpty,
                let secretKey = environment["AWS_SECRET_ACCESS_KEY"], !secretKey.isEmpty
            else { throw S3LocationError("AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set for an s3:// blob store") }
            self = .s3(location, S3Credentials(accessKeyID: accessKey, secretAccessKey: secretKey))
        } else if url.hasPrefix("file://") {
            let path = String(url.dropFirst("file://".count))
            guard path.hasPrefix("/") || path.hasPrefix("."), !path.contains("?") else {
                throw BlobStoreURLError("file:// needs a path: file:///var/lib/coffer/blobs or file://./blobs")
            }
            self = .file(root: path)
        } else {
            throw BlobStoreURLError("expected file:///path or s3://bucket?endpoint=…&region=…")
        }
    }

    package static func == (lhs: Self, rhs: Self) -> Bool {
        switch (lhs, rhs) {
        case (.file(let a), .file(let b)): a == b
        case (.s3(let a, let x), .s3(let b, let y)): a == b && x.accessKeyID == y.accessKeyID && x.secretAccessKey == y.secretAccessKey
        default: false
        }
    }
}

/// A `--blobs` value that is neither a usable `file://` nor an `s3://` URL.
package struct BlobStoreURLError: Error, CustomStringConvertible {
    package let reason: String
    init(_ reason: String) { self.reason = reason }
    package var description: String { "invalid blob store URL: \(self.reason)" }
}
