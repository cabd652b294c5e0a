import Synchronization

/// The multipart uploads this process's writers are still filling: the sweep never aborts those.
final class LiveUploads: Sendable {
    private let ids = Mutex<Set<String>>([])

    func insert(_ id: String) { _ = self.ids.withLock { $0.insert(id) } }
    func remove(_ id: String) { _ = self.ids.withLock { $0.remove(id) } }
    func contains(_ id: String) -> Bool { self.ids.withLock { $0.contains(id) } }
}
