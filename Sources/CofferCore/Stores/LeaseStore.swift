import Foundation

/// Named leases (`leases` rows): which node runs a piece of cluster-wide periodic work (a scheduler, job recovery)
/// while several nodes share one database.
///
/// A lease is held by one owner until it expires; the holder renews it by acquiring again. On PostgreSQL the
/// database's clock times and judges leases, so nodes whose clocks disagree still agree on who holds one.
package protocol LeaseStore: Sendable {
    /// Takes the lease `name` for `owner` for `duration` seconds when it is free, expired or already `owner`'s
    /// (then it is renewed). `now` is the caller's clock; PostgreSQL uses its own.
    /// - Returns: whether `owner` holds the lease now.
    func acquire(name: String, owner: String, duration: TimeInterval, now: Date) async throws -> Bool
    /// Gives the lease up if `owner` holds it (clean shutdown), so another node takes over at once.
    func release(name: String, owner: String) async throws
    /// The current holder of `name` whose lease has not expired, if any.
    func holder(name: String, now: Date) async throws -> String?
}
