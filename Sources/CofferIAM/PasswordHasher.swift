import CofferCore
import Crypto
import CryptoExtras
import Foundation

/// Password hashing with PBKDF2-HMAC-SHA256, a slow KDF from swift-crypto.
///
/// Stored form: `pbkdf2-sha256$<iterations>$<salt base64>$<hash base64>`, so the cost can be raised
/// later without invalidating existing hashes.
package struct PasswordHasher: Sendable {
    package var iterations: Int

    /// 210 000 iterations: OWASP's 2023 floor for PBKDF2-HMAC-SHA512-equivalent work; tests may lower it.
    package init(iterations: Int = 210_000) {
        self.iterations = iterations
    }

    package func hash(_ password: String) throws -> String {
        var salt = [UInt8](repeating: 0, count: 16)
        var generator = SystemRandomNumberGenerator()
        for i in salt.indices { salt[i] = UInt8.random(in: 0...255, using: &generator) }
        let key = try Self.derive(password, salt: salt, iterations: self.iterations)
        return "pbkdf2-sha256$\(self.iterations)$\(Data(salt).base64EncodedString())$\(key.base64EncodedString())"
    }

    package func verify(_ password: String, against stored: String) -> Bool {
        let parts = stored.split(separator: "$")
        guard parts.count == 4, parts[0] == "pbkdf2-sha256", let iterations = Int(parts[1]), iterations > 0,
            let salt = Data(base64Encoded: String(parts[2])), let expected = Data(base64Encoded: String(parts[3])),
            let actual = try? Self.derive(password, salt: Array(salt), iterations: iterations)
        else { return false }
        return ConstantTime.equals(actual, expected)
    }

    private static func derive(_ password: String, salt: [UInt8], iterations: Int) throws -> Data {
        let key = try KDF.Insecure.PBKDF2.deriveKey(
            from: Data(password.utf8), salt: salt, using: .sha256, outputByteCount: 32, unsafeUncheckedRounds: iterations)
        return key.withUnsafeBytes { Data($0) }
    }
}
