import CofferCore
import Foundation
import SQLKit

/// `LeaseStore` over the `leases` table (migration 0130): one statement takes or renews a lease, the
/// `INSERT … ON CONFLICT … DO UPDATE … WHERE expired-or-mine` election River and swift-jobs use.
package struct SQLLeaseStore: LeaseStore {
    private let provider: any DatabaseProvider

    package init(provider: any DatabaseProvider) {
        self.provider = provider
    }

    package func acquire(name: String, owner: String, duration: TimeInterval, now: Date) async throws -> Bool {
        let until = now.addingTimeInterval(duration)
        let statement: SQLQueryString = """
            INSERT INTO leases (name, owner, expires_at) VALUES (\(bind: name), \(bind: owner), \(self.provider.kind.leaseEnd(until: until, now: now)))
            ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at
            WHERE leases.expires_at < \(self.provider.kind.leaseNow(now)) OR leases.owner = excluded.owner
            RETURNING owner
            """
        return try await self.provider.withDatabase { db in
            try await db.raw(statement).first()?.decode(column: "owner", as: String.self) == owner
        }
    }

    package func release(name: String, owner: String) async throws {
        try await self.provider.withDatabase { db in
            try await db.raw("DELETE FROM leases WHERE name = \(bind: name) AND owner = \(bind: owner)").run()
        }
    }

    package func holder(name: String, now: Date) async throws -> String? {
        let statement: SQLQueryString = "SELECT owner FROM leases WHERE name = \(bind: name) AND expires_at >= \(self.provider.kind.leaseNow(now))"
        return try await self.provider.withDatabase { db in
            try await db.raw(statement).first()?.decode(column: "owner", as: String.self)
        }
    }
}
