import CofferCore
import CofferIAM
import Crypto
import Foundation
import Synchronization

/// The console's session: the IAM token in an HttpOnly, SameSite=Strict cookie, a CSRF token derived from it,
/// and the tokens logged out of the console.
///
/// The CSRF token is an HMAC of the session token under a key of its own, so it is per session, needs no
/// storage and cannot be made by a page that cannot read the HttpOnly cookie. Logging out revokes the token for
/// the console (tokens are self-contained and live 24 hours; the API keeps accepting one until it expires, as
/// Huawei's IAM does). The revocations live in this process: with several nodes, a logged-out token still opens
/// the console on the other nodes until it expires (see docs/architecture.md).
final class ConsoleSession: Sendable {
    /// The cookie's name; its path is `/console`, so the API never sees it.
    static let cookieName = "coffer_console"
    /// The form field (and header) that carries the CSRF token on every state-changing request.
    static let csrfField = "csrf_token"

    private let csrfKey: SymmetricKey
    /// SHA-256 of a logged-out token → when the token expires anyway (then it is forgotten).
    private let revoked = Mutex<[Data: Date]>([:])

    init(csrfKey: SymmetricKey) {
        self.csrfKey = csrfKey
    }

    /// The session token from a `Cookie` header, when the console's cookie is there.
    static func token(cookieHeader: String?) -> String? {
        guard let cookieHeader else { return nil }
        for pair in cookieHeader.split(separator: ";") {
            let parts = pair.split(separator: "=", maxSplits: 1)
            if parts.count == 2, parts[0].trimmingCharacters(in: .whitespaces) == Self.cookieName {
                let value = parts[1].trimmingCharacters(in: .whitespaces)
                return value.isEmpty ? nil : value
            }
        }
        return nil
    }

    /// The `Set-Cookie` value that starts a session. `Secure` only when the client came over TLS (through a
    /// proxy that says so): on plain loopback HTTP a Secure cookie would never come back.
    static func setCookie(token: String, secure: Bool) -> String {
        "\(Self.cookieName)=\(token); Path=/console; Max-Age=\(Int(TokenService.lifetime)); HttpOnly; SameSite=Strict"
            + (secure ? "; Secure" : "")
    }

    /// The `Set-Cookie` value that ends it.
    static func clearCookie(secure: Bool) -> String {
        "\(Self.cookieName)=; Path=/console; Max-Age=0; HttpOnly; SameSite=Strict" + (secure ? "; Secure" : "")
    }

    /// The session's CSRF token.
    func csrfToken(for token: String) -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: Data(token.utf8), using: self.csrfKey)
        return Data(mac).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    /// Whether `candidate` is the session's CSRF token (compared in constant time).
    func isValidCSRF(_ candidate: String?, for token: String) -> Bool {
        guard let candidate else { return false }
        let expected = Array(self.csrfToken(for: token).utf8)
        let given = Array(candidate.utf8)
        guard expected.count == given.count else { return false }
        return zip(expected, given).reduce(UInt8(0)) { $0 | ($1.0 ^ $1.1) } == 0
    }

    /// Ends the session for the console: the token no longer opens it.
    func revoke(_ token: String, expiresAt: Date, now: Date) {
        let digest = Data(SHA256.hash(data: Data(token.utf8)))
        self.revoked.withLock { revoked in
            revoked = revoked.filter { $0.value > now }
            revoked[digest] = expiresAt
        }
    }

    /// Whether the token was logged out.
    func isRevoked(_ token: String) -> Bool {
        let digest = Data(SHA256.hash(data: Data(token.utf8)))
        return self.revoked.withLock { $0[digest] != nil }
    }
}
