import CofferCore
import Crypto
import Foundation

/// An S3 access key pair. Its description never shows the secret, so it can be logged or put in an error.
package struct S3Credentials: Sendable, CustomStringConvertible {
    package var accessKeyID: String
    package var secretAccessKey: String

    package init(accessKeyID: String, secretAccessKey: String) {
        self.accessKeyID = accessKeyID
        self.secretAccessKey = secretAccessKey
    }

    package var description: String { "S3Credentials(accessKeyID: \(self.accessKeyID), secretAccessKey: <redacted>)" }
}

/// AWS Signature Version 4, S3 flavour (paths encoded once, never normalised), over swift-crypto.
///
/// Ours rather than Soto's: the four functions S3 needs are a page of code, and Soto would bring its own
/// HTTP stack and a large dependency tree. Checked against AWS's published vectors (`SigV4SignerTests`).
/// The caller builds the wire request from the same encoded path and query it signs, so they cannot drift.
package struct SigV4Signer: Sendable {
    package static let algorithm = "AWS4-HMAC-SHA256"
    /// `x-amz-content-sha256` of an empty body.
    package static let emptyPayloadHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    package static let unsignedPayload = "UNSIGNED-PAYLOAD"

    package let credentials: S3Credentials
    package let region: String
    package let service: String

    package init(credentials: S3Credentials, region: String, service: String = "s3") {
        self.credentials = credentials
        self.region = region
        self.service = service
    }

    /// The `Authorization` header value for a request whose `headers` already hold `host`, `x-amz-date` and
    /// (for S3) `x-amz-content-sha256`. `path` is the encoded path as sent; `query` holds decoded names and
    /// values. Every header given is signed: pass only those the server must see unchanged.
    package func authorization(
        method: String, path: String, query: [(String, String)], headers: [(String, String)], payloadHash: String, date: Date
    ) -> String {
        let time = Self.timestamp(date)
        let (canonicalHeaders, signedHeaders) = Self.canonicalHeaders(headers)
        let request = [method, path, Self.canonicalQuery(query), canonicalHeaders, signedHeaders, payloadHash].joined(separator: "\n")
        let signature = self.signature(request: request, time: time)
        return "\(Self.algorithm) Credential=\(self.credentials.accessKeyID)/\(self.scope(time.day)), SignedHeaders=\(signedHeaders), Signature=\(signature)"
    }

    /// The query of a presigned URL (only `host` signed, `UNSIGNED-PAYLOAD`): `query` plus the `X-Amz-*`
    /// items and the signature, in canonical (encoded, sorted) form.
    package func presignedQuery(method: String, path: String, query: [(String, String)], host: String, date: Date, expires: Int) -> String {
        let time = Self.timestamp(date)
        let items =
            query + [
                ("X-Amz-Algorithm", Self.algorithm),
                ("X-Amz-Credential", "\(self.credentials.accessKeyID)/\(self.scope(time.day))"),
                ("X-Amz-Date", time.stamp),
                ("X-Amz-Expires", String(expires)),
                ("X-Amz-SignedHeaders", "host"),
            ]
        let canonicalQuery = Self.canonicalQuery(items)
        let request = [method, path, canonicalQuery, "host:\(host)\n", "host", Self.unsignedPayload].joined(separator: "\n")
        return canonicalQuery + "&X-Amz-Signature=" + self.signature(request: request, time: time)
    }

    // MARK: - The steps

    private func scope(_ day: String) -> String { "\(day)/\(self.region)/\(self.service)/aws4_request" }

    private func signature(request: String, time: (stamp: String, day: String)) -> String {
        let stringToSign = [
            Self.algorithm, time.stamp, self.scope(time.day), Hex.encode(SHA256.hash(data: Array(request.utf8))),
        ].joined(separator: "\n")
        return Hex.encode(HMAC<SHA256>.authenticationCode(for: Array(stringToSign.utf8), using: self.signingKey(day: time.day)))
    }

    /// `HMAC(HMAC(HMAC(HMAC("AWS4"+secret, day), region), service), "aws4_request")`.
    private func signingKey(day: String) -> SymmetricKey {
        var key = SymmetricKey(data: Array(("AWS4" + self.credentials.secretAccessKey).utf8))
        for part in [day, self.region, self.service, "aws4_request"] {
            key = SymmetricKey(data: HMAC<SHA256>.authenticationCode(for: Array(part.utf8), using: key))
        }
        return key
    }

    /// `name:value\n` per header (lower-cased names, trimmed values with inner runs of spaces collapsed,
    /// repeated names joined with `,`), sorted by name; and the `;`-joined names.
    package static func canonicalHeaders(_ headers: [(String, String)]) -> (canonical: String, signed: String) {
        var merged: [String: String] = [:]
        for (name, value) in headers {
            let name = name.lowercased()
            let value = value.split(whereSeparator: { $0 == " " || $0 == "\t" }).joined(separator: " ")
            merged[name] = merged[name].map { $0 + "," + value } ?? value
        }
        let names = merged.keys.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
        let canonical = names.map { "\($0):\(merged[$0] ?? "")\n" }.joined()
        return (canonical, names.joined(separator: ";"))
    }

    /// Names and values encoded, then sorted by encoded name and then value, in byte order (sorting the
    /// joined `name=value` strings would misplace a name that prefixes another); a missing value is `name=`.
    package static func canonicalQuery(_ items: [(String, String)]) -> String {
        items.map { (Self.encode($0.0), Self.encode($0.1)) }
            .sorted { lhs, rhs in
                lhs.0 == rhs.0
                    ? Array(lhs.1.utf8).lexicographicallyPrecedes(Array(rhs.1.utf8))
                    : Array(lhs.0.utf8).lexicographicallyPrecedes(Array(rhs.0.utf8))
            }
            .map { "\($0.0)=\($0.1)" }
            .joined(separator: "&")
    }

    /// RFC 3986 encoding as AWS wants it: only `A-Z a-z 0-9 - _ . ~` stay (and `/` when `keepSlash`, for
    /// paths); every other byte of the UTF-8 form becomes `%XX` with upper-case hex (a space is `%20`).
    package static func encode(_ text: String, keepSlash: Bool = false) -> String {
        let hex = Array("0123456789ABCDEF".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(text.utf8.count)
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "~"):
                out.append(byte)
            case UInt8(ascii: "/") where keepSlash:
                out.append(byte)
            default:
                out += [UInt8(ascii: "%"), hex[Int(byte >> 4)], hex[Int(byte & 0x0f)]]
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// `yyyyMMdd'T'HHmmss'Z'` and `yyyyMMdd` in UTC, without a formatter (no locale to get wrong).
    package static func timestamp(_ date: Date) -> (stamp: String, day: String) {
        var seconds = time_t(date.timeIntervalSince1970.rounded(.down))
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        let day = "\(parts.tm_year + 1900)\(two(parts.tm_mon + 1))\(two(parts.tm_mday))"
        return ("\(day)T\(two(parts.tm_hour))\(two(parts.tm_min))\(two(parts.tm_sec))Z", day)
    }
}
