import CofferCore
import CofferJobs
import CofferRedis
import CofferServer
import CofferStorage
import CofferTestSupport
import Foundation
import HTTPTypes
import NIOCore
import Testing

/// DCS backups with `--blobs s3://…` (SeaweedFS): the backup, download and delete paths are the file store's,
/// and an S3 failure ends the backup `failed` with the storage code.
@Suite("DCS backups into S3 (SeaweedFS)", .serialized, .timeLimit(.minutes(3)))
struct S3BackupTests {
    @Test("Backup into S3, download through Coffer (whole and ranged, byte-identical), delete removes the object")
    func roundTrip() async throws {
        try await SeaweedFSServer.withServer { s3 in
            try await RedisServer.withServer(password: "redis-pw", extraArguments: DCSBackupTests.redisArguments(diskless: "yes")) { redis in
                let writer = try await redis.connect()
                try await RedisDataset.populate(writer, scale: 300)
                await writer.close()
                try await TestServer.run(configure: { $0.blobs = try? BlobStoreURL(s3.url, dataDirectory: "/unused", environment: Self.keys) }) { server in
                    #expect(server.parts.store.blobs is S3BlobStore)
                    let instanceID = try await DCSBackupTests.adopt(server, redis)
                    let backupID = try #require(try await DCSBackupTests.requestBackup(server, instanceID).json["backup_id"] as? String)
                    let job = try #require(try await server.parts.worker.runOnce())
                    #expect(job.status == .succeeded)
                    let record = try await DCSBackupTests.record(server, instanceID, backupID)
                    #expect(record["status"] as? String == "succeed")
                    let size = try #require(record["size"] as? Int)
                    let key = "dcs/\(server.projectID)/\(instanceID)/\(backupID).rdb"
                    // The object in the bucket is the file Coffer recorded.
                    let stored = try #require(try await s3.client().head(key: key))
                    #expect(stored == Int64(size))
                    #expect(!FileManager.default.fileExists(atPath: server.dataDirectory + "/blobs/objects/" + key))

                    let links = try await server.signed(
                        .post, "/v2/\(server.projectID)/instances/\(instanceID)/backups/\(backupID)/links", json: #"{"expiration": 600}"#)
                    let link = try #require((links.json["links"] as? [[String: Any]])?.first?["link"] as? String)
                    let path = String(link.dropFirst("http://localhost".count))
                    let download = try await server.raw(.get, path)
                    #expect(download.status == .ok)
                    #expect(download.body.readableBytes == size)
                    let directory = try TemporaryDirectory(prefix: "coffer-s3-download")
                    defer { directory.remove() }
                    try Data(download.body.readableBytesView).write(to: directory.file("backup.rdb"))
                    let check = try ProcessRunner.run("redis-check-rdb", [directory.file("backup.rdb").path])
                    #expect(check.status == 0, "\(check.output)")
                    let partial = try await server.raw(.get, path, headers: [.range: "bytes=0-8"])
                    #expect(partial.status == .partialContent)
                    #expect(String(buffer: partial.body).hasPrefix("REDIS00"))

                    #expect(try await server.signed(.delete, "/v2/\(server.projectID)/instances/\(instanceID)/backups/\(backupID)").status == .noContent)
                    let removal = try #require(try await server.parts.worker.runOnce())
                    #expect(removal.kind == "dcs.backup.delete" && removal.status == .succeeded)
                    #expect(try await s3.client().head(key: key) == nil)
                }
            }
        }
    }

    @Test("Wrong S3 credentials: the backup ends failed with dcs.08.0005, nothing in the bucket")
    func refusedCredentials() async throws {
        try await SeaweedFSServer.withServer { s3 in
            try await RedisServer.withServer(extraArguments: DCSBackupTests.redisArguments(diskless: "yes")) { redis in
                let wrong = ["AWS_ACCESS_KEY_ID": SeaweedFSServer.accessKey, "AWS_SECRET_ACCESS_KEY": "not-the-secret"]
                try await TestServer.run(configure: { $0.blobs = try? BlobStoreURL(s3.url, dataDirectory: "/unused", environment: wrong) }) { server in
                    let instanceID = try await DCSBackupTests.adopt(server, redis)
                    let backupID = try #require(try await DCSBackupTests.requestBackup(server, instanceID).json["backup_id"] as? String)
                    // The blob sweep queued at start fails too (its listing is refused) and is queued again: skip it.
                    var job = try #require(try await server.parts.worker.runOnce())
                    for _ in 0..<5 where job.kind == "blob.sweep" { job = try #require(try await server.parts.worker.runOnce()) }
                    #expect(job.kind == "dcs.backup")
                    #expect(job.status != .succeeded)
                    let record = try await DCSBackupTests.record(server, instanceID, backupID)
                    #expect(record["status"] as? String == "failed")
                    #expect(record["error_code"] as? String == "dcs.08.0005")
                    #expect(try await s3.client().listMultipartUploads().isEmpty)
                    #expect(try await s3.client().head(key: "dcs/\(server.projectID)/\(instanceID)/\(backupID).rdb") == nil)
                }
            }
        }
    }

    static let keys = ["AWS_ACCESS_KEY_ID": SeaweedFSServer.accessKey, "AWS_SECRET_ACCESS_KEY": SeaweedFSServer.secretKey]
}
