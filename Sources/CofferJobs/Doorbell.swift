import Synchronization

/// Wakes idle claim loops as soon as a job is enqueued, so a new job starts at once instead of at the
/// next poll (the poll stays, for jobs enqueued by another server on a shared database).
package final class Doorbell: Sendable {
    private let waiters = Mutex<[UInt64: CheckedContinuation<Void, Never>]>([:])
    private let nextID = Atomic<UInt64>(0)

    package init() {}

    /// Wakes every waiter.
    package func ring() {
        let woken = self.waiters.withLock { waiters in
            defer { waiters.removeAll() }
            return Array(waiters.values)
        }
        for continuation in woken { continuation.resume() }
    }

    /// Returns after `timeout`, or earlier when rung (or cancelled).
    package func wait(timeout: Duration) async {
        let id = self.nextID.add(1, ordering: .relaxed).newValue
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                await withTaskCancellationHandler {
                    await withCheckedContinuation { continuation in
                        self.waiters.withLock { $0[id] = continuation }
                    }
                } onCancel: {
                    self.waiters.withLock { $0.removeValue(forKey: id) }?.resume()
                }
            }
            group.addTask { try? await Task.sleep(for: timeout) }
            await group.next()
            group.cancelAll()
        }
    }
}
