import CofferCore
import CofferRedis
import Foundation

extension DCSBackupJob {
    /// Writes an AOF backup's file from its committed RDB snapshot (the sidecar) and commits it atomically.
    ///
    /// A second pass over the stored snapshot rather than a tee of the replication stream: the pull stays exactly
    /// the RDB backup's (its CRC check, its timeouts, the master's output buffer drained at disk speed), and the
    /// AOF is made only from a snapshot known to be whole. Memory is flat: one 1 MiB chunk of the snapshot, one
    /// decoded record and the AOF writer's 64 KiB buffer, whatever the dataset size. Progress goes from 50 % to
    /// 99.99 % with the bytes of the snapshot read, recorded about once a second.
    /// - Throws: the reader's `RedisError` at a malformed record (naming the key), storage errors.
    func writeAOF(snapshot: BlobInfo, record: DCSBackupRecord) async throws -> BlobInfo {
        guard let source = try await self.blobs.open(key: snapshot.key) else { throw DCSError.internalError }
        defer { source.close() }
        let writer = try await self.blobs.makeWriter(key: DCSBackupFiles.key(record))
        do {
            let chunks = BlobChunks(blob: source)
            var reader = RDBRecordReader(nextChunk: { try await chunks.next() })
            var aof = AOFCommandWriter(sink: { try await writer.write($0) })
            let size = Double(max(1, source.size))
            var recordedAt = self.clock()
            var items = 0
            while let item = try await reader.next() {
                switch item {
                case .record(let key):
                    try await aof.writeRecord(database: key.database, key: key.key, expiry: key.expiry, type: key.type, value: key.value)
                case .function(let library):
                    try await aof.writeFunction(source: library)
                }
                items += 1
                guard items % 1024 == 0 else { continue }
                let now = self.clock()
                if now.timeIntervalSince(recordedAt) >= 1 {
                    let fraction = 0.5 + 0.5 * Double(reader.bytesRead) / size
                    let progress = min(DCSBackupRecord.Progress(hundredths: 9_999), DCSBackupRecord.Progress(fraction: fraction))
                    try? await self.store.updateBackupProgress(projectID: record.projectID, id: record.id, progress: progress, at: now)
                    recordedAt = now
                }
            }
            try await aof.finish()
            return try await writer.commit()
        } catch {
            await writer.abort()
            throw error
        }
    }
}
