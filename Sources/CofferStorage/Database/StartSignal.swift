import Synchronization

/// A one-shot signal: `wait()` returns once `fire()` has been called, at once if it already was.
///
/// Orders start-up without sleeping: code that needs a service to have started waits for the service to
/// say so.
package final class StartSignal: Sendable {
    private struct State {
        var fired = false
        var nextID = 0
        var waiters: [Int: CheckedContinuation<Void, any Error>] = [:]
    }

    private let state = Mutex(State())

    package init() {}

    package var hasFired: Bool { self.state.withLock { $0.fired } }

    /// Wakes every waiter, now and later.
    package func fire() {
        let waiters = self.state.withLock { state in
            state.fired = true
            defer { state.waiters = [:] }
            return Array(state.waiters.values)
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Returns once the signal has fired; throws `CancellationError` when the task is cancelled first.
    package func wait() async throws {
        let id = self.state.withLock { state in
            defer { state.nextID += 1 }
            return state.nextID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let resumeWith: Result<Void, any Error>? = self.state.withLock { state in
                    if state.fired { return .success(()) }
                    if Task.isCancelled { return .failure(CancellationError()) }
                    state.waiters[id] = continuation
                    return nil
                }
                if let resumeWith { continuation.resume(with: resumeWith) }
            }
        } onCancel: {
            let waiter = self.state.withLock { $0.waiters.removeValue(forKey: id) }
            waiter?.resume(throwing: CancellationError())
        }
    }
}
