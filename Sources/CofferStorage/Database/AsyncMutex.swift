/// A FIFO async lock: the SQLite provider has one connection, and a transaction must not interleave
/// with other statements on it.
package actor AsyncMutex {
    private var locked = false
    private var waiters: [CheckedContinuation<Void, Never>] = []

    package init() {}

    /// Runs `body` while holding the lock.
    package func withLock<R: Sendable>(_ body: @Sendable () async throws -> R) async throws -> R {
        await self.lock()
        defer { self.unlock() }
        return try await body()
    }

    private func lock() async {
        if !self.locked {
            self.locked = true
            return
        }
        await withCheckedContinuation { self.waiters.append($0) }
    }

    private func unlock() {
        if self.waiters.isEmpty {
            self.locked = false
        } else {
            // The lock passes directly to the next waiter; `locked` stays true.
            self.waiters.removeFirst().resume()
        }
    }
}
