import CofferCore
import Synchronization

/// Signing keys (access key → secret, lock state, principal) read in the last second, so that a busy AK/SK
/// client costs no identity query per request.
///
/// Why it is safe: every identity write on this node empties it before it returns (password change, user
/// deletion, a failure counted, a lock set or cleared), so this node never authenticates with state older than
/// its own last write. Another node's write is seen once the entry's `lifetime` has passed (one second by
/// default): that is how long a user deleted through one node can still sign on another. Unknown keys are
/// not cached, so a new key works at once everywhere.
final class SigningKeyCache: Sendable {
    private struct Entry {
        var key: SigningKey
        var expires: ContinuousClock.Instant
    }

    private let entries = Mutex<[String: Entry]>([:])
    private let lifetime: Duration
    /// A bound on memory when many keys sign at once: past it the cache starts over.
    private let capacity: Int

    init(lifetime: Duration = .seconds(1), capacity: Int = 4096) {
        self.lifetime = lifetime
        self.capacity = capacity
    }

    /// The cached key, or the one `load` reads (cached when found).
    func key(_ accessKey: String, load: () async throws -> SigningKey?) async throws -> SigningKey? {
        let now = ContinuousClock.now
        if let entry = self.entries.withLock({ $0[accessKey] }), entry.expires > now { return entry.key }
        // The generation read before loading: a write that lands while the query runs must not be papered
        // over by caching what the query saw before it.
        let generation = self.generation.withLock { $0 }
        guard let key = try await load() else { return nil }
        let expires = now + self.lifetime
        self.generation.withLock { current in
            guard current == generation else { return }
            self.entries.withLock {
                if $0.count >= self.capacity { $0.removeAll(keepingCapacity: true) }
                $0[accessKey] = Entry(key: key, expires: expires)
            }
        }
        return key
    }

    /// Forgets everything; called by every identity write.
    func invalidate() {
        self.generation.withLock { current in
            current &+= 1
            self.entries.withLock { $0.removeAll(keepingCapacity: true) }
        }
    }

    private let generation = Mutex<UInt64>(0)
}
