import CofferCore
import Foundation
import Logging
import SQLKit

/// Everything persistent, opened from a data directory: the database (migrated), the stores, the
/// blob store and the master key. `coffer serve` and the admin commands open it the same way, so
/// they always agree on where things are.
package struct CofferStore: Sendable {
    package let dataDirectory: String
    package let provider: any DatabaseProvider
    package let masterKey: MasterKey
    package let secrets: SecretBox
    package let identities: any IdentityStore
    package let dcs: any DCSStore
    package let ddm: any DDMStore
    package let jobs: any JobStore
    package let blobs: any BlobStore

    /// Opens (creating when needed, mode 0700) `dataDirectory` and the database at `databaseURL`
    /// (default `sqlite://<data-dir>/coffer.sqlite`), and applies pending migrations.
    package static func open(dataDirectory: String, databaseURL: String?, logger: Logger) async throws -> CofferStore {
        try FileManager.default.createDirectory(atPath: dataDirectory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let masterKey = try MasterKey.loadOrCreate(at: dataDirectory + "/master.key")
        let url = databaseURL ?? "sqlite://" + (dataDirectory as NSString).appendingPathComponent("coffer.sqlite")
        let provider = try await DatabaseURL.open(url, logger: logger)
        do {
            try await Migrations.apply(on: provider, logger: logger)
            return try Self(dataDirectory: dataDirectory, provider: provider, masterKey: masterKey)
        } catch {
            await provider.close()
            throw error
        }
    }

    /// Wires the stores over an open, migrated provider (tests use this with an in-memory database).
    package init(dataDirectory: String, provider: any DatabaseProvider, masterKey: MasterKey) throws {
        self.dataDirectory = dataDirectory
        self.provider = provider
        self.masterKey = masterKey
        self.secrets = SecretBox(masterKey: masterKey)
        self.identities = SQLIdentityStore(provider: provider, secrets: self.secrets)
        self.dcs = SQLDCSStore(provider: provider, secrets: self.secrets)
        self.ddm = SQLDDMStore(provider: provider, secrets: self.secrets)
        self.jobs = SQLJobStore(provider: provider)
        self.blobs = try FileBlobStore(root: dataDirectory + "/blobs")
    }

    /// A trivial query: whether the database answers (health checks).
    package func ping() async throws {
        try await self.provider.withDatabase { db in try await db.raw("SELECT 1").run() }
    }

    package func close() async { await self.provider.close() }
}
