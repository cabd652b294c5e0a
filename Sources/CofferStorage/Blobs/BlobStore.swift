import Foundation

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
package protocol BlobStore: Sendable {
    /// Starts writing `key`. Fails if the key already exists.
    func makeWriter(key: String) throws -> any BlobWriter
    /// Opens a committed blob for reading; nil when absent.
    func open(key: String) throws -> BlobReader?
    /// Removes a blob; no error when it is already gone.
    func delete(key: String) throws
    /// Whether a committed blob exists.
    func exists(key: String) -> Bool
    /// Removes temporary files older than `age` left by writers that crashed. Returns how many were removed.
    func sweepAbandonedWrites(olderThan age: TimeInterval, now: Date) throws -> Int
}

/// A blob being written. Call `commit()` or `abort()` exactly once.
package protocol BlobWriter: Sendable {
    /// Appends bytes.
    func write(_ bytes: UnsafeRawBufferPointer) throws
    /// fsyncs, renames into place and returns the blob's size and SHA-256.
    func commit() throws -> BlobInfo
    /// Discards everything written. Safe after a failed `commit()`.
    func abort()
}

extension BlobWriter {
    /// Appends the bytes of any contiguous collection (`[UInt8]`, `Data`).
    package func write(_ bytes: some ContiguousBytes) throws {
        try bytes.withUnsafeBytes { try self.write($0) }
    }
}

/// Sequential or ranged reads of a committed blob.
package final class BlobReader: Sendable {
    package let size: Int64
    private let handle: FileHandle

    init(handle: FileHandle, size: Int64) {
        self.handle = handle
        self.size = size
    }

    /// Positions the reader at `offset`.
    package func seek(to offset: Int64) throws { try self.handle.seek(toOffset: UInt64(offset)) }

    /// Up to `count` bytes; empty at the end.
    package func read(upTo count: Int) throws -> Data { try self.handle.read(upToCount: count) ?? Data() }

    package func close() { try? self.handle.close() }
}
