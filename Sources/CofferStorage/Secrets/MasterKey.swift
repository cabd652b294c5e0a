import Crypto
import Foundation

/// The server's root secret, kept outside the database in `<data-dir>/master.key` (mode 0600).
///
/// Every other key is derived from it: the secret box, token signatures, download-link signatures.
/// Servers sharing one PostgreSQL database must share this file (or `COFFER_MASTER_KEY`); the database keeps a
/// check value (`MasterKeyCheck`) so that a node with another key refuses to start.
package struct MasterKey: Sendable {
    private let bytes: SymmetricKey

    package init(_ key: SymmetricKey) {
        self.bytes = key
    }

    /// A fresh random key (tests, and the first start).
    package static func random() -> MasterKey { MasterKey(SymmetricKey(size: .bits256)) }

    /// The environment variable that gives the key instead of `<data-dir>/master.key`: base64 of 32 bytes, the
    /// file's own format (`base64 -w0 master.key` is not needed: the file's text is the value).
    package static let environmentVariable = "COFFER_MASTER_KEY"

    /// The key from `COFFER_MASTER_KEY` when set (no file is read or created then), else from the key file at
    /// `path` (created at the first start). Also says where it came from, for the start-up check's message.
    package static func load(keyFile path: String, environment: [String: String]) throws -> (key: MasterKey, source: String) {
        if let text = environment[Self.environmentVariable], !text.isEmpty {
            guard let key = Self.parse(base64: text) else {
                throw StorageError.corrupt("\(Self.environmentVariable) does not hold a base64 32-byte key")
            }
            return (key, "from \(Self.environmentVariable)")
        }
        return (try Self.loadOrCreate(at: path), "from \(path)")
    }

    /// A key from base64 text of exactly 32 bytes (surrounding whitespace allowed).
    package static func parse(base64 text: String) -> MasterKey? {
        guard let data = Data(base64Encoded: text.trimmingCharacters(in: .whitespacesAndNewlines)), data.count == 32 else { return nil }
        return MasterKey(SymmetricKey(data: data))
    }

    /// Reads the key file, creating it with mode 0600 when missing. `O_EXCL` makes concurrent first starts agree.
    package static func loadOrCreate(at path: String) throws -> MasterKey {
        if let existing = try? String(contentsOfFile: path, encoding: .utf8) {
            guard let key = Self.parse(base64: existing) else { throw StorageError.corrupt("\(path) does not hold a base64 32-byte key") }
            return key
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
