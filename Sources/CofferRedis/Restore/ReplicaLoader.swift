import Logging
import NIOCore

/// The restore fast path: Coffer acts as the target's master and the target loads the RDB with its own
/// loader (restore.md §1 method D, §12), about three times faster than a `RESTORE` stream for small keys.
///
/// One ``load(_:onLink:progress:)``:
/// 1. **Probe** (one `INFO`): cluster mode, a target that already replicates, an RDB newer than the
///    target's server loads, or an `INFO` without `master_replid` → ``ReplicaLoadError/notApplicable(_:_:)``,
///    before anything on the target changed.
/// 2. **Link**: binds a one-shot listener (``Options/listenHost``, port 0 = random), hands the caller the
///    ``ReplicaLink`` to checkpoint, then sends `REPLICAOF <advertised host> <port>`. A refused `REPLICAOF`
///    (`NOPERM`, renamed command, …) is again "not applicable": a refused command changed nothing.
/// 3. **Transfer**: the listener serves the handshake and streams the RDB from the chunk source with
///    back-pressure (``ReplicaMasterListener``), then keeps the link alive with `PING`s.
/// 4. **Done** when `INFO` shows the target a replica of our advertised address with `master_link_status:up`,
///    `loading:0` and `master_replid` equal to the id we sent in `+FULLRESYNC` (a replica adopts it only after
///    the whole file loaded); then `REPLICAOF NO ONE`, and the listener closes.
///
/// **Why a failure is a rollback.** A replica keeps serving its old dataset while it receives the file and
/// replaces it only once the whole file is there (`repl-diskless-load disabled`, the default; `swapdb` keeps
/// the old one aside until the load succeeds). So when the target never connects (it cannot reach the
/// advertised address: ``Options/connectTimeout``), when the transfer breaks (link lost, target gone, chunk
/// source throws) or when the time limit or the caller's cancellation hits, the loader stops serving, sends
/// `REPLICAOF NO ONE` and checks the target's replication ids: after `NO ONE` a target that never loaded
/// another master's data has its pre-restore `master_replid` as `master_replid2`. Verified →
/// ``ReplicaLoadError/rolledBack(_:)`` (or "not applicable (unreachable)" when the target never connected);
/// otherwise ``ReplicaLoadError/unverified(_:)``. Not covered: a complete file the target then fails to load
/// (corrupt RDB) after it flushed its data — the key-count check reports that as unverified when the target
/// is left empty; the caller's RDB scanner checks every record and the CRC before it offers a file.
///
/// **Fencing.** While it is our replica the target answers application writes with
/// `READONLY You can't write against a read only replica.` (unless its `replica-read-only` is `no`), and keeps
/// answering reads from the old dataset (`replica-serve-stale-data yes`, the default); no ACL fence is needed
/// on this path. Writes come back with `REPLICAOF NO ONE`.
///
/// Rights: the user needs `INFO` and `REPLICAOF` (e.g. `+info +replicaof`); the target must reach the
/// advertised address over TCP.
package struct ReplicaLoader: Sendable {
    /// Where to listen, what to advertise, and the time limits.
    package struct Options: Sendable {
        /// Address the one-shot listener binds to.
        package var listenHost: String
        /// Port to bind; 0 picks a random free port.
        package var listenPort: Int
        /// Host the target must dial to reach the listener (behind NAT or a container); `nil` = ``listenHost``.
        package var advertisedHost: String?
        /// Port the target must dial; `nil` = the bound port.
        package var advertisedPort: Int?
        /// How long the target has to connect and send `PSYNC` after `REPLICAOF`.
        package var connectTimeout: Duration
        /// Bound of each command on the control connection.
        package var commandTimeout: Duration
        /// Fixed part of the load time limit.
        package var loadTimeBase: Duration
        /// Slowest acceptable transfer-plus-load rate in bytes per second: the size-dependent part of the limit.
        package var minimumThroughput: Int
        /// Keep-alive period in the replication stream after the file.
        package var pingInterval: Duration
        /// How often `INFO` is polled.
        package var pollInterval: Duration

        package init(
            listenHost: String = "127.0.0.1", listenPort: Int = 0, advertisedHost: String? = nil, advertisedPort: Int? = nil,
            connectTimeout: Duration = .seconds(3), commandTimeout: Duration = .seconds(10), loadTimeBase: Duration = .seconds(30),
            minimumThroughput: Int = 2 << 20, pingInterval: Duration = .seconds(1), pollInterval: Duration = .milliseconds(20)
        ) {
            self.listenHost = listenHost
            self.listenPort = listenPort
            self.advertisedHost = advertisedHost
            self.advertisedPort = advertisedPort
            self.connectTimeout = connectTimeout
            self.commandTimeout = commandTimeout
            self.loadTimeBase = loadTimeBase
            self.minimumThroughput = minimumThroughput
            self.pingInterval = pingInterval
            self.pollInterval = pollInterval
        }
    }

    /// The RDB to load.
    package struct Payload: Sendable {
        /// Exact byte length.
        package var length: Int64
        /// The version in its `REDIS00NN` header.
        package var rdbVersion: Int
        /// The bytes in order, `nil` at the end; pulled only as fast as the target reads.
        package var chunks: @Sendable () async throws -> ByteBuffer?

        package init(length: Int64, rdbVersion: Int, chunks: @escaping @Sendable () async throws -> ByteBuffer?) {
            self.length = length
            self.rdbVersion = rdbVersion
            self.chunks = chunks
        }
    }

    /// Why the poll loop stopped before the target finished.
    private enum Stop: Error {
        case unreachable(String)
        case failed(String)
    }

    /// What `REPLICAOF NO ONE` and the id check found after a stop.
    private enum Detached {
        case unchanged
        case loaded
        case unknown(String)
    }

    package var target: RedisEndpoint
    package var options: Options
    package var logger: Logger

    package init(target: RedisEndpoint, options: Options = Options(), logger: Logger) {
        self.target = target
        self.options = options
        self.logger = logger
    }

    /// Checks, without changing anything, whether the target can take `rdbVersion` through this path.
    ///
    /// - Throws: ``ReplicaLoadError/notApplicable(_:_:)``, or ``RedisError`` when the target cannot be reached.
    @discardableResult
    package func probe(rdbVersion: Int) async throws -> ReplicaTargetFacts {
        try await RedisConnection.withConnection(to: self.target, timeout: self.options.commandTimeout, logger: self.logger) { connection in
            try await self.probe(connection, rdbVersion: rdbVersion)
        }
    }

    private func probe(_ connection: RedisConnection, rdbVersion: Int) async throws -> ReplicaTargetFacts {
        let info: RedisInfo
        do {
            info = try await connection.info()
        } catch RedisError.server(let message) {
            throw ReplicaLoadError.notApplicable(.unknownServer, "INFO refused: \(message)")
        }
        let facts = ReplicaTargetFacts(info)
        if facts.clusterEnabled {
            throw ReplicaLoadError.notApplicable(.clusterMode, "the target runs in cluster mode, where REPLICAOF is not allowed")
        }
        if facts.isReplica {
            throw ReplicaLoadError.notApplicable(.alreadyReplica, "the target already replicates another master")
        }
        guard facts.replicationID != nil else {
            throw ReplicaLoadError.notApplicable(.unknownServer, "INFO replication has no master_replid (Redis older than 4.0?)")
        }
        switch facts.accepts(rdbVersion: rdbVersion) {
        case nil:
            throw ReplicaLoadError.notApplicable(.unknownServer, "cannot tell which RDB versions redis_version \(facts.redisVersion) loads")
        case false?:
            throw ReplicaLoadError.notApplicable(
                .rdbVersionTooNew, "RDB version \(rdbVersion) is newer than the target's server (\(facts.valkeyVersion.map { "valkey \($0)" } ?? facts.redisVersion)) loads")
        case true?:
            return facts
        }
    }

    /// Replaces the target's whole dataset (every database and the functions) with the RDB.
    ///
    /// - Parameters:
    ///   - payload: The RDB.
    ///   - onLink: Called once the listener is bound and before `REPLICAOF` is sent; it must persist the link
    ///     for ``recover(target:link:timeout:logger:)``. If it throws, nothing was changed and the error is
    ///     rethrown.
    ///   - progress: Fraction done: up to 0.8 while the file is sent, then the target's `loading_loaded_perc`.
    /// - Returns: What was loaded.
    /// - Throws: ``ReplicaLoadError`` (see the type's documentation for what each case leaves behind), or
    ///   ``RedisError`` when the target cannot be reached before anything changed.
    package func load(
        _ payload: Payload,
        onLink: @Sendable (ReplicaLink) async throws -> Void = { _ in },
        progress: @Sendable (Double) async -> Void = { _ in }
    ) async throws -> ReplicaLoadSummary {
        let control = try await RedisConnection.connect(to: self.target, timeout: self.options.commandTimeout, logger: self.logger)
        do {
            let facts = try await self.probe(control, rdbVersion: payload.rdbVersion)
            let listener = try await ReplicaMasterListener.bind(host: self.options.listenHost, port: self.options.listenPort, logger: self.logger)
            let link = ReplicaLink(
                replicationID: Self.randomReplicationID(), targetReplicationID: facts.replicationID ?? "",
                advertisedHost: self.options.advertisedHost ?? self.options.listenHost, advertisedPort: self.options.advertisedPort ?? listener.port)
            let served = ReplicaMasterListener.Payload(
                replicationID: link.replicationID, expectedReplicaID: link.targetReplicationID, length: payload.length, chunks: payload.chunks,
                pingInterval: self.options.pingInterval)
            // Unstructured, so the caller's cancellation does not reach the accept loop: NIO drops (and traps on)
            // a connection accepted after the loop stopped while the socket is still open. Only `close()` ends it.
            let serving = Task { await listener.run(served) }
            let summary: ReplicaLoadSummary
            do {
                summary = try await self.drive(control, listener: listener, link: link, facts: facts, payload: payload, onLink: onLink, progress: progress)
            } catch {
                await listener.close()
                await serving.value
                throw error
            }
            await listener.close()
            await serving.value
            await control.close()
            return summary
        } catch {
            await control.close()
            throw error
        }
    }

    /// Sends `REPLICAOF`, watches the transfer and the load, and detaches the target whatever happens.
    private func drive(
        _ control: RedisConnection, listener: ReplicaMasterListener, link: ReplicaLink, facts: ReplicaTargetFacts, payload: Payload,
        onLink: @Sendable (ReplicaLink) async throws -> Void, progress: @Sendable (Double) async -> Void
    ) async throws -> ReplicaLoadSummary {
        try await onLink(link)
        let reply = try await control.command(["REPLICAOF", link.advertisedHost, String(link.advertisedPort)])
        if let message = reply.errorMessage {
            throw ReplicaLoadError.notApplicable(.replicaofRefused, message)
        }
        let started = ContinuousClock.now
        self.logger.debug(
            "Target replicates from Coffer", metadata: ["advertised": "\(link.advertisedHost):\(link.advertisedPort)", "bytes": "\(payload.length)"])
        let connectDeadline = started + self.options.connectTimeout
        let loadDeadline = started + self.options.loadTimeBase + .seconds(Double(payload.length) / Double(max(1, self.options.minimumThroughput)))
        var streamedAt: ContinuousClock.Instant?
        do {
            while true {
                try await Task.sleep(for: self.options.pollInterval)
                let status = listener.status
                if let failure = status.failure { throw Stop.failed(failure) }
                let now = ContinuousClock.now
                guard status.synchronising else {
                    if now >= connectDeadline {
                        let refused = status.refusedPeers == 0 ? "" : " (\(status.refusedPeers) other peer(s) refused)"
                        throw Stop.unreachable(
                            "the target did not connect to \(link.advertisedHost):\(link.advertisedPort) within \(self.options.connectTimeout)\(refused)")
                    }
                    continue
                }
                if now >= loadDeadline { throw Stop.failed("the target did not load \(payload.length) bytes within the time limit") }
                guard status.streamed else {
                    await progress(payload.length == 0 ? 0.8 : 0.8 * Double(status.bytesSent) / Double(payload.length))
                    continue
                }
                if streamedAt == nil { streamedAt = now }
                let info = try await control.info()
                if Self.isLoaded(info, link: link) { break }
                if let percent = info.value("loading_loaded_perc", in: "persistence").flatMap(Double.init) {
                    await progress(0.8 + 0.2 * min(percent, 100) / 100)
                }
            }
        } catch {
            let reason: String
            switch error {
            case Stop.unreachable(let detail), Stop.failed(let detail): reason = detail
            case is CancellationError: reason = "cancelled"
            default: reason = "\(error)"
            }
            // An unstructured task: a cancelled caller must still get its target detached.
            let detached = await Task { await self.detach(control, link: link, facts: facts) }.value
            self.logger.debug("Replication restore stopped", metadata: ["reason": "\(reason)", "detached": "\(detached)"])
            switch (error, detached) {
            case (Stop.unreachable, .unchanged): throw ReplicaLoadError.notApplicable(.unreachable, reason)
            case (_, .unchanged): throw ReplicaLoadError.rolledBack(reason)
            case (_, .loaded): throw ReplicaLoadError.unverified("\(reason); the target had nevertheless loaded the whole snapshot")
            case (_, .unknown(let detail)): throw ReplicaLoadError.unverified("\(reason); \(detail)")
            }
        }
        await progress(1)
        do {
            try await Self.replicaofNoOne(control, deadline: ContinuousClock.now + self.options.commandTimeout)
            let after = try await control.info()
            return ReplicaLoadSummary(
                keys: after.dbKeyCounts?.values.reduce(0) { $0 + $1.keys } ?? 0, bytes: payload.length,
                transfer: (streamedAt ?? started) - started, duration: ContinuousClock.now - started)
        } catch {
            throw ReplicaLoadError.unverified("the target loaded the snapshot but REPLICAOF NO ONE failed: \(error)")
        }
    }

    /// Whether `info` shows the target done with our snapshot.
    static func isLoaded(_ info: RedisInfo, link: ReplicaLink) -> Bool {
        info.role == "slave" && info.value("master_host", in: "replication") == link.advertisedHost
            && info.value("master_port", in: "replication") == String(link.advertisedPort)
            && info.value("master_link_status", in: "replication") == "up"
            && info.value("master_sync_in_progress", in: "replication") == "0"
            && info.value("loading", in: "persistence") == "0"
            && info.value("master_replid", in: "replication") == link.replicationID
    }

    /// After a stop: `REPLICAOF NO ONE` (on the control connection, or a new one if it broke) and the id check.
    private func detach(_ control: RedisConnection, link: ReplicaLink, facts: ReplicaTargetFacts) async -> Detached {
        do {
            let connection = await control.isOpen ? control : try await RedisConnection.connect(to: self.target, timeout: self.options.commandTimeout, logger: self.logger)
            defer { if connection !== control { Task { await connection.close() } } }
            try await Self.replicaofNoOne(connection, deadline: ContinuousClock.now + self.options.commandTimeout)
            let info = try await connection.info()
            let replid = info.value("master_replid", in: "replication")
            let replid2 = info.value("master_replid2", in: "replication")
            if replid2 == link.replicationID || replid == link.replicationID { return .loaded }
            guard replid2 == link.targetReplicationID || replid == link.targetReplicationID else {
                return .unknown("the target's replication ids changed (it loaded another master's data?)")
            }
            let keys = info.dbKeyCounts?.values.reduce(0) { $0 + $1.keys } ?? 0
            if facts.keys > 0 && keys == 0 { return .unknown("the target held \(facts.keys) keys before and none now") }
            return .unchanged
        } catch {
            return .unknown("could not detach the target: \(error)")
        }
    }

    /// `REPLICAOF NO ONE`, retried while the target answers `-LOADING` (it refuses the command while it
    /// loads a received file).
    static func replicaofNoOne(_ connection: RedisConnection, deadline: ContinuousClock.Instant) async throws {
        while true {
            let reply = try await connection.command(["REPLICAOF", "NO", "ONE"])
            guard let message = reply.errorMessage else { return }
            guard message.hasPrefix("LOADING"), ContinuousClock.now < deadline else { throw RedisError.fromErrorReply(message) }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    /// 40 lower-case hex characters, as Redis' own replication ids.
    static func randomReplicationID() -> String {
        var generator = SystemRandomNumberGenerator()
        let digits = Array("0123456789abcdef")
        return String((0..<40).map { _ in digits[Int(generator.next(upperBound: UInt8(16)))] })
    }
}
