import Synchronization

/// A FIFO pool of resources (SQLite connections): each caller gets one to itself for the duration
/// of its closure, so a transaction never interleaves with other statements on its connection, while
/// different connections work in parallel.
///
/// A lock rather than an actor: taking and returning a free connection are a few instructions, and as an
/// actor they were two executor hops on every query (a measurable share of a list request's time).
/// Only a caller that finds every resource taken suspends, on a continuation that `put` resumes.
///
/// `drain()` ends the pool: it waits for every resource to come back and hands them to the owner to close. From
/// then on callers get ``StorageError/closed`` instead of a resource, so a late query (a job or request still
/// winding down when the database service stops) fails cleanly rather than running on a closed SQLite handle.
package final class AsyncPool<Resource: Sendable>: Sendable {
    private struct State {
        var free: [Resource]
        var waiters: [CheckedContinuation<Resource?, Never>] = []
        var closed = false
        /// The caller of `drain()`, resumed when every resource is back.
        var drainer: CheckedContinuation<[Resource], Never>?
    }

    /// What a look into the pool found.
    private enum Look {
        case taken(Resource)
        case closed
        case busy
    }

    /// Who gets a resource given back.
    private enum Next {
        case waiter(CheckedContinuation<Resource?, Never>)
        case drained(CheckedContinuation<[Resource], Never>, [Resource])
        case none
    }

    private let state: Mutex<State>
    private let total: Int

    package init(_ resources: [Resource]) {
        precondition(!resources.isEmpty, "a pool needs at least one resource")
        self.state = Mutex(State(free: resources))
        self.total = resources.count
    }

    /// Runs `body` with a resource taken from the pool, waiting in arrival order when all are in use.
    /// - Throws: ``StorageError/closed`` once the pool is drained (or draining).
    package func withResource<R: Sendable>(_ body: (Resource) async throws -> R) async throws -> R {
        guard let resource = await self.take() else { throw StorageError.closed }
        defer { self.put(resource) }
        return try await body(resource)
    }

    /// Closes the pool to new callers, fails the waiting ones, and returns every resource once the last one in
    /// use is given back (each caller's closure has finished). Called once, by the owner, before it closes them.
    package func drain() async -> [Resource] {
        await withCheckedContinuation { continuation in
            let (waiters, ready): ([CheckedContinuation<Resource?, Never>], [Resource]?) = self.state.withLock { state in
                precondition(!state.closed, "a pool is drained once")
                state.closed = true
                let waiters = state.waiters
                state.waiters = []
                if state.free.count == self.total {
                    let free = state.free
                    state.free = []
                    return (waiters, free)
                }
                state.drainer = continuation
                return (waiters, nil)
            }
            for waiter in waiters { waiter.resume(returning: nil) }
            if let ready { continuation.resume(returning: ready) }
        }
    }

    /// A free resource, the next one given back when none is, or nil once the pool is closed.
    private func take() async -> Resource? {
        let look: Look = self.state.withLock { state in
            if state.closed { return .closed }
            if let resource = state.free.popLast() { return .taken(resource) }
            return .busy
        }
        switch look {
        case .taken(let resource): return resource
        case .closed: return nil
        case .busy: break
        }
        return await withCheckedContinuation { continuation in
            // Checked again under the lock: a resource returned (or the pool closed) since the first look must not be missed.
            let now: Look = self.state.withLock { state in
                if state.closed { return .closed }
                if let resource = state.free.popLast() { return .taken(resource) }
                state.waiters.append(continuation)
                return .busy
            }
            switch now {
            case .taken(let resource): continuation.resume(returning: resource)
            case .closed: continuation.resume(returning: nil)
            case .busy: break
            }
        }
    }

    private func put(_ resource: Resource) {
        // Handed straight to the longest waiter, if any; resumed outside the lock.
        let next: Next = self.state.withLock { state in
            if !state.waiters.isEmpty { return .waiter(state.waiters.removeFirst()) }
            state.free.append(resource)
            if state.closed, state.free.count == self.total, let drainer = state.drainer {
                state.drainer = nil
                let free = state.free
                state.free = []
                return .drained(drainer, free)
            }
            return .none
        }
        switch next {
        case .waiter(let waiter): waiter.resume(returning: resource)
        case .drained(let drainer, let resources): drainer.resume(returning: resources)
        case .none: break
        }
    }
}
