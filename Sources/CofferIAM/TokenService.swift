import CofferCore
import Crypto
import Foundation

/// IAM tokens: signed, self-contained, valid 24 hours, and checked against the store on every use so
/// that a password change or a deleted user invalidates them at once.
package struct TokenService: Sendable {
    /// What a token says.
    package struct Claims: Codable, Sendable, Equatable {
        package var userID: String
        package var projectID: String
        package var issuedAt: Date
        package var expiresAt: Date

        enum CodingKeys: String, CodingKey {
            case userID = "u"
            case projectID = "p"
            case issuedAt = "i"
            case expiresAt = "e"
        }
    }

    package static let lifetime: TimeInterval = 24 * 3600
    private let key: SymmetricKey

    /// - Parameter key: the token signing key, derived from the master key.
    package init(key: SymmetricKey) {
        self.key = key
    }

    /// A new token for `userID` scoped to `projectID`.
    package func issue(userID: String, projectID: String, now: Date) throws -> (token: String, claims: Claims) {
        // Millisecond precision: the store keeps password_changed_at in milliseconds.
        let issued = WireTime.date(epochMilliseconds: WireTime.epochMilliseconds(now))
        let claims = Claims(userID: userID, projectID: projectID, issuedAt: issued, expiresAt: issued.addingTimeInterval(Self.lifetime))
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .millisecondsSince1970
        let payload = Self.base64URL(try encoder.encode(claims))
        let mac = HMAC<SHA256>.authenticationCode(for: Data(payload.utf8), using: self.key)
        return ("MII" + payload + "." + Self.base64URL(Data(mac)), claims)
    }

    /// The claims of an authentic token, whatever its age; nil when it was not issued by this key.
    package func verify(_ token: String) -> Claims? {
        guard token.hasPrefix("MII") else { return nil }
        let body = token.dropFirst(3)
        let parts = body.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2, let mac = Self.unbase64URL(String(parts[1])),
            HMAC<SHA256>.isValidAuthenticationCode(mac, authenticating: Data(parts[0].utf8), using: self.key),
            let payload = Self.unbase64URL(String(parts[0]))
        else { return nil }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .millisecondsSince1970
        return try? decoder.decode(Claims.self, from: payload)
    }

    private static func base64URL(_ data: Data) -> String {
        data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    private static func unbase64URL(_ text: String) -> Data? {
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.count % 4 != 0 { base64 += "=" }
        return Data(base64Encoded: base64)
    }
}
