import CofferStorage
import ServiceLifecycle

/// Runs `service` once start-up work is done (migrations, first account), so that a service that uses
/// the database never meets a schema that is not there yet — hummingbird-postgres's job queue likewise
/// waits for its migrations. A shutdown before start-up finished ends it without running `service`.
struct AfterStartup: Service {
    let ready: StartSignal
    let service: any Service

    func run() async throws {
        let ready = self.ready
        do {
            try await cancelWhenGracefulShutdown { try await ready.wait() }
        } catch is CancellationError {
            return
        }
        // Shut down before start-up finished: nothing to run.
        guard ready.hasFired, !Task.isCancelled else { return }
        try await self.service.run()
    }
}
