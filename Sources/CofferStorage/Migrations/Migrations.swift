import Foundation
import Logging
import SQLKit

/// The append-only list of schema migrations and the code that applies them.
///
/// Types are portable between SQLite and PostgreSQL: `TEXT` ids, `BIGINT` epoch-milliseconds,
/// `INTEGER` counters and flags, JSON kept in `TEXT`.
package enum Migrations {
    package static let all: [Migration] = [
        Migration(
            id: "0001_identity",
            [
                """
                CREATE TABLE domains (id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, created_at BIGINT NOT NULL)
                """,
                """
                CREATE TABLE projects (id TEXT PRIMARY KEY, domain_id TEXT NOT NULL REFERENCES domains(id),
                  name TEXT NOT NULL, created_at BIGINT NOT NULL, UNIQUE (domain_id, name))
                """,
                "CREATE INDEX projects_by_name ON projects (name)",
                """
                CREATE TABLE users (id TEXT PRIMARY KEY, domain_id TEXT NOT NULL REFERENCES domains(id),
                  project_id TEXT NOT NULL REFERENCES projects(id), name TEXT NOT NULL, password_hash TEXT NOT NULL,
                  password_changed_at BIGINT NOT NULL, created_at BIGINT NOT NULL, UNIQUE (domain_id, name))
                """,
                "CREATE INDEX users_by_name ON users (name)",
                """
                CREATE TABLE access_keys (access_key TEXT PRIMARY KEY, secret_sealed TEXT NOT NULL,
                  user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE, created_at BIGINT NOT NULL,
                  failures INTEGER NOT NULL DEFAULT 0, locked_until BIGINT)
                """,
                "CREATE INDEX access_keys_by_user ON access_keys (user_id)",
            ]),
        Migration(
            id: "0002_dcs",
            [
                """
                CREATE TABLE dcs_instances (id TEXT PRIMARY KEY, project_id TEXT NOT NULL, name TEXT NOT NULL,
                  engine TEXT NOT NULL, engine_version TEXT, host TEXT NOT NULL, port INTEGER NOT NULL, access_user TEXT,
                  password_sealed TEXT, description TEXT, status TEXT NOT NULL, capacity_gb DOUBLE PRECISION NOT NULL,
                  spec_code TEXT, backup_policy TEXT, extra TEXT NOT NULL, created_at BIGINT NOT NULL,
                  updated_at BIGINT NOT NULL, deleted_at BIGINT)
                """,
                "CREATE INDEX dcs_instances_by_project ON dcs_instances (project_id, created_at)",
                """
                CREATE TABLE dcs_backups (id TEXT PRIMARY KEY, project_id TEXT NOT NULL, instance_id TEXT NOT NULL,
                  name TEXT NOT NULL, backup_type TEXT NOT NULL, backup_format TEXT NOT NULL, status TEXT NOT NULL,
                  progress TEXT NOT NULL, size BIGINT NOT NULL, remark TEXT, error_code TEXT, period TEXT,
                  is_support_restore TEXT NOT NULL, created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL,
                  execution_at BIGINT, blob_key TEXT, sha256 TEXT)
                """,
                // The list query: one project, one instance, a created_at range, newest first.
                "CREATE INDEX dcs_backups_by_instance_time ON dcs_backups (project_id, instance_id, created_at, id)",
            ]),
        Migration(
            id: "0003_jobs",
            [
                """
                CREATE TABLE jobs (id TEXT PRIMARY KEY, kind TEXT NOT NULL, project_id TEXT NOT NULL,
                  resource_id TEXT NOT NULL, status TEXT NOT NULL, payload TEXT NOT NULL, attempts INTEGER NOT NULL,
                  max_attempts INTEGER NOT NULL, lease_owner TEXT, lease_expires_at BIGINT, error TEXT,
                  created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL, started_at BIGINT, finished_at BIGINT)
                """,
                // Claiming: the oldest queued job. Recovery: running jobs by lease expiry.
                "CREATE INDEX jobs_by_status_time ON jobs (status, created_at)",
                "CREATE INDEX jobs_by_status_lease ON jobs (status, lease_expires_at)",
                "CREATE INDEX jobs_by_project_time ON jobs (project_id, created_at)",
                // One task at a time per instance: the active job of a resource.
                "CREATE INDEX jobs_by_resource ON jobs (project_id, resource_id, status)",
            ]),
        Migration(
            id: "0004_one_task_per_resource",
            [
                // One queued-or-running job per resource (a DCS instance runs one task at a time), enforced by the
                // database so that two servers, or two racing requests, cannot both start one.
                "CREATE UNIQUE INDEX jobs_one_active_per_resource ON jobs (project_id, resource_id) WHERE status IN ('queued', 'running')"
            ]),
        Migration(
            id: "0005_user_lockout",
            [
                // Password-login lockout, kept in the database so that every server sharing it sees one counter:
                // consecutive failed logins, and the instant (epoch ms) until which the user is locked.
                "ALTER TABLE users ADD COLUMN login_failures INTEGER NOT NULL DEFAULT 0",
                "ALTER TABLE users ADD COLUMN locked_until BIGINT",
            ]),
        Migration(
            id: "0006_dcs_typed_backups",
            [
                // Typed columns (the wire strings 'TRUE'/'FALSE' and "42.10" live in the DTO only). Neither engine
                // changes a column's type in place the same way, so: a new table, every row copied with its values
                // converted, the old one dropped, the new one renamed, the index recreated.
                """
                CREATE TABLE dcs_backups_typed (id TEXT PRIMARY KEY, project_id TEXT NOT NULL, instance_id TEXT NOT NULL,
                  name TEXT NOT NULL, backup_type TEXT NOT NULL, backup_format TEXT NOT NULL, status TEXT NOT NULL,
                  progress INTEGER NOT NULL, size BIGINT NOT NULL, remark TEXT, error_code TEXT, period TEXT,
                  is_support_restore INTEGER NOT NULL, created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL,
                  execution_at BIGINT, blob_key TEXT, sha256 TEXT)
                """,
                // progress: "42.10" → 4210 (hundredths of a percent); is_support_restore: 'TRUE' → 1, anything else → 0.
                """
                INSERT INTO dcs_backups_typed (id, project_id, instance_id, name, backup_type, backup_format, status, progress,
                  size, remark, error_code, period, is_support_restore, created_at, updated_at, execution_at, blob_key, sha256)
                SELECT id, project_id, instance_id, name, backup_type, backup_format, status,
                  CAST(ROUND(CAST(progress AS DOUBLE PRECISION) * 100) AS INTEGER), size, remark, error_code, period,
                  CASE WHEN is_support_restore = 'TRUE' THEN 1 ELSE 0 END, created_at, updated_at, execution_at, blob_key, sha256
                FROM dcs_backups
                """,
                "DROP TABLE dcs_backups",
                "ALTER TABLE dcs_backups_typed RENAME TO dcs_backups",
                // The list query: one project, one instance, a created_at range, newest first.
                "CREATE INDEX dcs_backups_by_instance_time ON dcs_backups (project_id, instance_id, created_at, id)",
                // Records per (project, instance, UTC day), kept in the inserting transaction: the list's total_num
                // sums whole days here and counts only the partial first and last days in the index above.
                """
                CREATE TABLE dcs_backup_day_counts (project_id TEXT NOT NULL, instance_id TEXT NOT NULL, day BIGINT NOT NULL,
                  records BIGINT NOT NULL, PRIMARY KEY (project_id, instance_id, day))
                """,
                """
                INSERT INTO dcs_backup_day_counts (project_id, instance_id, day, records)
                SELECT project_id, instance_id, created_at / 86400000, COUNT(*) FROM dcs_backups
                GROUP BY project_id, instance_id, created_at / 86400000
                """,
            ]),
        Migration(
            id: "0007_dcs_auto_backup_slots",
            [
                // One automatic backup per instance and UTC day: the primary key is the uniqueness, `attempts` counts the
                // tries that found the instance busy, `outcome` is NULL while the slot is open ('enqueued', 'missed',
                // 'dropped' once closed) and `backup_id` names the record it produced.
                """
                CREATE TABLE dcs_auto_backup_slots (project_id TEXT NOT NULL, instance_id TEXT NOT NULL, day BIGINT NOT NULL,
                  attempts INTEGER NOT NULL, next_try_at BIGINT NOT NULL, window_end BIGINT NOT NULL, outcome TEXT, backup_id TEXT,
                  created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL, PRIMARY KEY (project_id, instance_id, day))
                """,
                // The scheduler's "open slots whose window has ended".
                "CREATE INDEX dcs_auto_backup_slots_open ON dcs_auto_backup_slots (window_end) WHERE outcome IS NULL",
            ]),
        Migration(
            id: "0008_dcs_restores",
            [
                // Restores of a DCS backup into an instance (`instance_id`, the target). A migration task
                // (`backupfile_import`) is a restore with a task name. Typed like dcs_backups: progress in hundredths
                // of a percent; `checkpoint` is the restore engine's opaque JSON; backup name and remark are copied
                // at creation (they never change) so the list needs no join.
                """
                CREATE TABLE dcs_restores (id TEXT PRIMARY KEY, project_id TEXT NOT NULL, instance_id TEXT NOT NULL,
                  backup_id TEXT NOT NULL, backup_instance_id TEXT NOT NULL, backup_name TEXT NOT NULL, backup_remark TEXT,
                  name TEXT NOT NULL, remark TEXT, status TEXT NOT NULL, progress INTEGER NOT NULL, error_code TEXT,
                  checkpoint TEXT, task_name TEXT, task_description TEXT, created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL)
                """,
                // The restore list: one project, one instance, a created_at range, newest first.
                "CREATE INDEX dcs_restores_by_instance_time ON dcs_restores (project_id, instance_id, created_at DESC, id)",
                // The migration task list: one project, newest first.
                "CREATE INDEX dcs_restores_tasks_by_time ON dcs_restores (project_id, created_at DESC, id) WHERE task_name IS NOT NULL",
            ]),
        // DDM ids start at 0100 so they never collide with the DCS line of migrations (0004, 0005, …).
        Migration(
            id: "0100_ddm",
            [
                """
                CREATE TABLE ddm_data_nodes (id TEXT PRIMARY KEY, project_id TEXT NOT NULL, name TEXT NOT NULL, host TEXT NOT NULL,
                  port INTEGER NOT NULL, engine_name TEXT NOT NULL, engine_version TEXT NOT NULL, created_at BIGINT NOT NULL)
                """,
                "CREATE INDEX ddm_data_nodes_by_project ON ddm_data_nodes (project_id, created_at)",
                """
                CREATE TABLE ddm_instances (id TEXT PRIMARY KEY, project_id TEXT NOT NULL, name TEXT NOT NULL, status TEXT NOT NULL,
                  flavor_id TEXT NOT NULL, node_num INTEGER NOT NULL, engine_id TEXT NOT NULL, available_zones TEXT NOT NULL,
                  vpc_id TEXT NOT NULL, subnet_id TEXT NOT NULL, security_group_id TEXT NOT NULL, time_zone TEXT NOT NULL,
                  admin_user_name TEXT, enterprise_project_id TEXT, created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL,
                  deleted_at BIGINT)
                """,
                "CREATE INDEX ddm_instances_by_project ON ddm_instances (project_id, created_at)",
                """
                CREATE TABLE ddm_schemas (project_id TEXT NOT NULL, instance_id TEXT NOT NULL, name TEXT NOT NULL,
                  shard_mode TEXT NOT NULL, shard_number INTEGER NOT NULL, created_at BIGINT NOT NULL,
                  PRIMARY KEY (instance_id, name))
                """,
                // One row per (schema, data node): the account Coffer uses there (password sealed) and its shards.
                """
                CREATE TABLE ddm_schema_nodes (project_id TEXT NOT NULL, instance_id TEXT NOT NULL, schema_name TEXT NOT NULL,
                  position INTEGER NOT NULL, node_id TEXT NOT NULL, admin_user TEXT NOT NULL, password_sealed TEXT NOT NULL,
                  databases TEXT NOT NULL, PRIMARY KEY (instance_id, schema_name, node_id))
                """,
                "CREATE INDEX ddm_schema_nodes_by_node ON ddm_schema_nodes (project_id, node_id)",
                """
                CREATE TABLE ddm_backups (id TEXT PRIMARY KEY, project_id TEXT NOT NULL, instance_id TEXT NOT NULL,
                  instance_name TEXT NOT NULL, name TEXT NOT NULL, description TEXT NOT NULL, backup_type TEXT NOT NULL,
                  status TEXT NOT NULL, size BIGINT NOT NULL, related_nodes TEXT NOT NULL, files TEXT NOT NULL, metadata_key TEXT,
                  metadata_sha256 TEXT, error TEXT, created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL)
                """,
                "CREATE INDEX ddm_backups_by_project_time ON ddm_backups (project_id, created_at, id)",
                "CREATE INDEX ddm_backups_by_instance_time ON ddm_backups (project_id, instance_id, created_at)",
            ]),
        Migration(
            id: "0110_ddm_binlog_archive",
            [
                // One row per data node the archiver has seen: the lease (which server streams it), the state
                // ('archiving', 'no_binlog', 'failing') and the cursor (file, offset archived up to).
                """
                CREATE TABLE ddm_binlog_nodes (node_id TEXT PRIMARY KEY, project_id TEXT NOT NULL, state TEXT NOT NULL, detail TEXT,
                  cursor_file TEXT, cursor_position BIGINT, lease_owner TEXT, lease_expires_at BIGINT, updated_at BIGINT NOT NULL)
                """,
                // Published pieces of binlog files; (node, file, start) is unique, so a segment is never recorded twice.
                """
                CREATE TABLE ddm_binlog_segments (node_id TEXT NOT NULL, sequence BIGINT NOT NULL, file_name TEXT NOT NULL,
                  start_position BIGINT NOT NULL, end_position BIGINT NOT NULL, blob_key TEXT NOT NULL, size BIGINT NOT NULL,
                  sha256 TEXT NOT NULL, first_event_at BIGINT, last_event_at BIGINT, last_gtid TEXT, closes_file INTEGER NOT NULL,
                  created_at BIGINT NOT NULL, PRIMARY KEY (node_id, file_name, start_position))
                """,
                "CREATE UNIQUE INDEX ddm_binlog_segments_by_sequence ON ddm_binlog_segments (node_id, sequence)",
                // Stretches the archive misses (purged before they were archived): windows must not cross them.
                """
                CREATE TABLE ddm_binlog_gaps (node_id TEXT NOT NULL, from_file TEXT NOT NULL, from_position BIGINT NOT NULL,
                  from_event_at BIGINT, to_file TEXT NOT NULL, to_position BIGINT NOT NULL, reason TEXT NOT NULL,
                  detected_at BIGINT NOT NULL, PRIMARY KEY (node_id, to_file, to_position))
                """,
            ]),
        Migration(
            id: "0120_ddm_recovery",
            [
                // The consistent point of a DDM backup (epoch ms while every lock was held); NULL for older rows.
                "ALTER TABLE ddm_backups ADD COLUMN cut_at BIGINT",
                // What a running job reports: percent done and its result (JSON), for `process` and the job views.
                "ALTER TABLE jobs ADD COLUMN progress INTEGER",
                "ALTER TABLE jobs ADD COLUMN result TEXT",
            ]),
        Migration(
            id: "0130_multinode",
            [
                // Cluster-wide periodic work (schedulers, job recovery) runs on the node holding its lease row.
                "CREATE TABLE leases (name TEXT PRIMARY KEY, owner TEXT NOT NULL, expires_at BIGINT NOT NULL)",
                // Facts fixed at the first start that every node checks, e.g. the master key's check value.
                "CREATE TABLE coffer_settings (name TEXT PRIMARY KEY, value TEXT NOT NULL, created_at BIGINT NOT NULL)",
            ]),
        Migration(
            id: "0140_dcs_topology",
            [
                // The adopted deployment as last read (JSON `DCSTopology`): single server, master/standby or cluster.
                "ALTER TABLE dcs_instances ADD COLUMN topology TEXT",
                // A cluster or master/standby backup's files, one per shard (JSON `[DCSBackupShard]`); NULL for one file.
                "ALTER TABLE dcs_backups ADD COLUMN shards TEXT",
            ]),
        Migration(
            id: "0150_dcs_backup_hour_counts",
            [
                // Records per (project, instance, UTC hour), kept beside the day counts in the inserting transaction:
                // total_num sums the whole hours of a window's partial edge days here, so the index counts at most
                // two partial hours (it counted two partial days: ~2,500 entries a list at 1M records).
                """
                CREATE TABLE dcs_backup_hour_counts (project_id TEXT NOT NULL, instance_id TEXT NOT NULL, hour BIGINT NOT NULL,
                  records BIGINT NOT NULL, PRIMARY KEY (project_id, instance_id, hour))
                """,
                """
                INSERT INTO dcs_backup_hour_counts (project_id, instance_id, hour, records)
                SELECT project_id, instance_id, created_at / 3600000, COUNT(*) FROM dcs_backups
                GROUP BY project_id, instance_id, created_at / 3600000
                """,
            ]),
    ]

    /// Applies every migration not yet recorded, in order, in one transaction.
    ///
    /// Concurrent starters are safe: SQLite's `BEGIN IMMEDIATE` and a PostgreSQL advisory lock let one apply
    /// while the others wait and then find nothing to do.
    /// - Returns: the ids applied now.
    @discardableResult
    package static func apply(on provider: any DatabaseProvider, logger: Logger, migrations: [Migration] = Migrations.all) async throws
        -> [String]
    {
        let kind = provider.kind
        return try await provider.withTransaction { db in
            if kind == .postgres { try await db.raw("SELECT pg_advisory_xact_lock(7171001)").run() }
            try await db.raw("CREATE TABLE IF NOT EXISTS schema_migrations (id TEXT PRIMARY KEY, applied_at BIGINT NOT NULL)").run()
            let done = Set(try await db.raw("SELECT id FROM schema_migrations").all().map { try $0.decode(column: "id", as: String.self) })
            var applied: [String] = []
            for migration in migrations where !done.contains(migration.id) {
                for statement in migration.statements {
                    try await db.raw(SQLQueryString(statement)).run()
                }
                let now = Int64(Date().timeIntervalSince1970 * 1000)
                try await db.raw("INSERT INTO schema_migrations (id, applied_at) VALUES (\(bind: migration.id), \(bind: now))").run()
                applied.append(migration.id)
                logger.info("Applied migration", metadata: ["migration.id": "\(migration.id)"])
            }
            return applied
        }
    }
}
