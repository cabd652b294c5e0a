import CofferCore
import Crypto
import Foundation

/// `BlobStore` on the local filesystem: `<root>/objects/<key>` for committed blobs, `<root>/incoming/`
/// for writes in progress. Files are created with mode 0600.
package struct FileBlobStore: BlobStore {
    package let root: String

    package init(root: String) throws {
        self.root = root
        for directory in [self.objects, self.incoming] {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        }
    }

    private var objects: String { self.root + "/objects" }
    private var incoming: String { self.root + "/incoming" }

    package func path(for key: String) throws -> String {
        // Keys are ours (ids and fixed names), but never let one escape the objects folder.
        guard !key.isEmpty, !key.hasPrefix("/"), !key.split(separator: "/").contains(where: { $0 == ".." || $0 == "." }) else {
            throw BlobStoreError.invalidKey(key)
        }
        return self.objects + "/" + key
    }

    package func makeWriter(key: String) throws -> any BlobWriter {
        let target = try self.path(for: key)
        guard !FileManager.default.fileExists(atPath: target) else { throw BlobStoreError.exists(key) }
        let temporary = self.incoming + "/" + UUID().uuidString + ".part"
        let fd = Foundation.open(temporary, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw BlobStoreError.io("create \(temporary)", errno) }
        return FileBlobWriter(key: key, target: target, temporary: temporary, fd: fd)
    }

    package func open(key: String) throws -> BlobReader? {
        let path = try self.path(for: key)
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: path),
            let handle = FileHandle(forReadingAtPath: path)
        else { return nil }
        return BlobReader(handle: handle, size: (attributes[.size] as? NSNumber)?.int64Value ?? 0)
    }

    package func delete(key: String) throws {
        let path = try self.path(for: key)
        if unlink(path) != 0 && errno != ENOENT { throw BlobStoreError.io("delete \(key)", errno) }
        FileSystem.syncDirectory((path as NSString).deletingLastPathComponent)
    }

    package func exists(key: String) -> Bool {
        (try? self.path(for: key)).map { FileManager.default.fileExists(atPath: $0) } ?? false
    }

    package func sweepAbandonedWrites(olderThan age: TimeInterval, now: Date) throws -> Int {
        var removed = 0
        for name in try FileManager.default.contentsOfDirectory(atPath: self.incoming) where name.hasSuffix(".part") {
            let path = self.incoming + "/" + name
            let modified = (try? FileManager.default.attributesOfItem(atPath: path)[.modificationDate] as? Date) ?? now
            if now.timeIntervalSince(modified) > age, unlink(path) == 0 { removed += 1 }
        }
        return removed
    }
}

/// Errors of the filesystem blob store.
package enum BlobStoreError: Error, CustomStringConvertible {
    case invalidKey(String)
    case exists(String)
    case io(String, Int32)
    case finished

    package var description: String {
        switch self {
        case .invalidKey(let key): "invalid blob key \(key)"
        case .exists(let key): "blob \(key) already exists"
        case .io(let what, let code): "\(what): \(String(cString: strerror(code)))"
        case .finished: "the blob writer was already committed or aborted"
        }
    }
}

/// Streams into the temporary file, hashing as it goes.
///
/// `@unchecked Sendable`: the state is guarded by `lock`; a writer is used by one task at a time anyway.
final class FileBlobWriter: BlobWriter, @unchecked Sendable {
    private let key: String
    private let target: String
    private let temporary: String
    private let lock = NSLock()
    private var fd: Int32
    private var hasher = SHA256()
    private var size: Int64 = 0

    init(key: String, target: String, temporary: String, fd: Int32) {
        self.key = key
        self.target = target
        self.temporary = temporary
        self.fd = fd
    }

    func write(_ bytes: UnsafeRawBufferPointer) throws {
        try self.lock.withLock {
            guard self.fd >= 0 else { throw BlobStoreError.finished }
            var offset = 0
            while offset < bytes.count {
                let n = Foundation.write(self.fd, bytes.baseAddress! + offset, bytes.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw BlobStoreError.io("write \(self.key)", errno)
                }
                offset += n
            }
            self.hasher.update(bufferPointer: bytes)
            self.size += Int64(bytes.count)
        }
    }

    func commit() throws -> BlobInfo {
        try self.lock.withLock {
            guard self.fd >= 0 else { throw BlobStoreError.finished }
            defer { self.closeAndForget() }
            guard fsync(self.fd) == 0 else { throw BlobStoreError.io("fsync \(self.key)", errno) }
            let directory = (self.target as NSString).deletingLastPathComponent
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            // link() refuses to replace an existing blob, unlike rename().
            guard link(self.temporary, self.target) == 0 else { throw BlobStoreError.io("publish \(self.key)", errno) }
            unlink(self.temporary)
            FileSystem.syncDirectory(directory)
            let digest = Hex.encode(self.hasher.finalize())
            return BlobInfo(key: self.key, size: self.size, sha256: digest)
        }
    }

    func abort() {
        self.lock.withLock { self.closeAndForget() }
    }

    private func closeAndForget() {
        if self.fd >= 0 {
            close(self.fd)
            self.fd = -1
        }
        unlink(self.temporary)
    }

    deinit {
        // A writer dropped without commit or abort leaves nothing behind.
        if self.fd >= 0 {
            close(self.fd)
            unlink(self.temporary)
        }
    }
}
