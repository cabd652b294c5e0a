import CofferCore
import CofferTestSupport
import Crypto
import Foundation
import NIOCore
import Synchronization
import Testing

@testable import CofferStorage

@Suite("Filesystem blob store", .timeLimit(.minutes(1)))
struct BlobStoreTests {
    private func withStore(_ body: (FileBlobStore, TemporaryDirectory) async throws -> Void) async throws {
        let directory = try TemporaryDirectory(prefix: "coffer-blobs")
        defer { directory.remove() }
        let store = try FileBlobStore(root: directory.path)
        do {
            try await body(store, directory)
            await store.close()
        } catch {
            await store.close()
            throw error
        }
    }

    private func incoming(_ store: FileBlobStore) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: store.root + "/incoming")
    }

    @Test("A committed blob has its size, SHA-256 and mode 0600; nothing is visible before commit")
    func commit() async throws {
        try await self.withStore { store, _ in
            let writer = try await store.makeWriter(key: "dcs/a/backup.rdb")
            var expected = SHA256()
            var total = 0
            for i in 0..<100 {
                let chunk = [UInt8](repeating: UInt8(i), count: 10_000 + i)
                try await writer.write(contentsOf: chunk)
                expected.update(data: chunk)
                total += chunk.count
                #expect(!(await store.exists(key: "dcs/a/backup.rdb")))
            }
            let info = try await writer.commit()
            #expect(info.size == Int64(total))
            #expect(info.sha256 == expected.finalize().map { String(format: "%02x", $0) }.joined())
            let path = try store.path(for: "dcs/a/backup.rdb")
            let mode = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? NSNumber
            #expect(mode?.intValue == 0o600)
            let reader = try #require(try await store.open(key: "dcs/a/backup.rdb"))
            #expect(reader.size == Int64(total))
            #expect(Array(try await reader.read(at: 10_000, upTo: 3).readableBytesView) == [1, 1, 1])
            #expect(try await reader.read(at: Int64(total) - 2, upTo: 10).readableBytes == 2)
            #expect(try await reader.read(at: Int64(total), upTo: 10).readableBytes == 0)
            reader.close()
            await #expect(throws: BlobStoreError.self) { try await reader.read(at: 0, upTo: 1) }
            #expect(try self.incoming(store).isEmpty)
            #expect(try await store.open(key: "dcs/a/missing.rdb") == nil)
        }
    }

    @Test("flush() puts every byte written so far in the temporary file, publishes nothing, and commit() keeps what follows")
    func flush() async throws {
        try await self.withStore { store, _ in
            let writer = try await store.makeWriter(key: "dcs/a/shard-0.rdb")
            var expected = SHA256()
            // 20 MiB: past the writeback requests the drain makes every `flushAhead` bytes.
            for i in 0..<20 {
                let chunk = [UInt8](repeating: UInt8(i), count: 1 << 20)
                try await writer.write(contentsOf: chunk)
                expected.update(data: chunk)
            }
            try await writer.flush()
            let temporary = try #require(try self.incoming(store).first)
            let flushedSize = try FileManager.default.attributesOfItem(atPath: store.root + "/incoming/" + temporary)[.size] as? NSNumber
            #expect(flushedSize?.intValue == 20 << 20)
            #expect(!(await store.exists(key: "dcs/a/shard-0.rdb")))
            // Bytes after a flush are still taken, hashed and made durable by the commit.
            try await writer.write(contentsOf: [7, 7, 7])
            expected.update(data: [7, 7, 7])
            let info = try await writer.commit()
            #expect(info.size == Int64(20 << 20) + 3)
            #expect(info.sha256 == expected.finalize().map { String(format: "%02x", $0) }.joined())
            let reader = try #require(try await store.open(key: "dcs/a/shard-0.rdb"))
            #expect(Array(try await reader.read(at: Int64(20 << 20) - 1, upTo: 10).readableBytesView) == [19, 7, 7, 7])
            reader.close()
            await #expect(throws: BlobStoreError.self) { try await writer.flush() }
            #expect(try self.incoming(store).isEmpty)
        }
    }

    @Test("Abort, or dropping a writer, leaves nothing behind; existing keys are never replaced")
    func abort() async throws {
        try await self.withStore { store, _ in
            let writer = try await store.makeWriter(key: "x")
            try await writer.write(contentsOf: [1, 2, 3])
            await writer.abort()
            await #expect(throws: BlobStoreError.self) { try await writer.commit() }
            await #expect(throws: BlobStoreError.self) { try await writer.write(contentsOf: [4]) }
            do {
                let dropped = try await store.makeWriter(key: "y")
                try await dropped.write(contentsOf: [1])
            }
            // A dropped writer's file goes when its write in flight (if any) ends.
            let deadline = ContinuousClock.now + .seconds(10)
            while try !self.incoming(store).isEmpty && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(5)) }
            #expect(!(await store.exists(key: "x")))
            #expect(!(await store.exists(key: "y")))
            #expect(try self.incoming(store).isEmpty)
            let first = try await store.makeWriter(key: "z")
            try await first.write(contentsOf: [9])
            _ = try await first.commit()
            await #expect(throws: BlobStoreError.self) { try await store.makeWriter(key: "z") }
            try await store.delete(key: "z")
            try await store.delete(key: "z")
            #expect(!(await store.exists(key: "z")))
        }
    }

    @Test("Keys cannot escape the store")
    func traversal() async throws {
        try await self.withStore { store, _ in
            for key in ["../evil", "/etc/passwd", "a/../../b", ""] {
                await #expect(throws: BlobStoreError.self) { try await store.makeWriter(key: key) }
            }
        }
    }

    @Test("The sweep removes only abandoned temporary files")
    func sweep() async throws {
        try await self.withStore { store, _ in
            let stale = store.root + "/incoming/crashed.part"
            let fresh = store.root + "/incoming/running.part"
            _ = FileManager.default.createFile(atPath: stale, contents: Data([1]))
            _ = FileManager.default.createFile(atPath: fresh, contents: Data([1]))
            try FileManager.default.setAttributes([.modificationDate: Date().addingTimeInterval(-7200)], ofItemAtPath: stale)
            #expect(try await store.sweepAbandonedWrites(olderThan: 3600, now: Date()) == 1)
            #expect(!FileManager.default.fileExists(atPath: stale))
            #expect(FileManager.default.fileExists(atPath: fresh))
        }
    }

    @Test("The sweep removes every temporary file no writer holds, however young, and never a live writer's, however old")
    func sweepByOwnership() async throws {
        try await self.withStore { store, _ in
            // A live writer whose file has gone untouched for two hours (a slow or silent source).
            let live = try await store.makeWriter(key: "live")
            try await live.write(contentsOf: Data("kept".utf8))
            let incoming = store.root + "/incoming"
            let livePart = try #require(try FileManager.default.contentsOfDirectory(atPath: incoming).first)
            try FileManager.default.setAttributes([.modificationDate: Date().addingTimeInterval(-7200)], ofItemAtPath: incoming + "/" + livePart)
            // Twenty files of writers killed a minute ago (kill -9 drops their locks with the process).
            for index in 0..<20 {
                let path = incoming + "/killed-\(index).part"
                _ = FileManager.default.createFile(atPath: path, contents: Data(repeating: 1, count: 1024))
                try FileManager.default.setAttributes([.modificationDate: Date().addingTimeInterval(-60)], ofItemAtPath: path)
            }
            #expect(try await store.sweepAbandonedWrites(olderThan: 10, now: Date()) == 20)
            #expect(try FileManager.default.contentsOfDirectory(atPath: incoming) == [livePart])
            let info = try await live.commit()
            #expect(info.size == 4)
            #expect(try FileManager.default.contentsOfDirectory(atPath: incoming).isEmpty)
        }
    }

    @Test("A write that fails on the disk (ENOSPC from /dev/full) surfaces at a later write and at commit; nothing is published")
    func writeBehindFailure() async throws {
        try await self.withStore { store, directory in
            let full = try #require(try Self.writer(store, key: "full", path: "/dev/full", temporary: directory.path + "/full.part"))
            // More than the in-flight window: write must wait for the drain at some point, and then sees its failure.
            var failure: (any Error)?
            for _ in 0..<(2 * WriteBehindFile.window / 65536 + 2) {
                do {
                    try await full.write(ByteBuffer(repeating: 7, count: 65536))
                } catch {
                    failure = error
                    break
                }
            }
            guard case .io(_, let code)? = failure as? BlobStoreError else {
                Issue.record("expected an I/O failure from a later write, got \(String(describing: failure))")
                return
            }
            #expect(code == ENOSPC)
            await #expect(throws: BlobStoreError.self) { try await full.commit() }
            #expect(!(await store.exists(key: "full")))

            // A single small write returns before the disk refuses it: commit reports the failure.
            let late = try #require(try Self.writer(store, key: "late", path: "/dev/full", temporary: directory.path + "/late.part"))
            try? await late.write(contentsOf: [1, 2, 3])
            do {
                _ = try await late.commit()
                Issue.record("commit published a blob whose write failed")
            } catch BlobStoreError.io(_, let code) {
                #expect(code == ENOSPC)
            }
            #expect(!(await store.exists(key: "late")))
        }
    }

    @Test("64 MiB written into blocking files (FIFOs nobody reads yet) leave the cooperative pool free: another task keeps ticking")
    func cooperativePoolStaysFree() async throws {
        try await self.withStore { store, directory in
            // As many writers as the cooperative pool has threads: blocking writes would take every one of them.
            let count = max(2, ProcessInfo.processInfo.activeProcessorCount)
            let total = 64 << 20
            var readEnds: [Int32] = []
            var writers: [FileBlobWriter] = []
            defer { for fd in readEnds { close(fd) } }
            for index in 0..<count {
                let path = directory.path + "/fifo-\(index)"
                try #require(mkfifo(path, 0o600) == 0)
                let readEnd = open(path, O_RDONLY | O_NONBLOCK)
                try #require(readEnd >= 0)
                readEnds.append(readEnd)
                writers.append(try #require(try Self.writer(store, key: "fifo-\(index)", path: path, temporary: path)))
            }
            let progress = FIFOProgress()
            // A plain thread, not the cooperative pool, reads the FIFOs, but only once the ticker has ticked
            // 50 times: if the writes blocked the pool, the ticker could not tick and this waits out its deadline.
            let reader = Thread { [readEnds] in
                let deadline = Date().addingTimeInterval(20)
                while progress.ticks.load(ordering: .relaxed) < 50 && Date() < deadline { usleep(1000) }
                progress.ticksSeenByReader.store(progress.ticks.load(ordering: .relaxed), ordering: .relaxed)
                var remaining = Set(readEnds)
                var buffer = [UInt8](repeating: 0, count: 1 << 16)
                while !remaining.isEmpty {
                    var fds = remaining.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
                    guard poll(&fds, nfds_t(fds.count), 100) >= 0 else { continue }
                    for entry in fds where entry.revents != 0 {
                        let n = read(entry.fd, &buffer, buffer.count)
                        if n > 0 {
                            progress.drained.add(n, ordering: .relaxed)
                        } else if n == 0 || errno != EAGAIN {
                            remaining.remove(entry.fd)  // end of file: the writer closed its end
                        }
                    }
                }
            }
            reader.start()
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    while progress.ticks.load(ordering: .relaxed) < 50 {
                        try await Task.sleep(for: .milliseconds(1))
                        progress.ticks.add(1, ordering: .relaxed)
                    }
                }
                for writer in writers {
                    group.addTask {
                        let chunk = ByteBuffer(repeating: 1, count: 65536)
                        for _ in 0..<(total / count / 65536) { try await writer.write(chunk) }
                        // FIFOs cannot be fsynced: abort closes the write end, which ends the reader.
                        await writer.abort()
                    }
                }
                try await group.waitForAll()
            }
            let deadline = ContinuousClock.now + .seconds(30)
            while !reader.isFinished && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(5)) }
            #expect(progress.ticksSeenByReader.load(ordering: .relaxed) >= 50, "the ticker stalled while the writes were blocked")
            #expect(reader.isFinished)
            #expect(progress.drained.load(ordering: .relaxed) >= total - count * WriteBehindFile.window)
        }
    }

    /// Shared between the ticker, the writers and the reader thread of `cooperativePoolStaysFree`.
    private final class FIFOProgress: Sendable {
        let ticks = Atomic<Int>(0)
        let drained = Atomic<Int>(0)
        let ticksSeenByReader = Atomic<Int>(0)
    }

    /// A writer over an already open file, for files the store would never create itself.
    private static func writer(_ store: FileBlobStore, key: String, path: String, temporary: String) throws -> FileBlobWriter? {
        let fd = open(path, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        return FileBlobWriter(
            store: store,
            file: WriteBehindFile(key: key, target: try store.path(for: key), temporary: temporary, fd: fd, threads: store.threads))
    }
}
