import CofferRedis
import Synchronization

/// A client that keeps writing `SET <prefix>:<n> x` on its connection until the connection is closed under it: the
/// writer of an earlier attempt (a node stalled past its lease) in tests of what a recovery fences out.
package final class StrayWriter: Sendable {
    private final class Count: Sendable {
        let value = Mutex(0)
    }
    private let written = Count()
    private let loop: Task<Void, Never>

    /// Starts writing at once.
    package init(_ connection: RedisConnection, keyPrefix: String) {
        let written = self.written
        self.loop = Task {
            while (try? await connection.commandExpectingSuccess(["SET", "\(keyPrefix):\(written.value.withLock { $0 })", "x"])) != nil {
                written.value.withLock { $0 += 1 }
            }
        }
    }

    /// The writes that succeeded so far.
    package var writes: Int { self.written.value.withLock { $0 } }

    /// Waits until `count` writes succeeded (or `deadline` passed): the writer is then surely running.
    package func waitForWrites(_ count: Int, until deadline: ContinuousClock.Instant) async throws {
        while self.writes < count && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(5)) }
    }

    /// Waits until a write failed: the connection was closed.
    package func stopped() async { await self.loop.value }
}
