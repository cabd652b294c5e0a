import Foundation
import NIOCore

/// What the blob store knows about a stored file: recorded with the record that owns it.
package struct BlobInfo: Sendable, Equatable {
    package var key: String
    package var size: Int64
    /// Lower-case hex SHA-256 of the content.
    package var sha256: String

    package init(key: String, size: Int64, sha256: String) {
        self.key = key
        self.size = size
        self.sha256 = sha256
    }
}

/// Where backup files live. Writers stream into a hidden temporary file; only `commit()` makes the
/// blob visible, atomically, so a crash never leaves a half-written blob under its key.
///
/// Every method that touches the disk is `async`: an implementation does its blocking system calls off
/// Swift's cooperative pool, so a slow disk (or an fsync of gigabytes) never stalls request handling.
package protocol BlobStore: Sendable {
    /// Starts writing `key`. Fails if the key already exists.
    func makeWriter(key: String) async throws -> any BlobWriter
    /// Opens a committed blob for reading; nil when absent.
    func open(key: String) async throws -> (any BlobReader)?
    /// Removes a blob; no error when it is already gone.
    func delete(key: String) async throws
    /// Whether a committed blob exists.
    func exists(key: String) async -> Bool
    /// Removes the temporary files of writers that no longer run (crashed, killed) and are older than `age`;
    /// a live writer's file is never touched, however old. Returns how many were removed.
    func sweepAbandonedWrites(olderThan age: TimeInterval, now: Date) async throws -> Int
}

/// A blob being written. Call `commit()` or `abort()` exactly once.
///
/// Writes may be accepted before they reach the disk (write-behind): a failure then surfaces at a later
/// `write` or at `commit()`, never silently.
package protocol BlobWriter: Sendable {
    /// Appends `bytes`. May return before they are on disk; waits only when too much is in flight.
    func write(_ bytes: ByteBuffer) async throws
    /// Waits for every write so far and makes it durable without publishing anything, so that a later `commit()`
    /// has little left to do. A caller holding several writers (one per cluster shard) flushes each as its data
    /// ends, and pays one fsync at the end instead of all of them. Nothing to do where a commit is not an fsync.
    func flush() async throws
    /// Waits for every write, fsyncs, publishes the blob under its key and returns its size and SHA-256.
    func commit() async throws -> BlobInfo
    /// Discards everything written. Safe after a failed `commit()`.
    func abort() async
}

extension BlobWriter {
    package func flush() async throws {}

    /// Appends the bytes of a collection (`[UInt8]`, `Data`): one copy into a buffer.
    package func write(contentsOf bytes: some Collection<UInt8>) async throws {
        try await self.write(ByteBuffer(bytes: bytes))
    }
}

/// Ranged reads of a committed blob. Positional (no cursor), so one reader can serve any range.
package protocol BlobReader: Sendable {
    /// Size of the blob when it was opened.
    var size: Int64 { get }
    /// Up to `count` bytes starting at `offset`; empty at the end.
    func read(at offset: Int64, upTo count: Int) async throws -> ByteBuffer
    /// Releases the file. Further reads fail.
    func close()
}
