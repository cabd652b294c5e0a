import Crypto
import Foundation

/// The server's root secret, kept outside the database in `<data-dir>/master.key` (mode 0600).
///
/// Every other key is derived from it: the secret box, token signatures, download-link signatures.
/// Servers sharing one PostgreSQL database must share this file.
package struct MasterKey: Sendable {
    private let bytes: SymmetricKey

    package init(_ key: SymmetricKey) {
        self.bytes = key
    }

    /// A fresh random key (tests, and the first start).
    package static func random() -> MasterKey { MasterKey(SymmetricKey(size: .bits256)) }

    /// Reads the key file, creating it with mode 0600 when missing. `O_EXCL` makes concurrent first starts agree.
    package static func loadOrCreate(at path: String) throws -> MasterKey {
        if let existing = try? String(contentsOfFile: path, encoding: .utf8) {
            guard let data = Data(base64Encoded: existing.trimmingCharacters(in: .whitespacesAndNewlines)), data.count == 32 else {
                throw StorageError.corrupt("\(path) does not hold a base64 32-byte key")
            }
            return MasterKey(SymmetricKey(data: data))
        }
        let key = SymmetricKey(size: .bits256)
        let text = key.withUnsafeBytes { Data($0).base64EncodedString() } + "\n"
        try FileSystem.writeNew(path: path, contents: Data(text.utf8), mode: 0o600)
        return MasterKey(key)
    }

    /// A key for one purpose, derived with HKDF-SHA256 so that purposes never share key material.
    package func derive(purpose: String) -> SymmetricKey {
        HKDF<SHA256>.deriveKey(inputKeyMaterial: self.bytes, info: Data(purpose.utf8), outputByteCount: 32)
    }
}
