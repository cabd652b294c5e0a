import CofferCore
import CofferStorage
import CofferTestSupport
import Foundation

/// Builds stores over a test database, with sample rows.
enum StoreFixtures {
    static func withStore<R: Sendable>(_ database: TestDatabase, _ body: (CofferStore) async throws -> R) async throws -> R {
        try await database.withProvider { provider in
            let directory = try TemporaryDirectory(prefix: "coffer-store")
            defer { directory.remove() }
            return try await body(try CofferStore(dataDirectory: directory.path, provider: provider, masterKey: .random()))
        }
    }

    static func backup(project: String, instance: String, createdAt: Date, status: DCSBackupRecord.Status = .succeed) -> DCSBackupRecord {
        DCSBackupRecord(
            id: Identifiers.uuid(), projectID: project, instanceID: instance, name: "backup_" + WireTime.compact(createdAt),
            backupType: .manual, backupFormat: .rdb, status: status, progress: .complete, size: 880_232, remark: nil,
            errorCode: nil, period: nil, isSupportRestore: true, createdAt: createdAt, updatedAt: createdAt, executionAt: createdAt,
            blobKey: nil, sha256: nil)
    }

    static func instance(project: String, name: String, id: String = Identifiers.uuid(), createdAt: Date = Date()) -> DCSInstance {
        DCSInstance(
            id: id, projectID: project, name: name, engine: "Redis", requestedEngineVersion: "7.0", host: "127.0.0.1",
            port: 6379, accessUser: nil, password: "s3cret-pass", description: nil, status: "RUNNING", capacityGB: 0.125,
            specCode: "redis.ha.xu1.tiny.r2.128", backupPolicy: nil, extra: ["vpc_id": .string("vpc-1")], createdAt: createdAt,
            updatedAt: createdAt)
    }

    /// Inserts a domain, a project, a user in it and one access key; returns them.
    static func account(
        _ store: CofferStore, project name: String, user: String, accessKey: String, secret: String, now: Date
    ) async throws -> (Domain, Project, User) {
        let domain = Domain(id: Identifiers.hex32(), name: "coffer", createdAt: now)
        try await store.identities.insertDomain(domain)
        let project = Project(id: Identifiers.hex32(), domainID: domain.id, name: name, createdAt: now)
        try await store.identities.insertProject(project)
        let account = User(
            id: Identifiers.hex32(), domainID: domain.id, projectID: project.id, name: user, passwordHash: "h", passwordChangedAt: now,
            createdAt: now)
        try await store.identities.insertUser(account)
        try await store.identities.insertAccessKey(AccessKey(accessKey: accessKey, secretKey: secret, userID: account.id, createdAt: now))
        return (domain, project, account)
    }
}
