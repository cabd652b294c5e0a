import CWriteback
import Foundation

/// Small file helpers with the durability and permission rules Coffer needs.
package enum FileSystem {
    /// Writes a new file atomically with `mode`: temporary file, fsync, rename, directory fsync.
    /// Fails if the file already exists.
    package static func writeNew(path: String, contents: Data, mode: mode_t) throws {
        let directory = (path as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(atPath: directory.isEmpty ? "." : directory, withIntermediateDirectories: true)
        let temporary = path + ".tmp-\(UUID().uuidString)"
        let fd = open(temporary, O_CREAT | O_EXCL | O_WRONLY, mode)
        guard fd >= 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        defer { unlink(temporary) }
        fchmod(fd, mode)
        let written = contents.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        guard written == contents.count, fsync(fd) == 0 else {
            close(fd)
            throw POSIXError(.EIO)
        }
        close(fd)
        // link() fails when the target exists, unlike rename(): two racing first starts cannot both win.
        guard link(temporary, path) == 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EEXIST) }
        Self.syncDirectory(directory.isEmpty ? "." : directory)
    }

    /// Asks the kernel to start writing `count` bytes at `offset` back to disk, without waiting (Linux's
    /// `sync_file_range(…, SYNC_FILE_RANGE_WRITE)`): the fsync that follows then finds less to do. Durability
    /// still comes from that fsync only; elsewhere, and on an error, this does nothing.
    package static func startWriteback(fd: Int32, offset: Int64, count: Int64) {
        _ = coffer_start_writeback(fd, offset, count)
    }

    /// fsyncs a directory so that a rename in it survives a crash.
    package static func syncDirectory(_ path: String) {
        let fd = open(path, O_RDONLY)
        if fd >= 0 {
            fsync(fd)
            close(fd)
        }
    }
}
