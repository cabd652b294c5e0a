import CofferCore
import Foundation
import Logging
import SQLKit
import ServiceLifecycle

/// Everything persistent, opened from a data directory: the database, the stores, the blob store and
/// the master key. `coffer serve` and the admin commands open it the same way, so they always agree on
/// where things are.
///
/// The store is a `Service`: its database and blob threads work while `run()` runs. The server runs it
/// first among its services (up first, down last) and migrates in `beforeServerStarts`; the admin CLI
/// and tests use the scoped `withStore`.
package struct CofferStore: Service {
    package let dataDirectory: String
    package let provider: any DatabaseProvider
    package let masterKey: MasterKey
    /// Where the master key came from (`COFFER_MASTER_KEY` or the key file), for the start-up check's message.
    package let masterKeySource: String
    package let secrets: SecretBox
    package let identities: any IdentityStore
    package let dcs: any DCSStore
    package let dcsAutoBackups: any DCSAutoBackupStore
    package let ddm: any DDMStore
    package let binlogs: any BinlogArchiveStore
    package let jobs: any JobStore
    package let leases: any LeaseStore
    package let blobs: any BlobStore
    /// The filesystem store, when that is the blob store: its I/O threads stop with the store.
    private let files: FileBlobStore?

    /// Opens (creating when needed, mode 0700) `dataDirectory`, the database at `databaseURL`
    /// (default `sqlite://<data-dir>/coffer.sqlite`) and the blob store `blobs` (default `<data-dir>/blobs`).
    /// Not migrated and not running yet: run `run()`, then `migrate(logger:)`.
    package static func open(
        dataDirectory: String, databaseURL: String?, blobs: BlobStoreURL? = nil, logger: Logger,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) async throws -> CofferStore {
        try FileManager.default.createDirectory(atPath: dataDirectory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let (masterKey, source) = try MasterKey.load(keyFile: dataDirectory + "/master.key", environment: environment)
        let url = databaseURL ?? "sqlite://" + (dataDirectory as NSString).appendingPathComponent("coffer.sqlite")
        let provider = try await DatabaseURL.open(url, logger: logger)
        return try Self(dataDirectory: dataDirectory, provider: provider, masterKey: masterKey, masterKeySource: source, blobs: blobs)
    }

    /// Opens the store, runs it for the duration of `body` with migrations applied, then stops it.
    package static func withStore<R>(
        dataDirectory: String, databaseURL: String?, logger: Logger, isolation: isolated (any Actor)? = #isolation,
        _ body: (CofferStore) async throws -> R
    ) async throws -> R {
        let store = try await Self.open(dataDirectory: dataDirectory, databaseURL: databaseURL, logger: logger)
        return try await withRunning(store) {
            try await store.migrate(logger: logger)
            return try await body(store)
        }
    }

    /// Wires the stores over a provider (tests use this with a provider they run themselves).
    package init(
        dataDirectory: String, provider: any DatabaseProvider, masterKey: MasterKey, masterKeySource: String = "given to the store",
        blobs: BlobStoreURL? = nil
    ) throws {
        self.dataDirectory = dataDirectory
        self.provider = provider
        self.masterKey = masterKey
        self.masterKeySource = masterKeySource
        self.secrets = SecretBox(masterKey: masterKey)
        self.identities = SQLIdentityStore(provider: provider, secrets: self.secrets)
        self.dcs = SQLDCSStore(provider: provider, secrets: self.secrets)
        self.dcsAutoBackups = SQLDCSAutoBackupStore(provider: provider)
        self.ddm = SQLDDMStore(provider: provider, secrets: self.secrets)
        self.binlogs = SQLBinlogArchiveStore(provider: provider)
        self.jobs = SQLJobStore(provider: provider)
        self.leases = SQLLeaseStore(provider: provider)
        switch blobs ?? .file(root: dataDirectory + "/blobs") {
        case .file(let root):
            let files = try FileBlobStore(root: root)
            self.files = files
            self.blobs = files
        case .s3(let location, let credentials):
            self.files = nil
            self.blobs = S3BlobStore(client: S3Client(location: location, credentials: credentials))
        }
    }

    /// Runs the database until graceful shutdown or cancellation, then stops the blob I/O threads.
    package func run() async throws {
        do {
            try await self.provider.run()
        } catch {
            await self.files?.close()
            throw error
        }
        await self.files?.close()
    }

    /// Applies pending migrations, then checks the master key against the one the database was set up with
    /// (stored at the first start); needs `run()` running.
    /// - Throws: `StorageError.masterKeyMismatch` when the keys differ: this node must not start.
    package func migrate(logger: Logger) async throws {
        _ = try await Migrations.apply(on: self.provider, logger: logger)
        try await MasterKeyCheck.verify(self.masterKey, provider: self.provider, keySource: self.masterKeySource)
    }

    /// Delivers PostgreSQL job notifications (other nodes' enqueues) to `ring`; nil on SQLite (one node).
    package func jobNotifications(ring: @escaping @Sendable () -> Void, logger: Logger) -> JobNotificationListener? {
        guard let postgres = self.provider as? PostgresProvider else { return nil }
        return JobNotificationListener(provider: postgres, ring: ring, logger: logger)
    }

    /// A trivial query: whether the database answers (health checks).
    package func ping() async throws {
        try await self.provider.withDatabase { db in try await db.raw("SELECT 1").run() }
    }
}
