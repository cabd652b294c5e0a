import CofferCore
import CofferRedis
import NIOCore

/// What an AOF backup's tee measured: how much it held and whether the AOF side ever held the pull back.
struct AOFTeeSummary: Sendable {
    /// The most RDB bytes that waited between the pull and the AOF side.
    var peakQueuedBytes: Int
    /// How long the pull waited, in total, for the AOF side to make room.
    var pullWaited: Duration
}

extension DCSBackupJob {
    /// RDB bytes that may wait between the pull and the AOF side: the tee's whole memory.
    static let aofTeeLimit = 8 << 20

    /// Pulls the snapshot into the sidecar `snapshot` and, from the same chunks while they stream, writes the AOF
    /// into `aof`; commits neither (the caller commits both once both are whole, or aborts both).
    ///
    /// A tee, not a second pass over the stored sidecar: each chunk the pull receives goes to the sidecar's writer
    /// and into a ``BoundedQueue`` of ``aofTeeLimit`` bytes, from which a second task reads the records
    /// (``RDBRecordReader``: the same walker, with its own end and CRC-64 check) and writes their commands
    /// (``AOFCommandWriter``). The two tasks run on two cores; memory is flat: the queue, one decoded record, the
    /// AOF writer's 64 KiB buffer and the two blob writers' write-behind windows, whatever the dataset size.
    ///
    /// When the AOF side falls `aofTeeLimit` behind, the pull waits for it (back-pressure) rather than the AOF side
    /// catching up later from the sidecar file: the blob store cannot read a file before its commit, and waiting
    /// costs the master nothing that grows. With `REPLCONF rdb-only` (Redis ≥ 6.2) the master keeps no replication
    /// buffer for the pull, so a slower reader only makes the transfer last longer (the diskless child or the
    /// disk-form sender writes at the reader's pace); the AOF side never stalls, so `repl-timeout` never fires.
    /// Before 6.2 the writes made during the transfer collect in the replica output buffer, capped by the master's
    /// `client-output-buffer-limit replica`, which drops the pull (a failed backup, no file) rather than grow.
    /// How long the pull waited is logged with the backup (`backup.pull_waited_seconds`).
    ///
    /// Either side's failure — the RDB's CRC, a malformed record, the connection dropped, a storage error,
    /// cancellation — fails the queue, which fails the other side: the job then aborts both writers.
    func pullWithAOF(
        endpoint: RedisEndpoint, record: DCSBackupRecord, snapshot: any BlobWriter, aof: any BlobWriter, progress: BackupProgress
    ) async throws -> (SnapshotSummary, AOFTeeSummary) {
        let queue = BoundedQueue<ByteBuffer>(limit: Self.aofTeeLimit, weight: { $0.readableBytes })
        let summary = try await withThrowingTaskGroup(of: SnapshotSummary?.self) { group in
            group.addTask {
                do {
                    let summary = try await self.pull(
                        endpoint: endpoint, record: record, progress: progress,
                        sink: { chunk in
                            try await snapshot.write(chunk)
                            if chunk.readableBytes > 0 { try await queue.send(chunk) }
                        })
                    queue.finish()
                    return summary
                } catch {
                    queue.fail(error)
                    throw error
                }
            }
            group.addTask {
                do {
                    try await Self.writeAOF(from: { try await queue.next() }, into: aof, progress: progress)
                    return nil
                } catch {
                    queue.fail(error)
                    throw error
                }
            }
            var summary: SnapshotSummary?
            while let next = try await group.next() {
                if let next { summary = next }
            }
            return summary
        }
        guard let summary else { throw CancellationError() }
        return (summary, AOFTeeSummary(peakQueuedBytes: queue.peakBytes, pullWaited: queue.producerWait))
    }

    /// Reads RDB chunks from `nextChunk` until the RDB's end and writes the AOF commands that rebuild it into
    /// `writer`, reporting the RDB bytes it has turned into commands.
    ///
    /// After the RDB's last byte it waits for `nextChunk`'s end, so a pull that fails after the RDB (a wrong
    /// `$EOF:` mark) fails this side too, and bytes past the RDB are refused.
    /// - Throws: the reader's `RedisError` at a malformed record (naming the key) or a checksum mismatch, and what
    ///   `nextChunk` or the writer throws.
    static func writeAOF(
        from nextChunk: @escaping @Sendable () async throws -> ByteBuffer?, into writer: any BlobWriter, progress: BackupProgress
    ) async throws {
        var reader = RDBRecordReader(nextChunk: nextChunk)
        var aof = AOFCommandWriter(sink: { try await writer.write($0) })
        while let item = try await reader.next() {
            switch item {
            case .record(let key):
                try await aof.writeRecord(database: key.database, key: key.key, expiry: key.expiry, type: key.type, value: key.value)
            case .function(let library):
                try await aof.writeFunction(source: library)
            }
            progress.convertedToAOF(reader.bytesRead)
        }
        try await aof.finish()
        progress.convertedToAOF(reader.bytesRead)
        if let extra = try await nextChunk(), extra.readableBytes > 0 {
            throw RedisError.protocolViolation("\(extra.readableBytes) bytes follow the RDB's end")
        }
    }
}
