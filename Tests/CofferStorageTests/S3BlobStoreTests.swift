import CofferCore
import CofferTestSupport
import Crypto
import Foundation
import NIOCore
import Testing

@testable import CofferStorage

/// The S3 blob store against a real, signature-checking S3 server (SeaweedFS `weed mini`, started per test).
/// Parts are 5 MiB here (S3's minimum) so a multipart upload of several parts stays small.
@Suite("S3 blob store (SeaweedFS)", .serialized, .timeLimit(.minutes(2)))
struct S3BlobStoreTests {
    private static let partSize = S3BlobStore.minimumPartSize

    private func withStore(abandonedUploadAge: TimeInterval = 0, _ body: (S3BlobStore, SeaweedFSServer) async throws -> Void) async throws {
        try await SeaweedFSServer.withServer { server in
            let store = S3BlobStore(client: server.client(), partSize: Self.partSize, readWindow: 1 << 20, abandonedUploadAge: abandonedUploadAge)
            try await body(store, server)
        }
    }

    /// Deterministic, position-dependent bytes (a shifted or repeated part would not match).
    private static func bytes(_ count: Int, seed: Int) -> [UInt8] {
        (0..<count).map { UInt8(truncatingIfNeeded: ($0 &* 31 &+ seed &* 7) ^ ($0 >> 11)) }
    }

    private static func sha256(_ bytes: [UInt8]) -> String { Hex.encode(SHA256.hash(data: bytes)) }

    private func readAll(_ reader: any BlobReader, step: Int) async throws -> [UInt8] {
        var out: [UInt8] = []
        var offset: Int64 = 0
        while true {
            let chunk = try await reader.read(at: offset, upTo: step)
            if chunk.readableBytes == 0 { return out }
            out += chunk.readableBytesView
            offset += Int64(chunk.readableBytes)
        }
    }

    @Test("A small blob: one PUT at commit, invisible before, ranged reads, exists, delete")
    func smallRoundTrip() async throws {
        try await self.withStore { store, _ in
            let key = "dcs/p/i/small.rdb"
            let data = Self.bytes(300_000, seed: 1)
            let writer = try await store.makeWriter(key: key)
            for start in stride(from: 0, to: data.count, by: 70_000) {
                try await writer.write(contentsOf: data[start..<min(start + 70_000, data.count)])
            }
            #expect(!(await store.exists(key: key)))
            let info = try await writer.commit()
            #expect(info == BlobInfo(key: key, size: Int64(data.count), sha256: Self.sha256(data)))
            #expect(await store.exists(key: key))
            let reader = try #require(try await store.open(key: key))
            #expect(reader.size == Int64(data.count))
            #expect(Array(try await reader.read(at: 123_456, upTo: 10).readableBytesView) == Array(data[123_456..<123_466]))
            #expect(try await reader.read(at: Int64(data.count) - 3, upTo: 100).readableBytes == 3)
            #expect(try await reader.read(at: Int64(data.count), upTo: 100).readableBytes == 0)
            #expect(try await self.readAll(reader, step: 65_536) == data)
            reader.close()
            await #expect(throws: S3Error.self) { try await reader.read(at: 0, upTo: 1) }
            // Keys are never replaced.
            await #expect(throws: S3Error.exists(key: key)) { try await store.makeWriter(key: key) }
            try await store.delete(key: key)
            try await store.delete(key: key)
            #expect(!(await store.exists(key: key)))
            #expect(try await store.open(key: key) == nil)
            // An empty blob is a blob.
            let empty = try await store.makeWriter(key: "empty")
            #expect(try await empty.commit().size == 0)
            #expect(try await store.open(key: "empty")?.size == 0)
        }
    }

    @Test("A PUT that finds its own bytes already stored (a retry after a lost answer) succeeds; other bytes are refused")
    func putFindsItsOwnObject() async throws {
        try await self.withStore { _, server in
            let client = server.client()
            let body = ByteBuffer(bytes: Self.bytes(100_000, seed: 5))
            try await client.put(key: "retried", body: body)
            // What a retry sends after the first attempt was stored: the same call again.
            try await client.put(key: "retried", body: body)
            await #expect(throws: S3Error.exists(key: "retried")) {
                try await client.put(key: "retried", body: ByteBuffer(bytes: Self.bytes(100_000, seed: 6)))
            }
            #expect(try await client.head(key: "retried") == 100_000)
        }
    }

    @Test("A multipart blob of 4 parts: nothing visible until Complete; SHA-256 over the stream; any range reads back")
    func multipartRoundTrip() async throws {
        try await self.withStore { store, server in
            let key = "ddm/b1/node-1.sql.zst"
            let data = Self.bytes(3 * Self.partSize + 1_234_567, seed: 2)
            let writer = try await store.makeWriter(key: key)
            for start in stride(from: 0, to: data.count, by: 1 << 20) {
                try await writer.write(contentsOf: data[start..<min(start + (1 << 20), data.count)])
            }
            let pending = try await server.client().listMultipartUploads()
            #expect(pending.map(\.key) == [key])
            #expect(!(await store.exists(key: key)))
            let info = try await writer.commit()
            #expect(info.size == Int64(data.count))
            #expect(info.sha256 == Self.sha256(data))
            #expect(try await server.client().listMultipartUploads().isEmpty)
            let reader = try #require(try await store.open(key: key))
            #expect(reader.size == Int64(data.count))
            // Across a part boundary, then jumping back.
            let boundary = Self.partSize - 5
            #expect(Array(try await reader.read(at: Int64(boundary), upTo: 10).readableBytesView) == Array(data[boundary..<boundary + 10]))
            #expect(Array(try await reader.read(at: 7, upTo: 9).readableBytesView) == Array(data[7..<16]))
            #expect(try await self.readAll(reader, step: 256 * 1024) == data)
        }
    }

    @Test("Abort (and a failed writer) leaves no object and no pending upload")
    func abort() async throws {
        try await self.withStore { store, server in
            let writer = try await store.makeWriter(key: "aborted")
            try await writer.write(contentsOf: Self.bytes(2 * Self.partSize + 10, seed: 3))
            #expect(try await server.client().listMultipartUploads().count == 1)
            await writer.abort()
            await writer.abort()
            await #expect(throws: S3Error.finished) { try await writer.commit() }
            await #expect(throws: S3Error.finished) { try await writer.write(contentsOf: [1]) }
            #expect(!(await store.exists(key: "aborted")))
            #expect(try await server.client().listMultipartUploads().isEmpty)
            // A small one aborted before any part: nothing was ever sent.
            let small = try await store.makeWriter(key: "aborted-small")
            try await small.write(contentsOf: [1, 2, 3])
            await small.abort()
            #expect(!(await store.exists(key: "aborted-small")))
        }
    }

    @Test("Wrong credentials or no server: S3 errors (403, no answer), never a crash")
    func failures() async throws {
        try await self.withStore { store, server in
            let tampered = S3BlobStore(
                client: server.client(credentials: S3Credentials(accessKeyID: SeaweedFSServer.accessKey, secretAccessKey: "not-the-secret")),
                partSize: Self.partSize)
            // HEAD answers have no body: just the status.
            await #expect(throws: S3Error.service(operation: "HEAD object", status: 403, code: "Forbidden", message: "")) {
                try await tampered.makeWriter(key: "x")
            }
            do {
                try await tampered.client.put(key: "x", body: ByteBuffer(string: "data"))
                Issue.record("a wrong secret was accepted")
            } catch let S3Error.service(_, status, code, _) {
                #expect(status == 403)
                #expect(code == "SignatureDoesNotMatch")
            }
            let unknown = S3BlobStore(client: server.client(credentials: S3Credentials(accessKeyID: "NOSUCHKEY", secretAccessKey: "x")))
            await #expect(throws: S3Error.self) { try await unknown.open(key: "x") }
            #expect(!(await unknown.exists(key: "x")))
            // A writer whose credentials are refused fails at its first part or at commit; no object appears.
            let writer = S3BlobWriter(client: tampered.client, key: "refused", basePartSize: Self.partSize, live: LiveUploads())
            try? await writer.write(contentsOf: Self.bytes(Self.partSize + 1, seed: 4))
            await #expect(throws: S3Error.self) { try await writer.commit() }
            await writer.abort()
            #expect(!(await store.exists(key: "refused")))
            let message = "\(S3Error.service(operation: "PUT object", status: 403, code: "SignatureDoesNotMatch", message: ""))"
            #expect(!message.contains("not-the-secret"))
            // Nothing listens: a transport error after the retries.
            let port = try FreePort.next()
            let nowhere = S3BlobStore(
                client: S3Client(
                    location: S3Location(bucket: "b-b", scheme: "http", host: "127.0.0.1", port: port, region: "us-east-1"),
                    credentials: S3Credentials(accessKeyID: "a", secretAccessKey: "b")))
            let started = ContinuousClock.now
            do {
                _ = try await nowhere.makeWriter(key: "x")
                Issue.record("no server, yet a writer")
            } catch let error as S3Error {
                guard case .transport = error else { Issue.record("expected a transport error, got \(error)"); return }
            }
            // Three attempts of at most 3 s each, not the request time-outs.
            #expect(ContinuousClock.now - started < .seconds(15))
        }
    }

    @Test("The sweep aborts uploads left by dead writers, not live ones, and only past the age")
    func sweep() async throws {
        try await self.withStore(abandonedUploadAge: 0) { store, server in
            // A crashed writer's upload: created and given a part, then forgotten.
            let client = server.client()
            let orphan = try await client.createMultipartUpload(key: "orphan")
            _ = try await client.uploadPart(key: "orphan", uploadID: orphan, number: 1, body: ByteBuffer(bytes: Self.bytes(1000, seed: 5)))
            let live = try await store.makeWriter(key: "live")
            try await live.write(contentsOf: Self.bytes(Self.partSize + 1, seed: 6))
            #expect(try await client.listMultipartUploads().count == 2)
            // Not old enough yet (S3's clock says it started just now).
            #expect(try await store.sweepAbandonedWrites(olderThan: 3600, now: Date()) == 0)
            #expect(try await store.sweepAbandonedWrites(olderThan: 0, now: Date().addingTimeInterval(60)) == 1)
            #expect(try await client.listMultipartUploads().map(\.key) == ["live"])
            _ = try await live.commit()
            #expect(await store.exists(key: "live"))
            #expect(try await store.sweepAbandonedWrites(olderThan: 0, now: Date().addingTimeInterval(60)) == 0)
            // A store's own minimum age wins over the caller's.
            let cautious = S3BlobStore(client: client, partSize: Self.partSize, abandonedUploadAge: 3600)
            _ = try await client.createMultipartUpload(key: "recent")
            #expect(try await cautious.sweepAbandonedWrites(olderThan: 0, now: Date().addingTimeInterval(60)) == 0)
        }
    }

    @Test("Concurrent writers to distinct keys each get their own bytes")
    func concurrentWriters() async throws {
        try await self.withStore { store, _ in
            let sizes = [100, Self.partSize + 17, 2 * Self.partSize + 3, 700_000]
            try await withThrowingTaskGroup(of: Void.self) { group in
                for (index, size) in sizes.enumerated() {
                    group.addTask {
                        let data = Self.bytes(size, seed: 10 + index)
                        let writer = try await store.makeWriter(key: "concurrent/\(index)")
                        for start in stride(from: 0, to: data.count, by: 300_000) {
                            try await writer.write(contentsOf: data[start..<min(start + 300_000, data.count)])
                        }
                        let info = try await writer.commit()
                        #expect(info.sha256 == Self.sha256(data))
                        let reader = try #require(try await store.open(key: "concurrent/\(index)"))
                        #expect(try await self.readAll(reader, step: 1 << 20) == data)
                    }
                }
                try await group.waitForAll()
            }
        }
    }
}

@Suite("S3 blob store: part sizes and URLs")
struct S3BlobStorePlanTests {
    @Test("10,000 parts hold at least 5 TiB, no part above 5 GiB, all parts of a group equal")
    func partSizes() {
        let base = S3BlobStore.defaultPartSize
        var total: Int64 = 0
        var largest = 0
        for number in 1...S3BlobWriter.maxParts {
            let size = S3BlobWriter.partSize(number: number, base: base)
            total += Int64(size)
            largest = max(largest, size)
        }
        #expect(total >= 5 << 40)
        #expect(largest <= 5 << 30)
        #expect(S3BlobWriter.partSize(number: 1, base: base) == 8 << 20)
        #expect(S3BlobWriter.partSize(number: 1000, base: base) == 8 << 20)
        #expect(S3BlobWriter.partSize(number: 1001, base: base) == 16 << 20)
    }

    @Test("--blobs URLs: the parts, defaults, and clear errors")
    func urls() throws {
        let location = try S3Location(url: "s3://coffer-backups?endpoint=http://s3.internal:8333&region=cn-north-4")
        #expect(location == S3Location(bucket: "coffer-backups", scheme: "http", host: "s3.internal", port: 8333, region: "cn-north-4"))
        #expect(location.hostHeader == "s3.internal:8333")
        #expect(location.path(for: "dcs/a b") == "/coffer-backups/dcs/a%20b")
        let virtual = try S3Location(url: "s3://bkt?endpoint=https://obs.example.com:443&style=virtual")
        #expect(virtual.region == "us-east-1")
        #expect(virtual.hostHeader == "bkt.obs.example.com")
        #expect(virtual.path(for: "k") == "/k")
        for bad in [
            "s3://bucket", "s3://?endpoint=http://h", "http://bucket?endpoint=http://h", "s3://Bad_Bucket?endpoint=http://h",
            "s3://bucket?endpoint=ftp://h", "s3://bucket?endpoint=http://h&colour=red", "s3://bucket/prefix?endpoint=http://h",
            "s3://bucket?endpoint=http://h&style=odd",
        ] {
            #expect(throws: S3LocationError.self, "\(bad)") { try S3Location(url: bad) }
        }
        // --blobs: the default, file://, s3:// with credentials from the environment (required), anything else refused.
        #expect(try BlobStoreURL(nil, dataDirectory: "/d", environment: [:]) == .file(root: "/d/blobs"))
        #expect(try BlobStoreURL("file:///srv/blobs", dataDirectory: "/d", environment: [:]) == .file(root: "/srv/blobs"))
        let keys = ["AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b"]
        #expect(
            try BlobStoreURL("s3://bucket?endpoint=http://h", dataDirectory: "/d", environment: keys)
                == .s3(S3Location(bucket: "bucket", scheme: "http", host: "h", port: nil, region: "us-east-1"), S3Credentials(accessKeyID: "a", secretAccessKey: "b")))
        #expect(throws: S3LocationError.self) { try BlobStoreURL("s3://bucket?endpoint=http://h", dataDirectory: "/d", environment: [:]) }
        #expect(throws: S3LocationError.self) { try BlobStoreURL("s3://bucket", dataDirectory: "/d", environment: keys) }
        for bad in ["gs://bucket", "file://", "file://srv?x=1", "/srv/blobs"] {
            #expect(throws: BlobStoreURLError.self, "\(bad)") { try BlobStoreURL(bad, dataDirectory: "/d", environment: keys) }
        }
    }

    @Test("Keys outside the safe set are refused before any request")
    func keys() {
        for key in ["", "/a", "a//b", "a/../b", "a b", "a?b", "a/"] {
            #expect(throws: S3Error.invalidKey(key)) { try S3BlobStore.check(key) }
        }
        #expect(throws: Never.self) { try S3BlobStore.check("dcs/p-1/i_2/x.rdb") }
    }
}
