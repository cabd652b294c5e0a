import CofferCore
import Foundation
import NIOCore
import Synchronization

/// Positional reads (`pread`) of a committed blob, each on the store's I/O threads.
final class FileBlobReader: BlobReader {
    let size: Int64
    private let key: String
    /// Keeps the store, and so its threads, alive while the reader is in use.
    private let store: FileBlobStore
    private let fd: Mutex<Int32>

    init(store: FileBlobStore, key: String, fd: Int32, size: Int64) {
        self.store = store
        self.key = key
        self.fd = Mutex(fd)
        self.size = size
    }

    func read(at offset: Int64, upTo count: Int) async throws -> ByteBuffer {
        guard count > 0, offset < self.size else { return ByteBuffer() }
        let key = self.key
        return try await self.store.threads.io {
            // Held for the read, so a concurrent close() cannot hand the descriptor number to another file.
            try self.fd.withLock { fd in
                guard fd >= 0 else { throw BlobStoreError.finished }
                var buffer = ByteBufferAllocator().buffer(capacity: count)
                while true {
                    var result = 0
                    buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: count) { pointer in
                        result = pread(fd, pointer.baseAddress, count, off_t(offset))
                        return max(0, result)
                    }
                    if result >= 0 { return buffer }
                    if errno != EINTR { throw BlobStoreError.io("read \(key)", errno) }
                }
            }
        }
    }

    func close() {
        self.fd.withLock { fd in
            if fd >= 0 {
                Foundation.close(fd)
                fd = -1
            }
        }
    }

    deinit { self.close() }
}
