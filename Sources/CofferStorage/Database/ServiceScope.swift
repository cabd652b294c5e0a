import ServiceLifecycle

/// Runs `service` in a child task for the duration of `body`, then cancels it and waits for it to end:
/// the structured way to use a service (a database provider, the store) outside a `ServiceGroup`, as the
/// admin CLI and tests do.
package func withRunning<S: Service, R>(
    _ service: S, isolation: isolated (any Actor)? = #isolation, _ body: () async throws -> R
) async throws -> R {
    try await withThrowingTaskGroup(of: Void.self, isolation: isolation) { group in
        group.addTask { try await service.run() }
        defer { group.cancelAll() }
        return try await body()
    }
}
