/// A FIFO pool of resources (SQLite connections): each caller gets one to itself for the duration
/// of its closure, so a transaction never interleaves with other statements on its connection, while
/// different connections work in parallel.
package actor AsyncPool<Resource: Sendable> {
    private var free: [Resource]
    private var waiters: [CheckedContinuation<Resource, Never>] = []

    package init(_ resources: [Resource]) {
        precondition(!resources.isEmpty, "a pool needs at least one resource")
        self.free = resources
    }

    /// Runs `body` with a resource taken from the pool, waiting in arrival order when all are in use.
    package nonisolated func withResource<R: Sendable>(_ body: @Sendable (Resource) async throws -> R) async throws -> R {
        let resource = await self.take()
        do {
            let result = try await body(resource)
            await self.put(resource)
            return result
        } catch {
            await self.put(resource)
            throw error
        }
    }

    /// Every resource, for closing the pool.
    package func drain() -> [Resource] { self.free }

    private func take() async -> Resource {
        if let resource = self.free.popLast() { return resource }
        return await withCheckedContinuation { self.waiters.append($0) }
    }

    private func put(_ resource: Resource) {
        if self.waiters.isEmpty {
            self.free.append(resource)
        } else {
            // Handed straight to the next waiter.
            self.waiters.removeFirst().resume(returning: resource)
        }
    }
}
