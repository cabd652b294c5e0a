import CofferCore
import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// Runs queued jobs with leases, and recovers the jobs of workers that died.
///
/// Each of `concurrency` loops claims one job at a time; an idle loop waits for the doorbell (rung by enqueues in
/// this process and, on PostgreSQL, by other nodes' enqueues through `LISTEN`) or the poll, the safety net. While a job runs, its lease is renewed every
/// third of `leaseDuration`; a renewal that fails (another server took the job over after our lease
/// expired) cancels the handler. On graceful shutdown the loops stop claiming, running jobs get
/// `shutdownGrace` to finish, then they are cancelled and released (idempotent kinds) or failed.
package final class JobWorker: Service {
    package struct Configuration: Sendable {
        package var concurrency: Int = 2
        package var leaseDuration: Duration = .seconds(30)
        package var pollInterval: Duration = .milliseconds(200)
        package var recoveryInterval: Duration = .seconds(5)
        package var shutdownGrace: Duration = .seconds(20)

        package init() {}
    }

    private let store: any JobStore
    private let handlers: [String: any JobHandler]
    private let owner: String
    private let configuration: Configuration
    private let logger: Logger
    private let clock: @Sendable () -> Date
    /// Rung by `wake()`, or by whoever shares it, when a job is enqueued in this process.
    private let doorbell: Doorbell
    /// With several nodes: only the holder of this lease recovers expired jobs (one node's queries, not N).
    private let recoveryLeadership: Leadership?
    /// Set once graceful shutdown starts: when running jobs must be given up.
    private let shutdownDeadline = Mutex<ContinuousClock.Instant?>(nil)

    package init(
        store: any JobStore, handlers: [any JobHandler], configuration: Configuration = .init(), doorbell: Doorbell = Doorbell(),
        logger: Logger, clock: @escaping @Sendable () -> Date = { Date() }, recoveryLeadership: Leadership? = nil
    ) {
        self.recoveryLeadership = recoveryLeadership
        self.doorbell = doorbell
        self.store = store
        self.handlers = Dictionary(handlers.map { ($0.kind, $0) }, uniquingKeysWith: { first, _ in first })
        self.owner = "worker-" + Identifiers.uuid()
        self.configuration = configuration
        self.logger = logger
        self.clock = clock
    }

    private var isShuttingDown: Bool { self.shutdownDeadline.withLock { $0 != nil } }

    /// Tells idle loops that a job was just enqueued, so it starts now rather than at the next poll.
    package func wake() { self.doorbell.ring() }

    package func run() async throws {
        await withGracefulShutdownHandler {
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await self.recoveryLoop() }
                if let leadership = self.recoveryLeadership { group.addTask { await leadership.keepRenewing() } }
                for _ in 0..<self.configuration.concurrency {
                    group.addTask { await self.claimLoop() }
                }
            }
        } onGracefulShutdown: {
            self.shutdownDeadline.withLock { $0 = ContinuousClock.now.advanced(by: self.configuration.shutdownGrace) }
            self.doorbell.ring()
        }
    }

    /// Finds jobs whose lease expired (their worker died) and requeues or fails them.
    /// - Returns: how many jobs it resolved.
    @discardableResult
    package func recoverExpiredJobs() async throws -> Int {
        let now = self.clock()
        var resolved = 0
        for job in try await self.store.expiredJobs(now: now) {
            let handler = self.handlers[job.kind]
            let retry = (handler?.isIdempotent ?? false) && job.attempts < job.maxAttempts
            let reason = "the worker running this job stopped (lease expired)"
            guard try await self.store.resolveExpired(jobID: job.id, requeue: retry, error: reason, now: now) else { continue }
            resolved += 1
            if retry { self.doorbell.ring() }
            self.logger.warning(
                "Recovered job with expired lease", metadata: ["job.id": "\(job.id)", "job.kind": "\(job.kind)", "job.retry": "\(retry)"])
            if !retry { await handler?.jobFailed(job, reason: reason) }
        }
        return resolved
    }

    /// Claims and runs one job if one is queued. Tests drive the worker with this.
    /// - Returns: the job as it ended, or nil when none was queued.
    @discardableResult
    package func runOnce() async throws -> Job? {
        let now = self.clock()
        guard
            let job = try await self.store.claim(
                kinds: Array(self.handlers.keys), owner: self.owner, now: now,
                leaseUntil: now.addingTimeInterval(self.configuration.leaseDuration.seconds))
        else { return nil }
        await self.execute(job)
        return try await self.store.job(id: job.id)
    }

    private func recoveryLoop() async {
        while !self.isShuttingDown {
            if await self.recoveryLeadership.allowsTick() {
                do {
                    try await self.recoverExpiredJobs()
                } catch {
                    self.logger.error("Job recovery failed", metadata: ["error": "\(error)"])
                }
            }
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: self.configuration.recoveryInterval) }
        }
    }

    private func claimLoop() async {
        while !self.isShuttingDown {
            // Read before looking for work, so that a job enqueued (and rung for) after the look is not missed.
            let rings = self.doorbell.rings
            do {
                if try await self.runOnce() != nil { continue }
            } catch {
                self.logger.error("Claiming a job failed", metadata: ["error": "\(error)"])
            }
            await cancelWhenGracefulShutdown { await self.doorbell.wait(after: rings, timeout: self.configuration.pollInterval) }
        }
    }

    private enum Outcome: Sendable {
        case finished
        case failed(String)
        case leaseLost
        case interrupted
    }

    private func execute(_ job: Job) async {
        guard let handler = self.handlers[job.kind] else { return }
        var logger = self.logger
        logger[metadataKey: "job.id"] = "\(job.id)"
        logger[metadataKey: "job.kind"] = "\(job.kind)"
        logger.info("Job started")
        let outcome = await withTaskGroup(of: Outcome?.self) { group -> Outcome in
            group.addTask {
                do {
                    try await handler.run(job)
                    return .finished
                } catch {
                    return Task.isCancelled ? nil : .failed(String(describing: error))
                }
            }
            group.addTask { await self.keepLease(job) }
            var result: Outcome = .interrupted
            for await next in group {
                if let next {
                    result = next
                    group.cancelAll()
                    break
                }
            }
            return result
        }
        let now = self.clock()
        do {
            switch outcome {
            case .finished:
                _ = try await self.store.finish(jobID: job.id, owner: self.owner, status: .succeeded, error: nil, now: now)
                logger.info("Job succeeded")
            case .failed(let reason):
                if handler.isIdempotent && job.attempts < job.maxAttempts, try await self.store.release(jobID: job.id, owner: self.owner, now: now) {
                    logger.warning("Job failed, queued again", metadata: ["error": "\(reason)"])
                } else if try await self.store.finish(jobID: job.id, owner: self.owner, status: .failed, error: reason, now: now) {
                    logger.error("Job failed", metadata: ["error": "\(reason)"])
                    await handler.jobFailed(job, reason: reason)
                }
            case .interrupted:
                if handler.isIdempotent, try await self.store.release(jobID: job.id, owner: self.owner, now: now) {
                    logger.notice("Job released at shutdown")
                } else if try await self.store.finish(
                    jobID: job.id, owner: self.owner, status: .failed, error: "interrupted by server shutdown", now: now)
                {
                    logger.warning("Job failed: interrupted by shutdown")
                    await handler.jobFailed(job, reason: "interrupted by server shutdown")
                }
            case .leaseLost:
                // Another worker took over (or recovery failed it); its outcome stands.
                logger.warning("Job lease lost")
            }
        } catch {
            logger.error("Recording the job outcome failed; recovery will resolve it", metadata: ["error": "\(error)"])
        }
    }

    /// Renews the lease until cancelled. Returns `.leaseLost` when renewal is refused, `.interrupted` when the
    /// shutdown grace period is over, and nil when cancelled because the job ended.
    private func keepLease(_ job: Job) async -> Outcome? {
        let period = self.configuration.leaseDuration / 3
        let tick = min(period, .milliseconds(250))
        var nextRenewal = ContinuousClock.now.advanced(by: period)
        while !Task.isCancelled {
            if let deadline = self.shutdownDeadline.withLock({ $0 }), ContinuousClock.now >= deadline { return .interrupted }
            if ContinuousClock.now >= nextRenewal {
                let now = self.clock()
                let renewed = try? await self.store.renewLease(
                    jobID: job.id, owner: self.owner, until: now.addingTimeInterval(self.configuration.leaseDuration.seconds), now: now)
                if renewed == false { return .leaseLost }
                nextRenewal = ContinuousClock.now.advanced(by: period)
            }
            try? await Task.sleep(for: tick)
        }
        return nil
    }
}

extension Duration {
    /// The duration in seconds, as a `TimeInterval`.
    var seconds: TimeInterval {
        let (s, attoseconds) = self.components
        return TimeInterval(s) + TimeInterval(attoseconds) / 1e18
    }
}
