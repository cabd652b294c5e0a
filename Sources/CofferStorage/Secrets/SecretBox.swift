import Crypto
import Foundation

/// Encrypts secrets at rest (secret keys, Redis and MySQL passwords) with AES-GCM under a key derived
/// from the server's master key, so that a copy of the database alone discloses nothing.
package struct SecretBox: Sendable {
    private let key: SymmetricKey

    /// - Parameter masterKey: the 32-byte master key; the sealing key is derived from it with HKDF.
    package init(masterKey: MasterKey) {
        self.key = masterKey.derive(purpose: "coffer-secret-box-v1")
    }

    /// `v1:` + base64(nonce ‖ ciphertext ‖ tag).
    package func seal(_ plaintext: String) throws -> String {
        let box = try AES.GCM.seal(Data(plaintext.utf8), using: self.key)
        guard let combined = box.combined else { throw StorageError.corrupt("AES-GCM produced no combined form") }
        return "v1:" + combined.base64EncodedString()
    }

    package func open(_ sealed: String) throws -> String {
        guard sealed.hasPrefix("v1:"), let data = Data(base64Encoded: String(sealed.dropFirst(3))) else {
            throw StorageError.corrupt("sealed secret has an unknown format")
        }
        do {
            let plaintext = try AES.GCM.open(AES.GCM.SealedBox(combined: data), using: self.key)
            return String(decoding: plaintext, as: UTF8.self)
        } catch {
            throw StorageError.corrupt("a stored secret cannot be decrypted with this master key (was master.key replaced?)")
        }
    }
}
