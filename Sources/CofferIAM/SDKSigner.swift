import Crypto
import Foundation

/// Huawei's `SDK-HMAC-SHA256` request signature, byte-exact with the official SDK (reference section 5).
///
/// The server recomputes the signature from the raw request: the *decoded* path re-encoded per
/// segment with a trailing `/`, the query sorted by decoded key then value, the signed headers
/// (values trimmed, inner whitespace kept) and the SHA-256 of the exact body bytes.
package enum SDKSigner {
    package static let algorithm = "SDK-HMAC-SHA256"
    package static let emptyPayloadHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

    /// The parsed `Authorization` header.
    package struct Authorization: Sendable, Equatable {
        package var accessKey: String
        package var signedHeaders: [String]
        package var signature: String
    }

    /// Parses `SDK-HMAC-SHA256 Access=AK, SignedHeaders=a;b, Signature=hex`.
    package static func parseAuthorization(_ header: String) -> Authorization? {
        guard header.hasPrefix(Self.algorithm) else { return nil }
        let rest = header.dropFirst(Self.algorithm.count)
        guard rest.first?.isWhitespace == true else { return nil }
        var fields: [String: String] = [:]
        for part in rest.split(separator: ",") {
            let trimmed = part.trimmingCharacters(in: .whitespaces)
            guard let eq = trimmed.firstIndex(of: "=") else { return nil }
            fields[String(trimmed[..<eq])] = String(trimmed[trimmed.index(after: eq)...])
        }
        guard fields.count == 3, let ak = fields["Access"], !ak.isEmpty, let signed = fields["SignedHeaders"], !signed.isEmpty,
            let signature = fields["Signature"], signature.count == 64, signature.allSatisfy(\.isHexDigit)
        else { return nil }
        return Authorization(accessKey: ak, signedHeaders: signed.split(separator: ";").map(String.init), signature: signature.lowercased())
    }

    /// The canonical URI of a raw (still percent-encoded) path.
    package static func canonicalURI(rawPath: String) -> String {
        let decoded = Self.percentDecode(rawPath)
        let encoded = decoded.split(separator: "/", omittingEmptySubsequences: false).map { Self.encode(String($0)) }.joined(separator: "/")
        return encoded.hasSuffix("/") ? encoded : encoded + "/"
    }

    /// The canonical query string of a raw query (without `?`).
    package static func canonicalQuery(rawQuery: String) -> String {
        var pairs: [(String, String)] = []
        for part in rawQuery.split(separator: "&", omittingEmptySubsequences: true) {
            let (key, value): (Substring, Substring)
            if let eq = part.firstIndex(of: "=") {
                key = part[..<eq]
                value = part[part.index(after: eq)...]
            } else {
                key = part
                value = ""
            }
            pairs.append((Self.percentDecode(String(key)), Self.percentDecode(String(value))))
        }
        // Python tuple order: by key, then value, comparing code points (UTF-8 byte order agrees).
        pairs.sort { lhs, rhs in
            lhs.0 != rhs.0 ? Array(lhs.0.utf8).lexicographicallyPrecedes(Array(rhs.0.utf8)) : Array(lhs.1.utf8).lexicographicallyPrecedes(Array(rhs.1.utf8))
        }
        return pairs.map { Self.encode($0.0) + "=" + Self.encode($0.1) }.joined(separator: "&")
    }

    /// The canonical request.
    /// - Parameter headers: looks up a header value by lower-case name (nil when absent).
    package static func canonicalRequest(
        method: String, rawPath: String, rawQuery: String, signedHeaders: [String], header: (String) -> String?, payloadHash: String
    ) -> String {
        let canonicalHeaders = signedHeaders.map { name in
            name + ":" + (header(name) ?? "").trimmingCharacters(in: .whitespaces) + "\n"
        }.joined()
        return [
            method.uppercased(), Self.canonicalURI(rawPath: rawPath), Self.canonicalQuery(rawQuery: rawQuery), canonicalHeaders,
            signedHeaders.joined(separator: ";"), payloadHash,
        ].joined(separator: "\n")
    }

    /// The string to sign for a canonical request.
    package static func stringToSign(canonicalRequest: String, sdkDate: String) -> String {
        Self.algorithm + "\n" + sdkDate + "\n" + Self.hex(SHA256.hash(data: Data(canonicalRequest.utf8)))
    }

    /// Lower-case hex HMAC-SHA256 keyed with the raw secret key.
    package static func signature(stringToSign: String, secretKey: String) -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: Data(stringToSign.utf8), using: SymmetricKey(data: Data(secretKey.utf8)))
        return Self.hex(mac)
    }

    /// The payload hash: the empty-body hash for no body, else the header's value when
    /// `X-Sdk-Content-Sha256` is sent, else the SHA-256 of the bytes.
    package static func payloadHash(body: some DataProtocol, contentSHA256Header: String?) -> String {
        if body.isEmpty { return Self.emptyPayloadHash }
        if let declared = contentSHA256Header { return declared }
        return Self.hex(SHA256.hash(data: body))
    }

    /// Constant-time comparison of two hex signatures.
    package static func constantTimeEquals(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8)
        let y = Array(b.utf8)
        guard x.count == y.count else { return false }
        var diff: UInt8 = 0
        for i in x.indices { diff |= x[i] ^ y[i] }
        return diff == 0
    }

    package static func hex(_ bytes: some Sequence<UInt8>) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Python's `quote(s, safe='~')`: keeps `A-Za-z0-9_.-~`, encodes every other UTF-8 byte as `%XX`.
    package static func encode(_ text: String) -> String {
        var out = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "-"), UInt8(ascii: "~"):
                out.unicodeScalars.append(UnicodeScalar(byte))
            default:
                out += String(format: "%%%02X", byte)
            }
        }
        return out
    }

    /// Python's `unquote`: `%XX` sequences become bytes (decoded as UTF-8, invalid sequences replaced); `+` stays `+`.
    package static func percentDecode(_ text: String) -> String {
        guard text.utf8.contains(UInt8(ascii: "%")) else { return text }
        var bytes: [UInt8] = []
        let input = Array(text.utf8)
        var i = 0
        while i < input.count {
            if input[i] == UInt8(ascii: "%"), i + 2 < input.count, let high = Self.hexValue(input[i + 1]), let low = Self.hexValue(input[i + 2]) {
                bytes.append(high << 4 | low)
                i += 3
            } else {
                bytes.append(input[i])
                i += 1
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    private static func hexValue(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
