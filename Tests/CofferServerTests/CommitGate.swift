import CofferCore
import Foundation
import NIOCore
import Synchronization
import Testing

/// A blob store whose first commit stops right after it is done until the test releases it (later commits go through):
/// the point where a stalled job's file is visible and its record not yet written.
final class CommitGate: BlobStore {
    private let inner: any BlobStore
    private let committed = AsyncStream.makeStream(of: Void.self)
    private let released = AsyncStream.makeStream(of: Void.self)
    private let first = Mutex(true)

    init(_ inner: any BlobStore) { self.inner = inner }

    /// Returns when the first commit is done.
    func waitUntilCommitted() async throws {
        var signals = self.committed.stream.makeAsyncIterator()
        try #require(await signals.next() != nil)
    }

    /// Lets the first commit return.
    func release() { self.released.continuation.yield() }

    func makeWriter(key: String) async throws -> any BlobWriter {
        Writer(inner: try await self.inner.makeWriter(key: key), gate: self)
    }
    func open(key: String) async throws -> (any BlobReader)? { try await self.inner.open(key: key) }
    func delete(key: String) async throws { try await self.inner.delete(key: key) }
    func exists(key: String) async -> Bool { await self.inner.exists(key: key) }
    func sweepAbandonedWrites(olderThan age: TimeInterval, now: Date) async throws -> Int {
        try await self.inner.sweepAbandonedWrites(olderThan: age, now: now)
    }

    private struct Writer: BlobWriter {
        let inner: any BlobWriter
        let gate: CommitGate
        func write(_ bytes: ByteBuffer) async throws { try await self.inner.write(bytes) }
        func flush() async throws { try await self.inner.flush() }
        func abort() async { await self.inner.abort() }
        func commit() async throws -> BlobInfo {
            let info = try await self.inner.commit()
            guard self.gate.first.withLock({ first in defer { first = false }; return first }) else { return info }
            self.gate.committed.continuation.yield()
            var releases = self.gate.released.stream.makeAsyncIterator()
            _ = await releases.next()
            return info
        }
    }
}
