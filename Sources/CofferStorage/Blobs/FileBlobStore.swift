import CofferCore
import Foundation
import NIOPosix

/// `BlobStore` on the local filesystem: `<root>/objects/<key>` for committed blobs, `<root>/incoming/`
/// for writes in progress. Files are created with mode 0600.
///
/// Every system call that may block on the disk (open, write, pread, fsync, link, unlink, directory
/// fsync) runs on the store's own `NIOThreadPool`, never on Swift's cooperative pool, whose few threads
/// (one per core) also run every request and every socket read loop. A thread pool rather than
/// NIOFileSystem: publishing needs `link()` (refuses to replace, unlike rename) and a directory fsync,
/// which NIOFileSystem does not offer, and write-behind needs one ordered drain per writer, not one hop
/// per call.
package final class FileBlobStore: BlobStore {
    /// Threads for blob I/O: a few backups and downloads at once; each writer drains on one thread at a time.
    package static let threadCount = 4

    package let root: String
    let threads: NIOThreadPool

    package init(root: String) throws {
        self.root = root
        for directory in [root + "/objects", root + "/incoming"] {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        }
        self.threads = NIOThreadPool(numberOfThreads: Self.threadCount)
        self.threads.start()
    }

    private var objects: String { self.root + "/objects" }
    var incoming: String { self.root + "/incoming" }

    package func path(for key: String) throws -> String {
        // Keys are ours (ids and fixed names), but never let one escape the objects folder.
        guard !key.isEmpty, !key.hasPrefix("/"), !key.split(separator: "/").contains(where: { $0 == ".." || $0 == "." }) else {
            throw BlobStoreError.invalidKey(key)
        }
        return self.objects + "/" + key
    }

    package func makeWriter(key: String) async throws -> any BlobWriter {
        let target = try self.path(for: key)
        let temporary = self.incoming + "/" + UUID().uuidString + ".part"
        let fd = try await self.threads.io {
            guard access(target, F_OK) != 0 else { throw BlobStoreError.exists(key) }
            let fd = Foundation.open(temporary, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0o600)
            guard fd >= 0 else { throw BlobStoreError.io("create \(temporary)", errno) }
            // Held until the descriptor closes, also when the process is killed: the sweep's sign of a live writer.
            _ = flock(fd, LOCK_EX | LOCK_NB)
            return fd
        }
        return FileBlobWriter(store: self, file: WriteBehindFile(key: key, target: target, temporary: temporary, fd: fd, threads: self.threads))
    }

    package func open(key: String) async throws -> (any BlobReader)? {
        let path = try self.path(for: key)
        let opened = try await self.threads.io { () -> (Int32, Int64)? in
            let fd = Foundation.open(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else {
                if errno == ENOENT { return nil }
                throw BlobStoreError.io("open \(key)", errno)
            }
            var status = stat()
            guard fstat(fd, &status) == 0 else {
                let code = errno
                Foundation.close(fd)
                throw BlobStoreError.io("stat \(key)", code)
            }
            return (fd, Int64(status.st_size))
        }
        return opened.map { FileBlobReader(store: self, key: key, fd: $0.0, size: $0.1) }
    }

    package func delete(key: String) async throws {
        let path = try self.path(for: key)
        try await self.threads.io {
            if unlink(path) != 0 && errno != ENOENT { throw BlobStoreError.io("delete \(key)", errno) }
            FileSystem.syncDirectory((path as NSString).deletingLastPathComponent)
        }
    }

    package func exists(key: String) async -> Bool {
        guard let path = try? self.path(for: key) else { return false }
        return (try? await self.threads.io { access(path, F_OK) == 0 }) ?? false
    }

    /// Removes the temporary files no writer holds: each live writer keeps an exclusive `flock` on its file
    /// until it commits or aborts, and the kernel drops the lock when the writer's process dies (`kill -9`), so
    /// a file nobody locks was left by a crash. `age` only guards the instant between a writer's `open` and
    /// its `flock`.
    package func sweepAbandonedWrites(olderThan age: TimeInterval, now: Date) async throws -> Int {
        let incoming = self.incoming
        return try await self.threads.io {
            var removed = 0
            for name in try FileManager.default.contentsOfDirectory(atPath: incoming) where name.hasSuffix(".part") {
                let path = incoming + "/" + name
                let modified = (try? FileManager.default.attributesOfItem(atPath: path)[.modificationDate] as? Date) ?? now
                guard now.timeIntervalSince(modified) > age else { continue }
                let fd = Foundation.open(path, O_RDONLY | O_CLOEXEC)
                guard fd >= 0 else { continue }
                defer { Foundation.close(fd) }
                // Locked: a writer (in this process or another) still owns the file.
                guard flock(fd, LOCK_EX | LOCK_NB) == 0 else { continue }
                if unlink(path) == 0 { removed += 1 }
            }
            return removed
        }
    }

    /// Stops the I/O threads once queued work is done; later calls fail with `BlobStoreError.closed`.
    package func close() async {
        try? await self.threads.shutdownGracefully()
    }

    deinit {
        // NIOThreadPool asserts that it was shut down; a second shutdown is a no-op.
        self.threads.shutdownGracefully(queue: .global()) { _ in }
    }
}

/// Errors of the filesystem blob store.
package enum BlobStoreError: Error, CustomStringConvertible {
    case invalidKey(String)
    case exists(String)
    case io(String, Int32)
    case finished
    case closed

    package var description: String {
        switch self {
        case .invalidKey(let key): "invalid blob key \(key)"
        case .exists(let key): "blob \(key) already exists"
        case .io(let what, let code): "\(what): \(String(cString: strerror(code)))"
        case .finished: "the blob writer was already committed or aborted"
        case .closed: "the blob store is closed"
        }
    }
}

extension NIOThreadPool {
    /// Runs `body` on one of the pool's threads and returns its result.
    ///
    /// Unlike `runIfActive`, a submitted call is not skipped when the calling task is cancelled: an
    /// fsync or a close that was asked for always happens, so no descriptor leaks.
    func io<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            self.submit { state in
                switch state {
                case .active: continuation.resume(with: Result(catching: body))
                case .cancelled: continuation.resume(throwing: BlobStoreError.closed)
                }
            }
        }
    }
}
