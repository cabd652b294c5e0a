import Crypto
import Foundation
import SQLKit

/// The master key's check value, stored in the database at the first start and compared at every later start.
///
/// Every node sharing a database must hold the same master key: a node with another key rejects the others'
/// tokens and download links and cannot open the sealed passwords, and would seal new ones nobody else can read.
/// The check value is an HMAC of a constant under a key derived for this purpose only, so it reveals nothing
/// about the key or any other derived key.
package enum MasterKeyCheck {
    static let settingName = "master_key_check"

    /// The check value of `key`: hex HMAC-SHA256 of a constant under the key derived for "coffer-master-key-check-v1".
    package static func value(of key: MasterKey) -> String {
        let code = HMAC<SHA256>.authenticationCode(for: Data("coffer master key check".utf8), using: key.derive(purpose: "coffer-master-key-check-v1"))
        return code.map { String(format: "%02x", $0) }.joined()
    }

    /// Stores the check value when none is stored (first start; concurrent first starts: one wins, the others
    /// compare), then compares. Needs migration 0130.
    /// - Throws: `StorageError.masterKeyMismatch` when the database was set up with another key.
    package static func verify(_ key: MasterKey, provider: any DatabaseProvider, keySource: String, now: Date = Date()) async throws {
        let value = Self.value(of: key)
        let stored = try await provider.withDatabase { db in
            try await db.raw(
                """
                INSERT INTO coffer_settings (name, value, created_at) VALUES (\(bind: Self.settingName), \(bind: value), \(bind: millis(now)))
                ON CONFLICT (name) DO NOTHING
                """
            ).run()
            return try await db.raw("SELECT value FROM coffer_settings WHERE name = \(bind: Self.settingName)").first()?
                .decode(column: "value", as: String.self)
        }
        guard let stored, Self.constantTimeEqual(stored, value) else {
            throw StorageError.masterKeyMismatch(keySource: keySource)
        }
    }

    private static func constantTimeEqual(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8)
        let y = Array(b.utf8)
        guard x.count == y.count else { return false }
        var difference: UInt8 = 0
        for index in x.indices { difference |= x[index] ^ y[index] }
        return difference == 0
    }
}
