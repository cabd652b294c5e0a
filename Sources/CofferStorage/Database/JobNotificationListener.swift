import Logging
import ServiceLifecycle
import Synchronization

/// One held `LISTEN coffer_jobs` connection per node: rings the local doorbell whenever any node enqueues a job
/// (`SQLJobStore` sends `pg_notify` in the enqueue's transaction), so a job queued on node A starts on node B at
/// once instead of at B's next poll.
///
/// A notification is a hint, not a delivery: one sent while the listener is reconnecting is lost, so the worker
/// keeps a slow poll as the safety net. The connection is reopened after a failure (the server restarted, the
/// network dropped), one second apart at first, doubling up to 30 s.
package final class JobNotificationListener: Service, Sendable {
    private let provider: PostgresProvider
    private let ring: @Sendable () -> Void
    private let logger: Logger
    private let listenings = Atomic<Int>(0)
    /// Fires the first time the listener is listening (tests wait for it before notifying).
    package let listening = StartSignal()

    init(provider: PostgresProvider, ring: @escaping @Sendable () -> Void, logger: Logger) {
        self.provider = provider
        self.ring = ring
        self.logger = logger
    }

    /// How many times a `LISTEN` started (1 + reconnects), for tests.
    package var connections: Int { self.listenings.load(ordering: .relaxed) }

    package func run() async throws {
        var backoff: Duration = .seconds(1)
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            let before = self.connections
            do {
                try await cancelWhenGracefulShutdown {
                    try await self.provider.listen(
                        on: SQLJobStore.notificationChannel,
                        listening: {
                            self.listenings.add(1, ordering: .relaxed)
                            self.listening.fire()
                            // Jobs enqueued while no connection listened got no bell: look once now.
                            self.ring()
                        },
                        notified: { _ in self.ring() })
                }
            } catch {
                guard !Task.isShuttingDownGracefully && !Task.isCancelled else { break }
                self.logger.warning("Job notification listener lost its connection; reconnecting", metadata: ["error": "\(error)"])
            }
            guard !Task.isShuttingDownGracefully && !Task.isCancelled else { break }
            // A connection that listened starts the backoff again; one that never got that far doubles it.
            backoff = self.connections > before ? .seconds(1) : min(backoff * 2, .seconds(30))
            let pause = backoff
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: pause) }
        }
    }
}
