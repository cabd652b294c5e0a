import CofferStorage
import CofferTestSupport
import Crypto
import Foundation
import Testing

@Suite("Filesystem blob store")
struct BlobStoreTests {
    private func withStore(_ body: (FileBlobStore, TemporaryDirectory) throws -> Void) throws {
        let directory = try TemporaryDirectory(prefix: "coffer-blobs")
        defer { directory.remove() }
        try body(try FileBlobStore(root: directory.path), directory)
    }

    @Test("A committed blob has its size, SHA-256 and mode 0600; nothing is visible before commit")
    func commit() throws {
        try self.withStore { store, _ in
            let writer = try store.makeWriter(key: "dcs/a/backup.rdb")
            var expected = SHA256()
            var total = 0
            for i in 0..<100 {
                let chunk = [UInt8](repeating: UInt8(i), count: 10_000 + i)
                try writer.write(chunk)
                expected.update(data: chunk)
                total += chunk.count
                #expect(!store.exists(key: "dcs/a/backup.rdb"))
            }
            let info = try writer.commit()
            #expect(info.size == Int64(total))
            #expect(info.sha256 == expected.finalize().map { String(format: "%02x", $0) }.joined())
            let path = try store.path(for: "dcs/a/backup.rdb")
            let mode = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? NSNumber
            #expect(mode?.intValue == 0o600)
            let reader = try #require(try store.open(key: "dcs/a/backup.rdb"))
            #expect(reader.size == Int64(total))
            try reader.seek(to: 10_000)
            #expect(try reader.read(upTo: 3) == Data([1, 1, 1]))
            reader.close()
            #expect(try FileManager.default.contentsOfDirectory(atPath: store.root + "/incoming").isEmpty)
        }
    }

    @Test("Abort, or dropping a writer, leaves nothing behind; existing keys are never replaced")
    func abort() throws {
        try self.withStore { store, _ in
            let writer = try store.makeWriter(key: "x")
            try writer.write([1, 2, 3])
            writer.abort()
            #expect(throws: BlobStoreError.self) { try writer.commit() }
            do {
                let dropped = try store.makeWriter(key: "y")
                try dropped.write([1])
            }
            #expect(!store.exists(key: "x"))
            #expect(!store.exists(key: "y"))
            #expect(try FileManager.default.contentsOfDirectory(atPath: store.root + "/incoming").isEmpty)
            let first = try store.makeWriter(key: "z")
            try first.write([9])
            _ = try first.commit()
            #expect(throws: BlobStoreError.self) { try store.makeWriter(key: "z") }
            try store.delete(key: "z")
            try store.delete(key: "z")
            #expect(!store.exists(key: "z"))
        }
    }

    @Test("Keys cannot escape the store")
    func traversal() throws {
        try self.withStore { store, _ in
            for key in ["../evil", "/etc/passwd", "a/../../b", ""] {
                #expect(throws: BlobStoreError.self) { try store.makeWriter(key: key) }
            }
        }
    }

    @Test("The sweep removes only abandoned temporary files")
    func sweep() throws {
        try self.withStore { store, _ in
            let stale = store.root + "/incoming/crashed.part"
            let fresh = store.root + "/incoming/running.part"
            FileManager.default.createFile(atPath: stale, contents: Data([1]))
            FileManager.default.createFile(atPath: fresh, contents: Data([1]))
            try FileManager.default.setAttributes([.modificationDate: Date().addingTimeInterval(-7200)], ofItemAtPath: stale)
            #expect(try store.sweepAbandonedWrites(olderThan: 3600, now: Date()) == 1)
            #expect(!FileManager.default.fileExists(atPath: stale))
            #expect(FileManager.default.fileExists(atPath: fresh))
        }
    }
}
