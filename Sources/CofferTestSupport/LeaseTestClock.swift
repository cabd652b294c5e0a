import Foundation

/// The clock a lease test reads and moves, chosen so that a busy machine cannot make it fail.
///
/// On SQLite the times a caller passes judge expiry, so the clock is virtual: `passShortLease` adds to it and
/// nothing sleeps. On PostgreSQL the database's own clock judges, so the clock is real and `passShortLease`
/// sleeps; its short lease is long enough that the few calls made before the wait fit in it however loaded CI is.
package struct LeaseTestClock: Sendable {
    private let real: Bool
    private var virtual: Date

    package init(_ database: TestDatabase) {
        self.real = database == .postgres
        self.virtual = Date()
    }

    /// A lease meant to expire during the test: 0.5 s of virtual time, or 4 s of real time.
    package var shortLease: TimeInterval { real ? 4 : 0.5 }

    package var now: Date { real ? Date() : virtual }

    /// Moves past a short lease taken now.
    package mutating func passShortLease() async throws {
        let step = shortLease + 0.5
        if real { try await Task.sleep(for: .seconds(step)) } else { virtual += step }
    }
}
