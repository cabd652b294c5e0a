import CofferIAM
import Crypto
import Foundation
import Testing

@Suite("Passwords and tokens")
struct PasswordAndTokenTests {
    @Test("PBKDF2 hashes verify the right password only, with a fresh salt each time")
    func passwordHashing() throws {
        let hasher = PasswordHasher(iterations: 1000)
        let first = try hasher.hash("correct horse")
        let second = try hasher.hash("correct horse")
        #expect(first != second)
        #expect(first.hasPrefix("pbkdf2-sha256$1000$"))
        #expect(hasher.verify("correct horse", against: first))
        #expect(!hasher.verify("correct hors", against: first))
        #expect(!hasher.verify("correct horse", against: "pbkdf2-sha256$x$y$z"))
    }

    @Test("The default cost is the one documented")
    func defaultCost() {
        #expect(PasswordHasher().iterations == 210_000)
    }

    @Test("Tokens carry their claims, expire after 24 h, and are bound to the key")
    func tokens() throws {
        let service = TokenService(key: SymmetricKey(size: .bits256))
        let now = Date(timeIntervalSince1970: 1_700_000_000.123)
        let (token, claims) = try service.issue(userID: "u1", projectID: "p1", now: now)
        #expect(token.hasPrefix("MII"))
        #expect(claims.expiresAt.timeIntervalSince(claims.issuedAt) == 24 * 3600)
        #expect(service.verify(token) == claims)
        #expect(TokenService(key: SymmetricKey(size: .bits256)).verify(token) == nil)
        var tampered = Array(token)
        tampered[5] = tampered[5] == "A" ? "B" : "A"
        #expect(service.verify(String(tampered)) == nil)
        #expect(service.verify("not a token") == nil)
    }
}
