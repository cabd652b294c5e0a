import Foundation

/// Where a bucket is: parsed from `s3://bucket?endpoint=http://host:port&region=us-east-1[&style=path|virtual]`.
///
/// Path style (`http://host:port/bucket/key`, what SeaweedFS and most S3 clones want) is the default;
/// `style=virtual` puts the bucket in the host name (`bucket.host`), as OBS recommends.
package struct S3Location: Sendable, Equatable {
    package var bucket: String
    /// `http` or `https`.
    package var scheme: String
    /// The endpoint's host name or address, without the port.
    package var host: String
    package var port: Int?
    package var region: String
    package var virtualHosted: Bool

    package init(bucket: String, scheme: String, host: String, port: Int?, region: String, virtualHosted: Bool = false) {
        self.bucket = bucket
        self.scheme = scheme
        self.host = host
        self.port = port
        self.region = region
        self.virtualHosted = virtualHosted
    }

    /// Parses a `--blobs` URL; the message of the error says what is wrong, for a clear start-up error.
    package init(url text: String) throws(S3LocationError) {
        guard let url = URLComponents(string: text), url.scheme == "s3" else { throw S3LocationError("expected s3://bucket?endpoint=…&region=…") }
        guard let bucket = url.host, !bucket.isEmpty else { throw S3LocationError("the bucket name is missing (s3://BUCKET?…)") }
        // S3's bucket naming rules; also keeps the name out of the path's and host's special characters.
        let allowed = Set("abcdefghijklmnopqrstuvwxyz0123456789.-")
        guard (3...63).contains(bucket.count), bucket.allSatisfy({ allowed.contains($0) }), bucket.first != "-", bucket.first != "." else {
            throw S3LocationError("bucket name \"\(bucket)\" is not a valid S3 bucket name (3-63 of a-z 0-9 . -)")
        }
        guard url.path.isEmpty || url.path == "/" else { throw S3LocationError("no key prefix is supported after the bucket name") }
        var endpoint: String?
        var region = "us-east-1"
        var virtualHosted = false
        for item in url.queryItems ?? [] {
            switch item.name {
            case "endpoint": endpoint = item.value
            case "region":
                guard let value = item.value, !value.isEmpty else { throw S3LocationError("region is empty") }
                region = value
            case "style":
                switch item.value {
                case "path": virtualHosted = false
                case "virtual": virtualHosted = true
                default: throw S3LocationError("style must be path or virtual")
                }
            default: throw S3LocationError("unknown parameter \"\(item.name)\" (endpoint, region, style)")
            }
        }
        guard let endpoint, let parsed = URLComponents(string: endpoint), let scheme = parsed.scheme, ["http", "https"].contains(scheme),
            let host = parsed.host, !host.isEmpty
        else { throw S3LocationError("endpoint=http(s)://host[:port] is required") }
        guard parsed.path.isEmpty || parsed.path == "/", parsed.query == nil, parsed.user == nil else {
            throw S3LocationError("the endpoint must be scheme://host[:port] only")
        }
        if let port = parsed.port, !(1...65535).contains(port) { throw S3LocationError("endpoint port out of range") }
        self.init(bucket: bucket, scheme: scheme, host: host, port: parsed.port, region: region, virtualHosted: virtualHosted)
    }

    /// The `Host` header: the port only when it is not the scheme's default (what clients send, so what is signed).
    var hostHeader: String {
        let host = self.virtualHosted ? "\(self.bucket).\(self.host)" : self.host
        let name = host.contains(":") ? "[\(host)]" : host
        guard let port = self.port, port != (self.scheme == "https" ? 443 : 80) else { return name }
        return "\(name):\(port)"
    }

    /// The encoded path of `key` (or of the bucket itself when nil).
    func path(for key: String?) -> String {
        let encodedKey = key.map { SigV4Signer.encode($0, keepSlash: true) } ?? ""
        return self.virtualHosted ? "/" + encodedKey : "/\(self.bucket)" + (key == nil ? "" : "/" + encodedKey)
    }
}

/// A `--blobs s3://…` URL that cannot be used, and why.
package struct S3LocationError: Error, CustomStringConvertible {
    package let reason: String
    init(_ reason: String) { self.reason = reason }
    package var description: String { "invalid S3 blob store URL: \(self.reason)" }
}
