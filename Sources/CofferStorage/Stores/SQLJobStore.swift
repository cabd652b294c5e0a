import CofferCore
import Foundation
import SQLKit

/// `JobStore` over SQL. Claims and transitions are single conditional UPDATEs, so two workers (or two servers on
/// one PostgreSQL) never run the same job.
///
/// Several nodes on one PostgreSQL (issue 10): a claim skips rows another claimer holds (`FOR UPDATE SKIP LOCKED`),
/// so a lost race takes the next job instead of coming back empty; leases are timed and judged by the database's
/// clock (`now()`), so a node whose clock runs ahead cannot declare a live job expired: the `now`/`until` a caller
/// passes only give the lease's length there. Every enqueue sends `pg_notify('coffer_jobs', kind)` in its
/// transaction (delivered at COMMIT, nothing on ROLLBACK), which the other nodes' listeners turn into a doorbell
/// ring. SQLite is one node: the process clock judges, and its single writer needs no skipping.
package struct SQLJobStore: JobStore {
    private let provider: any DatabaseProvider

    /// The channel enqueues notify and listeners listen on; the payload is the job's kind.
    package static let notificationChannel = "coffer_jobs"

    package init(provider: any DatabaseProvider) {
        self.provider = provider
    }

    package func enqueue(_ job: Job) async throws {
        try await self.provider.withDatabase { db in try await Self.insert(job, on: db) }
    }

    /// The INSERT of a job, for stores that enqueue a job in the same transaction as their own rows.
    static func insert(_ job: Job, on db: any SQLDatabase) async throws {
        try await db.raw(
            """
            INSERT INTO jobs (id, kind, project_id, resource_id, status, payload, attempts, max_attempts, lease_owner,
              lease_expires_at, error, created_at, updated_at, started_at, finished_at)
            VALUES (\(bind: job.id), \(bind: job.kind), \(bind: job.projectID), \(bind: job.resourceID), \(bind: job.status.rawValue),
              \(bind: job.payload), \(bind: Int64(job.attempts)), \(bind: Int64(job.maxAttempts)), \(bind: job.leaseOwner),
              \(bind: millis(job.leaseExpiresAt)), \(bind: job.error), \(bind: millis(job.createdAt)), \(bind: millis(job.updatedAt)),
              \(bind: millis(job.startedAt)), \(bind: millis(job.finishedAt)))
            """
        ).run()
        if db.dialect.name == "postgresql" {
            // Sent at COMMIT of the caller's transaction, never for a rolled-back insert (busy resource).
            try await db.raw("SELECT pg_notify(\(bind: Self.notificationChannel), \(bind: job.kind))").run()
        }
    }

    package func job(id: String) async throws -> Job? {
        try await self.provider.withDatabase { db in
            try await db.raw("SELECT * FROM jobs WHERE id = \(bind: id)").first().map(Self.job)
        }
    }

    package func enqueueIfIdle(_ job: Job) async throws -> EnqueueResult {
        try await Self.insertIfIdle(job, provider: self.provider) { _ in }
    }

    /// Inserts `job` and the caller's own rows in one transaction, unless another job already occupies the
    /// job's resource: the unique index on active jobs (migration 0004) refuses the second one, even between
    /// racing requests or servers. The one way every "one task at a time" operation starts.
    /// - Returns: `.busy` with the occupying job, and nothing inserted, when the resource is taken.
    static func insertIfIdle(
        _ job: Job, provider: any DatabaseProvider, rows: @escaping @Sendable (any SQLDatabase) async throws -> Void
    ) async throws -> EnqueueResult {
        // The occupant may finish between a refused insert and the look-up: then try again (a few times at most).
        var attempt = 0
        while true {
            do {
                try await provider.withTransaction { db in
                    try await rows(db)
                    try await Self.insert(job, on: db)
                }
                return .enqueued
            } catch {
                attempt += 1
                let active = try await provider.withDatabase { db in try await Self.activeJobs(projectID: job.projectID, resourceIDs: [job.resourceID], on: db) }
                if let occupant = active[job.resourceID] { return .busy(occupant) }
                if attempt >= 3 { throw error }
            }
        }
    }

    package func jobs(projectID: String, kindPrefix: String, from: Date?, to: Date?, offset: Int, limit: Int) async throws -> Page<Job> {
        try await self.provider.withDatabase { db in
            func filtered(_ select: SQLSelectBuilder) -> SQLSelectBuilder {
                select.from("jobs").where("project_id", .equal, projectID)
                    .where(SQLFunction("substr", args: SQLColumn("kind"), SQLLiteral.numeric("1"), SQLLiteral.numeric("\(kindPrefix.utf8.count)")), .equal, SQLBind(kindPrefix))
                if let from { select.where("created_at", .greaterThanOrEqual, millis(from)) }
                if let to { select.where("created_at", .lessThanOrEqual, millis(to)) }
                return select
            }
            let total = try await filtered(db.select().column(SQLFunction("count", args: SQLLiteral.all), as: "n")).first()?
                .decode(column: "n", as: Int64.self) ?? 0
            let rows = try await filtered(db.select().column("*")).orderBy("created_at", .descending).orderBy("id")
                .limit(limit).offset(offset).all()
            return Page(items: try rows.map(Self.job), total: Int(total))
        }
    }

    package func activeJobs(projectID: String, resourceIDs: [String]) async throws -> [String: Job] {
        guard !resourceIDs.isEmpty else { return [:] }
        return try await self.provider.withDatabase { db in try await Self.activeJobs(projectID: projectID, resourceIDs: resourceIDs, on: db) }
    }

    /// One query over the partial unique index `jobs_one_active_per_resource`.
    static func activeJobs(projectID: String, resourceIDs: [String], on db: any SQLDatabase) async throws -> [String: Job] {
        let rows = try await db.select().column("*").from("jobs").where("project_id", .equal, projectID)
            .where("resource_id", .in, resourceIDs).where("status", .in, [Job.Status.queued.rawValue, Job.Status.running.rawValue])
            .all()
        var jobs: [String: Job] = [:]
        for row in rows {
            let job = try Self.job(row)
            jobs[job.resourceID] = job
        }
        return jobs
    }

    package func claim(kinds: [String], owner: String, now: Date, leaseUntil: Date) async throws -> Job? {
        guard !kinds.isEmpty else { return nil }
        // One statement: pick the oldest queued job and take it. On PostgreSQL the pick locks its row and skips rows
        // other claimers locked, so racing nodes take different jobs and none comes back empty while one is queued.
        // SQLite has one writer at a time: the subquery and the UPDATE see the same state.
        let skipLocked = self.provider.kind == .postgres ? " FOR UPDATE SKIP LOCKED" : ""
        let statement: SQLQueryString = """
            UPDATE jobs SET status = 'running', lease_owner = \(bind: owner), lease_expires_at = \(self.provider.kind.leaseEnd(until: leaseUntil, now: now)),
              attempts = attempts + 1, started_at = \(bind: millis(now)), updated_at = \(bind: millis(now))
            WHERE id = (SELECT id FROM jobs WHERE status = 'queued' AND kind IN (\(binds: kinds))
                        ORDER BY created_at, id LIMIT 1\(unsafeRaw: skipLocked))
              AND status = 'queued'
            RETURNING *
            """
        return try await self.provider.withDatabase { db in
            guard let job = try await db.raw(statement).first().map(Self.job) else { return nil }
            return job.leaseOwner == owner && job.status == .running ? job : nil
        }
    }

    package func renewLease(jobID: String, owner: String, until: Date, now: Date) async throws -> Bool {
        try await self.conditionalUpdate(
            jobID: jobID,
            """
            UPDATE jobs SET lease_expires_at = \(self.provider.kind.leaseEnd(until: until, now: now)), updated_at = \(bind: millis(now))
            WHERE id = \(bind: jobID) AND status = 'running' AND lease_owner = \(bind: owner)
            """)
    }

    package func finish(jobID: String, owner: String, status: Job.Status, error: String?, now: Date) async throws -> Bool {
        try await self.conditionalUpdate(
            jobID: jobID,
            """
            UPDATE jobs SET status = \(bind: status.rawValue), error = \(bind: error), lease_owner = NULL, lease_expires_at = NULL,
              finished_at = \(bind: millis(now)), updated_at = \(bind: millis(now))
            WHERE id = \(bind: jobID) AND status = 'running' AND lease_owner = \(bind: owner)
            """)
    }

    package func report(jobID: String, owner: String, progress: Int, result: String?, now: Date) async throws -> Bool {
        try await self.conditionalUpdate(
            jobID: jobID,
            """
            UPDATE jobs SET progress = \(bind: Int64(max(0, min(100, progress)))), result = COALESCE(\(bind: result), result),
              updated_at = \(bind: millis(now))
            WHERE id = \(bind: jobID) AND status = 'running' AND lease_owner = \(bind: owner)
            """)
    }

    package func release(jobID: String, owner: String, now: Date) async throws -> Bool {
        try await self.conditionalUpdate(
            jobID: jobID,
            """
            UPDATE jobs SET status = 'queued', lease_owner = NULL, lease_expires_at = NULL, updated_at = \(bind: millis(now))
            WHERE id = \(bind: jobID) AND status = 'running' AND lease_owner = \(bind: owner)
            """)
    }

    package func expiredJobs(now: Date) async throws -> [Job] {
        try await self.provider.withDatabase { db in
            try await db.raw("SELECT * FROM jobs WHERE status = 'running' AND lease_expires_at < \(self.provider.kind.leaseNow(now)) ORDER BY created_at")
                .all().map(Self.job)
        }
    }

    package func resolveExpired(jobID: String, requeue: Bool, error: String, now: Date) async throws -> Bool {
        let status = requeue ? Job.Status.queued : Job.Status.failed
        let finished: Int64? = requeue ? nil : WireTime.epochMilliseconds(now)
        return try await self.conditionalUpdate(
            jobID: jobID,
            """
            UPDATE jobs SET status = \(bind: status.rawValue), error = \(bind: error), lease_owner = NULL, lease_expires_at = NULL,
              finished_at = \(bind: finished), updated_at = \(bind: millis(now))
            WHERE id = \(bind: jobID) AND status = 'running' AND lease_expires_at < \(self.provider.kind.leaseNow(now))
            """)
    }

    /// Runs one conditional UPDATE … RETURNING (SQLite ≥ 3.35 and PostgreSQL both support it) and tells
    /// whether it matched a row.
    private func conditionalUpdate(jobID: String, _ statement: SQLQueryString) async throws -> Bool {
        var statement = statement
        statement.appendLiteral(" RETURNING id")
        let query = statement
        return try await self.provider.withDatabase { db in try await db.raw(query).first() != nil }
    }

    private static func job(_ row: any SQLRow) throws -> Job {
        guard let status = Job.Status(rawValue: try row.string("status")) else {
            throw StorageError.corrupt("jobs.status \(try row.string("status"))")
        }
        var job = Job(
            id: try row.string("id"), kind: try row.string("kind"), projectID: try row.string("project_id"),
            resourceID: try row.string("resource_id"), status: status, payload: try row.string("payload"),
            attempts: try row.int("attempts"), maxAttempts: try row.int("max_attempts"),
            leaseOwner: try row.optionalString("lease_owner"), leaseExpiresAt: try row.optionalDate("lease_expires_at"),
            error: try row.optionalString("error"), createdAt: try row.date("created_at"), updatedAt: try row.date("updated_at"),
            startedAt: try row.optionalDate("started_at"), finishedAt: try row.optionalDate("finished_at"))
        job.progress = try row.decode(column: "progress", as: Int64?.self).map { Int($0) }
        job.result = try row.optionalString("result")
        return job
    }
}
