import CofferCore
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

    /// Parses `SDK-HMAC-SHA256 Access=AK, SignedHeaders=a;b, Signature=hex`: each of the three fields exactly
    /// once, nothing else. Runs on every signed request, so it works on slices of the header, without a dictionary.
    package static func parseAuthorization(_ header: String) -> Authorization? {
        guard header.hasPrefix(Self.algorithm) else { return nil }
        let rest = header.dropFirst(Self.algorithm.count)
        guard rest.first?.isWhitespace == true else { return nil }
        var access: Substring?
        var signed: Substring?
        var signature: Substring?
        for part in rest.split(separator: ",") {
            let trimmed = Self.trimmingWhitespace(part)
            guard let eq = trimmed.firstIndex(of: "=") else { return nil }
            let value = trimmed[trimmed.index(after: eq)...]
            switch trimmed[..<eq] {
            case "Access" where access == nil: access = value
            case "SignedHeaders" where signed == nil: signed = value
            case "Signature" where signature == nil: signature = value
            default: return nil
            }
        }
        guard let access, !access.isEmpty, let signed, !signed.isEmpty, let signature, signature.utf8.count == 64,
            signature.utf8.allSatisfy({ Hex.value($0) != nil })
        else { return nil }
        return Authorization(accessKey: String(access), signedHeaders: signed.split(separator: ";").map(String.init), signature: signature.lowercased())
    }

    /// `text` without leading and trailing `CharacterSet.whitespaces`, exactly as `trimmingCharacters(in:
    /// .whitespaces)` trims it, but without that call's cost on every signed request when both ends are ASCII
    /// (the only ASCII members of the set are space and tab); anything else goes to Foundation.
    package static func trimmingWhitespace(_ text: Substring) -> Substring {
        let utf8 = text.utf8
        func isBlank(_ byte: UInt8) -> Bool { byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") }
        var start = utf8.startIndex
        while start < utf8.endIndex, isBlank(utf8[start]) { start = utf8.index(after: start) }
        var end = utf8.endIndex
        while end > start, isBlank(utf8[utf8.index(before: end)]) { end = utf8.index(before: end) }
        if start == end { return "" }
        if utf8[start] < 0x80, utf8[utf8.index(before: end)] < 0x80 { return text[start..<end] }
        return Substring(String(text).trimmingCharacters(in: .whitespaces))
    }

    /// The canonical URI of a raw (still percent-encoded) path.
    package static func canonicalURI(rawPath: String) -> String {
        // Nothing to decode or encode (every API path): the canonical URI is the path itself.
        if rawPath.utf8.allSatisfy({ Self.isUnreserved($0) || $0 == UInt8(ascii: "/") }) {
            return rawPath.hasSuffix("/") ? rawPath : rawPath + "/"
        }
        let decoded = PercentDecoding.decode(rawPath)
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
            pairs.append((PercentDecoding.decode(String(key)), PercentDecoding.decode(String(value))))
        }
        // Python tuple order: by key, then value, comparing code points (UTF-8 byte order agrees).
        pairs.sort { lhs, rhs in
            lhs.0 != rhs.0 ? lhs.0.utf8.lexicographicallyPrecedes(rhs.0.utf8) : lhs.1.utf8.lexicographicallyPrecedes(rhs.1.utf8)
        }
        return pairs.map { Self.encode($0.0) + "=" + Self.encode($0.1) }.joined(separator: "&")
    }

    /// The canonical request.
    /// - Parameter headers: looks up a header value by lower-case name (nil when absent).
    package static func canonicalRequest(
        method: String, rawPath: String, rawQuery: String, signedHeaders: [String], header: (String) -> String?, payloadHash: String
    ) -> String {
        let canonicalHeaders = signedHeaders.map { name in
            name + ":" + Self.trimmingWhitespace(Substring(header(name) ?? "")) + "\n"
        }.joined()
        return [
            method.uppercased(), Self.canonicalURI(rawPath: rawPath), Self.canonicalQuery(rawQuery: rawQuery), canonicalHeaders,
            signedHeaders.joined(separator: ";"), payloadHash,
        ].joined(separator: "\n")
    }

    /// The string to sign for a canonical request.
    package static func stringToSign(canonicalRequest: String, sdkDate: String) -> String {
        Self.algorithm + "\n" + sdkDate + "\n" + Hex.encode(SHA256.hash(data: Data(canonicalRequest.utf8)))
    }

    /// Lower-case hex HMAC-SHA256 keyed with the raw secret key.
    package static func signature(stringToSign: String, secretKey: String) -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: Data(stringToSign.utf8), using: SymmetricKey(data: Data(secretKey.utf8)))
        return Hex.encode(mac)
    }

    /// Whether `signature` (hex) is the signature of `stringToSign`: swift-crypto compares the MACs in
    /// constant time, so a caller timing the answers learns nothing about the expected signature.
    package static func isValid(signature: String, stringToSign: String, secretKey: String) -> Bool {
        guard let mac = Hex.decode(signature) else { return false }
        return HMAC<SHA256>.isValidAuthenticationCode(
            mac, authenticating: Data(stringToSign.utf8), using: SymmetricKey(data: Data(secretKey.utf8)))
    }

    /// The payload hash: the empty-body hash for no body, else the header's value when
    /// `X-Sdk-Content-Sha256` is sent, else the SHA-256 of the bytes.
    package static func payloadHash(body: some DataProtocol, contentSHA256Header: String?) -> String {
        if body.isEmpty { return Self.emptyPayloadHash }
        if let declared = contentSHA256Header { return declared }
        return Hex.encode(SHA256.hash(data: body))
    }

    /// Python's `quote(s, safe='~')`: keeps `A-Za-z0-9_.-~`, encodes every other UTF-8 byte as `%XX`.
    package static func encode(_ text: String) -> String {
        if text.utf8.allSatisfy(Self.isUnreserved) { return text }
        let digits = Array("0123456789ABCDEF".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(text.utf8.count * 3)
        for byte in text.utf8 {
            if Self.isUnreserved(byte) {
                out.append(byte)
            } else {
                out += [UInt8(ascii: "%"), digits[Int(byte >> 4)], digits[Int(byte & 0x0f)]]
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// `A-Za-z0-9_.-~`: what `quote(s, safe='~')` keeps.
    @inline(__always)
    static func isUnreserved(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
            UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "-"), UInt8(ascii: "~"):
            true
        default:
            false
        }
    }
}
