import CofferCore
import Foundation
import SQLKit

/// `BackupMetricsStore` over SQL: three aggregate queries per scrape, each served by an existing index
/// (`dcs_backups_by_instance_time`, `ddm_backups_by_instance_time`, `jobs_by_status_time`).
package struct SQLBackupMetricsStore: BackupMetricsStore {
    private let provider: any DatabaseProvider

    package init(provider: any DatabaseProvider) {
        self.provider = provider
    }

    package func backupFreshness() async throws -> [BackupFreshness] {
        try await self.provider.withDatabase { db in
            let dcs = try await db.raw(
                """
                SELECT i.id AS id, i.created_at AS created_at, MAX(b.created_at) AS newest
                FROM dcs_instances i LEFT JOIN dcs_backups b
                  ON b.project_id = i.project_id AND b.instance_id = i.id AND b.status = 'succeed'
                WHERE i.deleted_at IS NULL GROUP BY i.id, i.created_at
                """
            ).all()
            let ddm = try await db.raw(
                """
                SELECT i.id AS id, i.created_at AS created_at, MAX(COALESCE(b.cut_at, b.created_at)) AS newest
                FROM ddm_instances i LEFT JOIN ddm_backups b
                  ON b.project_id = i.project_id AND b.instance_id = i.id AND b.status = 'normal'
                WHERE i.deleted_at IS NULL GROUP BY i.id, i.created_at
                """
            ).all()
            return try dcs.map { try Self.freshness($0, .dcs) } + ddm.map { try Self.freshness($0, .ddm) }
        }
    }

    private static func freshness(_ row: any SQLRow, _ service: BackupFreshness.Service) throws -> BackupFreshness {
        BackupFreshness(
            service: service, instanceID: try row.string("id"), instanceCreatedAt: try row.date("created_at"),
            newestSuccessAt: try row.optionalDate("newest"))
    }

    package func jobQueueDepth() async throws -> [JobQueueDepth] {
        let rows = try await self.provider.withDatabase { db in
            try await db.raw(
                "SELECT kind, status, COUNT(*) AS n FROM jobs WHERE status IN ('queued', 'running') GROUP BY kind, status"
            ).all()
        }
        return try rows.compactMap { row in
            guard let status = Job.Status(rawValue: try row.string("status")) else { return nil }
            return JobQueueDepth(kind: try row.string("kind"), status: status, count: try row.int("n"))
        }
    }

    /// The ids a backup or restore job's payload names (`dcs.backup`, `ddm.backup`, `ddm.restore`: `backup_id`;
    /// `dcs.restore`: `restore_id`).
    private struct PayloadIDs: Decodable {
        var backupID: String?
        var restoreID: String?
        enum CodingKeys: String, CodingKey {
            case backupID = "backup_id"
            case restoreID = "restore_id"
        }
    }

    package func outcome(of job: Job) async throws -> JobOutcome {
        guard let ids = try? JSONDecoder().decode(PayloadIDs.self, from: Data(job.payload.utf8)) else {
            return JobOutcome(bytes: nil, errorCode: nil)
        }
        return try await self.provider.withDatabase { db in
            switch (job.knownKind, ids.backupID, ids.restoreID) {
            case (.dcsBackup?, let id?, _):
                let row = try await db.raw("SELECT size, error_code FROM dcs_backups WHERE id = \(bind: id)").first()
                return JobOutcome(
                    bytes: try row?.decode(column: "size", as: Int64?.self), errorCode: try row?.optionalString("error_code"))
            case (.dcsRestore?, _, let id?):
                let row = try await db.raw(
                    "SELECT r.error_code AS error_code, b.size AS size FROM dcs_restores r LEFT JOIN dcs_backups b ON b.id = r.backup_id WHERE r.id = \(bind: id)"
                ).first()
                return JobOutcome(
                    bytes: try row?.decode(column: "size", as: Int64?.self), errorCode: try row?.optionalString("error_code"))
            case (.ddmBackup?, let id?, _), (.ddmRestore?, let id?, _):
                let row = try await db.raw("SELECT size FROM ddm_backups WHERE id = \(bind: id)").first()
                return JobOutcome(bytes: try row?.decode(column: "size", as: Int64?.self), errorCode: nil)
            default:
                return JobOutcome(bytes: nil, errorCode: nil)
            }
        }
    }
}
