import CofferCore
import CofferRedis
import Crypto
import Foundation
import Logging
import NIOCore

/// The fast path (`restore.md` §1 method D, §12): the target replicates from Coffer, which serves the backup
/// as its master, so the target's own RDB loader does the work (about 3× faster than `RESTORE` for small keys).
///
/// Tried before the `RESTORE` path when ``RedisRestoreEngine/replication`` is set and the target can take it:
/// not in cluster mode, not already a replica, an RDB version it can load, `REPLICAOF` allowed, and able to
/// reach the advertised address. When any of that fails before the target changed, the `RESTORE` path runs.
///
/// No ACL fence is needed here: while it replicates, the target answers application writes with `READONLY`
/// (unless it was configured `replica-read-only no`), and a replica keeps its old dataset until the whole file
/// has arrived (`repl-diskless-load disabled`, the default) or keeps it aside until the load succeeded (`swapdb`).
/// The file is verified end to end (every record parsed, CRC-64 checked, every type known to the target) before
/// `REPLICAOF`: a replica that meets a record it cannot load exits (Redis 7 `rdbReportError`), where `RESTORE`
/// would only refuse the one key. Backups Coffer took came from a Redis loader's own writer and pass; a file
/// edited by hand with a corrupt value inside a valid checksum is the case this cannot catch.
extension RedisRestoreEngine {
    /// Whether the fast path may be tried at all: the target must be able to dial the advertised address. With
    /// no advertised address configured only a target on this machine's loopback can, and the path is tried
    /// only then (a remote target told to replicate from "127.0.0.1" would dial its own machine).
    func mayReplicate(to instance: DCSInstance) -> Bool {
        guard let options = self.replication else { return false }
        if options.advertisedHost != nil { return true }
        return Self.isLoopback(instance.host) && Self.isLoopback(options.listenHost)
    }

    static func isLoopback(_ host: String) -> Bool {
        host == "localhost" || host == "::1" || host.hasPrefix("127.")
    }

    /// Runs the fast path; nil when it does not apply (nothing on the target changed).
    /// - Throws: ``RedisRestoreError`` when the transfer started and failed (the target was put back).
    func restoreByReplication(
        _ request: RedisRestoreRequest, target: RestoreTarget, backup: any BlobReader, save: @escaping @Sendable (RestoreCheckpoint) async throws -> Void,
        progress: @escaping @Sendable (Double) async -> Void
    ) async throws -> RestoreSummary? {
        guard let options = self.replication else { return nil }
        let header = try await self.storage { try await backup.read(at: 0, upTo: 9) }
        guard let version = header.getString(at: header.readerIndex + 5, length: 4).flatMap({ Int($0) }) else {
            throw RedisRestoreError(.synchronization, "the backup file does not start with an RDB header")
        }
        let loader = ReplicaLoader(target: Self.endpoint(request.target), options: options, logger: self.logger)
        do {
            try await loader.probe(rdbVersion: version)
        } catch let error as ReplicaLoadError {
            self.logger.info("DCS restore uses RESTORE commands", metadata: ["restore.id": "\(request.restoreID)", "reason": "\(error)"])
            return nil
        } catch {
            throw Self.restoreError(error, phase: .fencing)
        }
        let verifyStarted = ContinuousClock.now
        if try await !self.matchesBackupJobDigest(backup, request.backup.sha256) {
            guard try await self.verify(backup, target: target) else { return nil }
        }
        let verified = ContinuousClock.now - verifyStarted
        // `swapdb` keeps the old dataset aside until the new one has loaded, so a file the target refuses half-way
        // (or a transfer cut after the flush) gives the old data back; the default (`disabled`) would leave it empty.
        var state = RedisRestoreState(phase: .replicating, disabledUsers: [], temporaryUser: nil, safetyBlobKey: Self.safetyBlobKey(request))
        state.targetHost = request.target.host
        state.targetPort = request.target.port
        let original: String
        do {
            original = try await self.disklessLoad(request, set: nil)
        } catch {
            self.logger.info("DCS restore uses RESTORE commands", metadata: ["restore.id": "\(request.restoreID)", "reason": "CONFIG GET refused: \(error)"])
            return nil
        }
        if original != "swapdb" {
            state.disklessLoad = original
            try await self.checkpoint(state, save)
            do {
                _ = try await self.disklessLoad(request, set: "swapdb")
            } catch {
                _ = try? await self.disklessLoad(request, set: original)
                self.logger.info("DCS restore uses RESTORE commands", metadata: ["restore.id": "\(request.restoreID)", "reason": "CONFIG SET refused: \(error)"])
                return nil
            }
        }
        let chunks = BlobChunks(blob: backup)
        let payload = ReplicaLoader.Payload(length: backup.size, rdbVersion: version, chunks: { try await chunks.next() })
        let linked = state
        let outcome: Result<ReplicaLoadSummary, any Error>
        do {
            outcome = .success(
                try await loader.load(
                    payload,
                    onLink: { link in
                        var state = linked
                        state.replicaLink = link
                        try await self.checkpoint(state, save)
                    },
                    progress: progress))
        } catch {
            outcome = .failure(error)
        }
        if let original = state.disklessLoad {
            do {
                _ = try await self.disklessLoad(request, set: original)
            } catch {
                self.logger.warning(
                    "DCS restore could not put repl-diskless-load back", metadata: ["restore.id": "\(request.restoreID)", "error": "\(error)"])
            }
        }
        do {
            let summary = try outcome.get()
            self.logger.info(
                "DCS restore succeeded by replication",
                metadata: [
                    "restore.id": "\(request.restoreID)", "restore.keys": "\(summary.keys)", "restore.bytes": "\(summary.bytes)",
                    "restore.verify_s": "\(verified)", "restore.transfer_s": "\(summary.transfer)", "restore.load_s": "\(summary.duration)",
                ])
            return RestoreSummary(path: .replication, keys: summary.keys)
        } catch ReplicaLoadError.notApplicable(let reason, let detail) {
            self.logger.info(
                "DCS restore falls back to RESTORE commands",
                metadata: ["restore.id": "\(request.restoreID)", "reason": "\(reason.rawValue): \(detail)"])
            return nil
        } catch let error as ReplicaLoadError {
            throw RedisRestoreError(.synchronization, error.description)
        } catch {
            throw Self.restoreError(error, phase: .writing)
        }
    }

    /// Reads the target's `repl-diskless-load`, or sets it to `value` first; returns the value read.
    @discardableResult
    func disklessLoad(_ request: RedisRestoreRequest, set value: String?) async throws -> String {
        try await RedisConnection.withConnection(to: Self.endpoint(request.target), timeout: self.connectTimeout, logger: self.logger) { connection in
            if let value {
                try await connection.commandExpectingSuccess(["CONFIG", "SET", "repl-diskless-load", value], timeout: self.commandTimeout)
                return value
            }
            let reply = try await connection.command(["CONFIG", "GET", "repl-diskless-load"], timeout: self.commandTimeout)
            guard let values = reply.array, values.count == 2, let current = values[1].string else {
                throw RedisRestoreError(.redis, "CONFIG GET repl-diskless-load gave no value")
            }
            return current
        }
    }

    /// Whether the file is, byte for byte, the one the backup job stored: that job walked every record and checked
    /// the CRC-64 as the snapshot arrived from a real Redis, whose file holds only types its version writes (the
    /// probe refused a target older than that version). Hashing is far cheaper than walking the records again.
    func matchesBackupJobDigest(_ backup: any BlobReader, _ expected: String?) async throws -> Bool {
        guard let expected else { return false }
        let chunks = BlobChunks(blob: backup)
        var hash = SHA256()
        do {
            while let chunk = try await chunks.next() { chunk.withUnsafeReadableBytes { hash.update(bufferPointer: $0) } }
        } catch {
            throw Self.restoreError(error, phase: .fencing)
        }
        return Hex.encode(Array(hash.finalize())) == expected.lowercased()
    }

    /// Reads the whole backup once: every record parses, the CRC-64 matches, and the target knows every type.
    /// A replica that meets a record it cannot load does not refuse it as `RESTORE` would: it logs the file as
    /// corrupt and exits. So a file with a type the target does not know goes the `RESTORE` way (false).
    func verify(_ backup: any BlobReader, target: RestoreTarget) async throws -> Bool {
        let chunks = BlobChunks(blob: backup)
        var reader = RDBRecordReader(nextChunk: { try await chunks.next() })
        do {
            while let item = try await reader.next() {
                if case .record(let record) = item, !target.knows(type: record.type) { return false }
            }
        } catch {
            throw Self.restoreError(error, phase: .fencing)
        }
        return true
    }

    /// After a crash during the fast path: detaches the target and says whether it had loaded the backup.
    func recoverReplication(_ request: RedisRestoreRequest, state: RedisRestoreState) async throws -> RestoreRecovery {
        var outcome = ReplicaRecovery.notLoaded(datasetUnchanged: true)  // no link yet: REPLICAOF was never sent
        do {
            if let link = state.replicaLink {
                outcome = try await ReplicaLoader.recover(target: Self.endpoint(request.target), link: link, logger: self.logger)
            }
            if let original = state.disklessLoad { try await self.disklessLoad(request, set: original) }
        } catch {
            throw Self.restoreError(error, phase: .fencing)
        }
        switch outcome {
        case .loaded: return .completed
        case .notLoaded(datasetUnchanged: true): return .rolledBack
        case .notLoaded(datasetUnchanged: false):
            throw RedisRestoreError(.synchronization, "after the crash the target's dataset could not be proven unchanged (it was restarted or changed role)")
        }
    }
}
