import Synchronization

/// A FIFO pool of resources (SQLite connections): each caller gets one to itself for the duration
/// of its closure, so a transaction never interleaves with other statements on its connection, while
/// different connections work in parallel.
///
/// A lock rather than an actor: taking and returning a free connection are a few instructions, and as an
/// actor they were two executor hops on every query (a measurable share of a list request's time).
/// Only a caller that finds every resource taken suspends, on a continuation that `put` resumes.
package final class AsyncPool<Resource: Sendable>: Sendable {
    private struct State {
        var free: [Resource]
        var waiters: [CheckedContinuation<Resource, Never>] = []
    }

    private let state: Mutex<State>

    package init(_ resources: [Resource]) {
        precondition(!resources.isEmpty, "a pool needs at least one resource")
        self.state = Mutex(State(free: resources))
    }

    /// Runs `body` with a resource taken from the pool, waiting in arrival order when all are in use.
    package func withResource<R: Sendable>(_ body: (Resource) async throws -> R) async throws -> R {
        let resource = await self.take()
        defer { self.put(resource) }
        return try await body(resource)
    }

    private func take() async -> Resource {
        if let resource = self.state.withLock({ $0.free.popLast() }) { return resource }
        return await withCheckedContinuation { continuation in
            // Checked again under the lock: a resource returned since the first look must not be missed.
            let resource: Resource? = self.state.withLock { state in
                if let resource = state.free.popLast() { return resource }
                state.waiters.append(continuation)
                return nil
            }
            if let resource { continuation.resume(returning: resource) }
        }
    }

    private func put(_ resource: Resource) {
        // Handed straight to the longest waiter, if any; resumed outside the lock.
        let waiter: CheckedContinuation<Resource, Never>? = self.state.withLock { state in
            if state.waiters.isEmpty {
                state.free.append(resource)
                return nil
            }
            return state.waiters.removeFirst()
        }
        waiter?.resume(returning: resource)
    }
}
