import Synchronization

/// Wakes idle claim loops as soon as a job is enqueued, so a new job starts at once instead of at the
/// next poll. On PostgreSQL other nodes' enqueues ring it too (`LISTEN coffer_jobs`); the poll stays as the
/// safety net for notifications missed while a listener reconnects.
///
/// A waiter reads `rings` *before* it looks for work and passes it to `wait(after:timeout:)`: a ring that
/// comes between the look and the wait then ends the wait at once instead of being lost.
package final class Doorbell: Sendable {
    private struct State {
        var rings: UInt64 = 0
        var waiters: [UInt64: CheckedContinuation<Void, Never>] = [:]
    }

    private let state = Mutex(State())
    private let nextID = Atomic<UInt64>(0)

    /// How many times the bell has rung so far.
    package var rings: UInt64 { self.state.withLock { $0.rings } }

    /// How many waits are parked (tests wait for this before ringing).
    package var waiting: Int { self.state.withLock { $0.waiters.count } }

    package init() {}

    /// Wakes every waiter.
    package func ring() {
        let woken = self.state.withLock { state in
            state.rings &+= 1
            defer { state.waiters.removeAll() }
            return Array(state.waiters.values)
        }
        for continuation in woken { continuation.resume() }
    }

    /// Returns after `timeout`, or earlier when rung (or cancelled). With `seen`, a ring since `rings` was
    /// `seen` counts too, so the wait returns at once.
    package func wait(after seen: UInt64? = nil, timeout: Duration) async {
        let id = self.nextID.add(1, ordering: .relaxed).newValue
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                await withTaskCancellationHandler {
                    await withCheckedContinuation { continuation in
                        // Cancellation that came before the continuation was stored found nothing to resume
                        // in `onCancel`; checking it under the lock closes that gap (else the wait hung until
                        // the next ring — forever for an already cancelled task or a zero timeout).
                        let returnNow = self.state.withLock { state in
                            if Task.isCancelled || seen.map({ $0 != state.rings }) == true { return true }
                            state.waiters[id] = continuation
                            return false
                        }
                        if returnNow { continuation.resume() }
                    }
                } onCancel: {
                    self.state.withLock { $0.waiters.removeValue(forKey: id) }?.resume()
                }
            }
            group.addTask { try? await Task.sleep(for: timeout) }
            await group.next()
            group.cancelAll()
        }
    }
}
