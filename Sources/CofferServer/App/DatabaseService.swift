import CofferStorage
import ServiceLifecycle

/// Keeps the store open for the application's lifetime and closes it last on shutdown.
struct DatabaseService: Service {
    let store: CofferStore

    func run() async throws {
        try? await gracefulShutdown()
        await self.store.close()
    }
}
