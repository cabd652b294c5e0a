import CofferCore
import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// One named lease (`LeaseStore`) this node competes for: the node that holds it runs the cluster-wide periodic
/// work it names (a scheduler's tick, job recovery); the others skip their ticks.
///
/// `isLeader()` takes or renews the lease in the database right before a tick, so a node that lost it (paused past
/// its expiry, another node took over) does not tick. `keepRenewing()` renews it between ticks (every third of
/// `duration`), so the leader stays the same node while it lives, and gives it up on graceful shutdown so another
/// node takes over at once; a node that dies leaves it to expire (`duration`, 30 s by default).
package final class Leadership: Sendable {
    package let name: String
    package let owner: String
    let store: any LeaseStore
    let duration: Duration
    let logger: Logger
    let clock: @Sendable () -> Date
    private let held = Atomic<Bool>(false)

    package init(
        name: String, owner: String, store: any LeaseStore, duration: Duration = .seconds(30), logger: Logger,
        clock: @escaping @Sendable () -> Date = { Date() }
    ) {
        self.name = name
        self.owner = owner
        self.store = store
        self.duration = duration
        self.logger = logger
        self.clock = clock
    }

    /// Takes or renews the lease; whether this node holds it now. A database error counts as "not the leader":
    /// skipping a tick is safe, running one twice is what the lease prevents.
    package func isLeader() async -> Bool {
        let holds: Bool
        do {
            holds = try await self.store.acquire(name: self.name, owner: self.owner, duration: self.duration.seconds, now: self.clock())
        } catch {
            self.logger.error("Taking a scheduler lease failed", metadata: ["lease": "\(self.name)", "error": "\(error)"])
            holds = false
        }
        if self.held.exchange(holds, ordering: .relaxed) != holds {
            self.logger.info(holds ? "Scheduler lease taken" : "Scheduler lease lost", metadata: ["lease": "\(self.name)", "owner": "\(self.owner)"])
        }
        return holds
    }

    /// Renews (or tries to take) the lease every third of `duration` until graceful shutdown or cancellation.
    /// Graceful shutdown releases it; cancellation (a test's simulated crash) leaves it to expire.
    package func keepRenewing() async {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            _ = await self.isLeader()
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: self.duration / 3) }
        }
        guard Task.isShuttingDownGracefully, self.held.load(ordering: .relaxed) else { return }
        // Not cut short by the cancellation that follows graceful shutdown.
        let (store, name, owner) = (self.store, self.name, self.owner)
        await Task { try? await store.release(name: name, owner: owner) }.value
        self.held.store(false, ordering: .relaxed)
    }
}

/// Runs a scheduler together with its leadership's renewal loop: the scheduler asks `isLeader()` before each tick.
package struct Elected: Service {
    let leadership: Leadership
    let service: any Service

    package init(_ leadership: Leadership, _ service: any Service) {
        self.leadership = leadership
        self.service = service
    }

    package func run() async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await self.leadership.keepRenewing() }
            group.addTask { try await self.service.run() }
            try await group.waitForAll()
        }
    }
}

extension Optional where Wrapped == Leadership {
    /// Whether a tick may run: always without a leadership (one node, tests), else only on the lease's holder.
    package func allowsTick() async -> Bool {
        guard let leadership = self else { return true }
        return await leadership.isLeader()
    }
}
