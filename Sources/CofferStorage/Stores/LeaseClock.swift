import Foundation
import SQLKit

/// Which clock times and judges leases (jobs, lease rows, binlog nodes): on PostgreSQL, shared by several nodes,
/// the database's `now()`, so nodes whose clocks disagree still agree on whether a lease expired; the caller's
/// `now`/`until` then only give the lease's length. On SQLite (one node) the process clock, as passed in.
extension DatabaseKind {
    /// The database clock in epoch milliseconds, the column type of every lease time (PostgreSQL).
    static let postgresNow = "(EXTRACT(EPOCH FROM now()) * 1000)::bigint"

    /// The time a lease taken at `now` until `until` ends.
    func leaseEnd(until: Date, now: Date) -> SQLQueryString {
        switch self {
        case .sqlite: return "\(bind: millis(until))"
        case .postgres: return "(\(unsafeRaw: Self.postgresNow) + \(bind: millis(until) - millis(now)))"
        }
    }

    /// "Now" for judging whether a lease expired.
    func leaseNow(_ now: Date) -> SQLQueryString {
        switch self {
        case .sqlite: return "\(bind: millis(now))"
        case .postgres: return "\(unsafeRaw: Self.postgresNow)"
        }
    }
}
