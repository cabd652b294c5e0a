import CofferCore
import Crypto
import Foundation
import NIOCore
import NIOPosix
import Synchronization

/// The writer handed to callers: a handle on a `WriteBehindFile`. Dropping it without `commit()` or
/// `abort()` discards the file (at once, or when the write in flight ends).
final class FileBlobWriter: BlobWriter {
    /// Keeps the store, and so its threads, alive while the writer is in use.
    private let store: FileBlobStore
    let file: WriteBehindFile

    init(store: FileBlobStore, file: WriteBehindFile) {
        self.store = store
        self.file = file
    }

    func write(_ bytes: ByteBuffer) async throws { try await self.file.write(bytes) }
    func flush() async throws { try await self.file.flush() }
    func commit() async throws -> BlobInfo { try await self.file.commit() }
    func abort() async { await self.file.abort() }

    deinit { self.file.abandon() }
}

/// Write-behind into the temporary file of one blob, hashing as it goes.
///
/// `write` queues the chunk and returns; one drain at a time, on the store's I/O threads, writes the
/// queue in order and hashes it, so the caller's loop (a socket read loop) never waits for the disk
/// unless more than `window` bytes are in flight: memory stays bounded and a slow disk slows the
/// producer instead of filling memory. A failed write is kept and thrown by the next `write` or by
/// `commit()`. `commit()` waits for the queue to drain, then fsyncs (unless `flush()` just did), links into place
/// and fsyncs the directory, all on the I/O threads.
final class WriteBehindFile: Sendable {
    /// Bytes queued or being written before `write` waits.
    static let window = 4 << 20

    private struct State {
        var fd: Int32
        /// Chunks not yet taken by the drain.
        var queue = CircularBuffer<ByteBuffer>()
        /// Bytes queued plus the chunk being written.
        var inFlight = 0
        var draining = false
        var failure: (any Error)?
        /// commit() or abort() has started: no more writes.
        var closed = false
        /// The handle was dropped during a drain: the drain discards the file when it ends.
        var abandoned = false
        var spaceWaiters: [CheckedContinuation<Void, Never>] = []
        var idleWaiters: [CheckedContinuation<Void, Never>] = []

        /// Who to wake when the drain stops.
        mutating func stopDraining() -> [CheckedContinuation<Void, Never>] {
            self.draining = false
            defer {
                self.idleWaiters = []
                self.spaceWaiters = []
            }
            return self.idleWaiters + self.spaceWaiters
        }
    }

    private struct Digest {
        var hasher = SHA256()
        var size: Int64 = 0
        /// Where the last writeback request ended (see `flushAhead`).
        var flushed: Int64 = 0
        /// Bytes an fsync covered (`flush()`): commit() skips its own when nothing came after.
        var synced: Int64 = -1
    }

    /// Bytes written between two requests to the kernel to start writing them back (`sync_file_range`, not
    /// waiting). Without them every dirty page of the file waits for `commit()`'s fsync: 100 ms at the end of a
    /// 3 × 42 MB cluster backup, on a wall time of 1 s (`bench/cluster-backup`). Redis's own
    /// `rdb-save-incremental-fsync` does the same for its snapshots.
    static let flushAhead: Int64 = 8 << 20

    let key: String
    let target: String
    let temporary: String
    private let threads: NIOThreadPool
    private let state: Mutex<State>
    /// Touched by the drain only (and by commit once the drain is over): never contended.
    private let digest = Mutex(Digest())

    init(key: String, target: String, temporary: String, fd: Int32, threads: NIOThreadPool) {
        self.key = key
        self.target = target
        self.temporary = temporary
        self.threads = threads
        self.state = Mutex(State(fd: fd))
    }

    func write(_ bytes: ByteBuffer) async throws {
        let (startDrain, mustWait) = try self.state.withLock { state in
            if let failure = state.failure { throw failure }
            guard !state.closed else { throw BlobStoreError.finished }
            guard bytes.readableBytes > 0 else { return (false, false) }
            state.queue.append(bytes)
            state.inFlight += bytes.readableBytes
            let start = !state.draining
            state.draining = true
            return (start, state.inFlight > Self.window)
        }
        if startDrain { self.startDrain() }
        guard mustWait else { return }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let waits = self.state.withLock { state in
                guard state.draining, state.inFlight > Self.window else { return false }
                state.spaceWaiters.append(continuation)
                return true
            }
            if !waits { continuation.resume() }
        }
        if let failure = self.state.withLock({ $0.failure }) { throw failure }
    }

    func flush() async throws {
        try self.state.withLock { state in
            guard !state.closed else { throw BlobStoreError.finished }
        }
        await self.waitUntilIdle()
        if let failure = self.state.withLock({ $0.failure }) { throw failure }
        let fd = self.state.withLock { $0.fd }
        let (key, size) = (self.key, self.digest.withLock { $0.size })
        try await self.threads.io {
            guard fsync(fd) == 0 else { throw BlobStoreError.io("fsync \(key)", errno) }
        }
        self.digest.withLock { $0.synced = size }
    }

    func commit() async throws -> BlobInfo {
        try self.state.withLock { state in
            guard !state.closed else { throw BlobStoreError.finished }
            state.closed = true
        }
        await self.waitUntilIdle()
        do {
            if let failure = self.state.withLock({ $0.failure }) { throw failure }
            let fd = self.state.withLock { $0.fd }
            let (key, target, temporary) = (self.key, self.target, self.temporary)
            let synced = self.digest.withLock { $0.synced == $0.size }
            try await self.threads.io {
                guard synced || fsync(fd) == 0 else { throw BlobStoreError.io("fsync \(key)", errno) }
                let directory = (target as NSString).deletingLastPathComponent
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
                // link() refuses to replace an existing blob, unlike rename().
                guard link(temporary, target) == 0 else { throw BlobStoreError.io("publish \(key)", errno) }
                FileSystem.syncDirectory(directory)
            }
        } catch {
            await self.discard()
            throw error
        }
        await self.discard()
        let (size, sha256) = self.digest.withLock { ($0.size, Hex.encode($0.hasher.finalize())) }
        return BlobInfo(key: self.key, size: size, sha256: sha256)
    }

    func abort() async {
        self.state.withLock { state in
            state.closed = true
            for chunk in state.queue { state.inFlight -= chunk.readableBytes }
            state.queue.removeAll()
        }
        await self.waitUntilIdle()
        await self.discard()
    }

    /// The handle is gone: discard now, or let the running drain do it when it ends.
    func abandon() {
        let discardNow = self.state.withLock { state in
            state.closed = true
            state.queue.removeAll()
            guard !state.draining else {
                state.abandoned = true
                return false
            }
            return true
        }
        if discardNow { self.discardSynchronously() }
    }

    // MARK: - The drain

    private func startDrain() {
        self.threads.submit { work in
            switch work {
            case .active: self.drain()
            case .cancelled: self.failDrain(BlobStoreError.closed)
            }
        }
    }

    private enum Step {
        case write(ByteBuffer, Int32)
        case stop(wake: [CheckedContinuation<Void, Never>], discard: Bool)
    }

    /// Writes queued chunks in order until the queue is empty (runs on an I/O thread).
    private func drain() {
        while true {
            let step = self.state.withLock { state -> Step in
                if let chunk = state.queue.popFirst() { return .write(chunk, state.fd) }
                return .stop(wake: state.stopDraining(), discard: state.abandoned)
            }
            switch step {
            case .stop(let waiters, let discard):
                for waiter in waiters { waiter.resume() }
                if discard { self.discardSynchronously() }
                return
            case .write(let chunk, let fd):
                do {
                    try Self.writeAll(chunk, to: fd, key: self.key)
                } catch {
                    self.failDrain(error)
                    return
                }
                self.digest.withLock { digest in
                    chunk.withUnsafeReadableBytes { digest.hasher.update(bufferPointer: $0) }
                    digest.size += Int64(chunk.readableBytes)
                    if digest.size - digest.flushed >= Self.flushAhead {
                        FileSystem.startWriteback(fd: fd, offset: digest.flushed, count: digest.size - digest.flushed)
                        digest.flushed = digest.size
                    }
                }
                let waiters = self.state.withLock { state -> [CheckedContinuation<Void, Never>] in
                    state.inFlight -= chunk.readableBytes
                    guard state.inFlight <= Self.window else { return [] }
                    defer { state.spaceWaiters = [] }
                    return state.spaceWaiters
                }
                for waiter in waiters { waiter.resume() }
            }
        }
    }

    /// Keeps the first failure, drops the queue and wakes everyone; the next write or commit throws it.
    private func failDrain(_ error: any Error) {
        let (waiters, abandoned) = self.state.withLock { state in
            if state.failure == nil { state.failure = error }
            state.queue.removeAll()
            state.inFlight = 0
            return (state.stopDraining(), state.abandoned)
        }
        for waiter in waiters { waiter.resume() }
        if abandoned { self.discardSynchronously() }
    }

    private static func writeAll(_ chunk: ByteBuffer, to fd: Int32, key: String) throws {
        try chunk.withUnsafeReadableBytes { bytes in
            guard let base = bytes.baseAddress else { return }
            var offset = 0
            while offset < bytes.count {
                let n = Foundation.write(fd, base + offset, bytes.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw BlobStoreError.io("write \(key)", errno)
                }
                offset += n
            }
        }
    }

    // MARK: - Ending

    private func waitUntilIdle() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let waits = self.state.withLock { state in
                guard state.draining else { return false }
                state.idleWaiters.append(continuation)
                return true
            }
            if !waits { continuation.resume() }
        }
    }

    /// Closes the descriptor and removes the temporary file (after a publish, the blob keeps its link).
    private func discard() async {
        guard let fd = self.takeDescriptor() else { return }
        let temporary = self.temporary
        do {
            try await self.threads.io {
                Foundation.close(fd)
                unlink(temporary)
            }
        } catch {
            // The store is closed: its threads are gone, so do it here rather than leak the descriptor.
            Foundation.close(fd)
            unlink(temporary)
        }
    }

    private func discardSynchronously() {
        guard let fd = self.takeDescriptor() else { return }
        Foundation.close(fd)
        unlink(self.temporary)
    }

    /// The descriptor, once: whoever takes it closes it.
    private func takeDescriptor() -> Int32? {
        self.state.withLock { state in
            guard state.fd >= 0 else { return nil }
            defer { state.fd = -1 }
            return state.fd
        }
    }
}
