import CofferCore
import CofferJobs
import Foundation
import Logging

/// `ddm.instance.delete` (Huawei's task `DeleteInstance`): drops the shards' physical databases on every data
/// node when asked (`DROP DATABASE IF EXISTS`), then marks the instance deleted and forgets its schemas.
///
/// Idempotent: every step can run again, so a crash or a node that does not answer is retried (up to the
/// job's attempts). A node that still refuses fails the job with the node named in `fail_reason`, and the
/// instance stays: the user can delete it again, with `delete_rds_data=false` to keep the data.
package struct DDMInstanceDeleteJob: JobHandler {
    let store: any DDMStore
    let inspector: MySQLInspector
    let logger: Logger
    let clock: @Sendable () -> Date

    package init(store: any DDMStore, inspector: MySQLInspector, logger: Logger, clock: @escaping @Sendable () -> Date) {
        self.store = store
        self.inspector = inspector
        self.logger = logger
        self.clock = clock
    }

    package var kind: String { JobKind.ddmInstanceDelete.rawValue }
    package var isIdempotent: Bool { true }

    package func run(_ job: Job) async throws {
        guard let payload = DDMJobPayload.decode(job.payload) else { throw DDMError.invalidParameter("job payload") }
        if payload.dropData ?? true {
            let schemas = try await self.store.schemas(projectID: job.projectID, instanceID: payload.instanceID)
            let nodes = try await self.store.dataNodes(projectID: job.projectID, ids: schemas.flatMap { $0.parts.map(\.nodeID) })
            var failures: [String] = []
            for schema in schemas {
                for part in schema.parts {
                    // A node deregistered since has nothing Coffer can reach any more.
                    guard let node = nodes[part.nodeID] else { continue }
                    do {
                        try await self.inspector.run(
                            part.databases.map { "DROP DATABASE IF EXISTS `\($0)`" }, on: node, user: part.adminUser, password: part.adminPassword)
                    } catch {
                        failures.append("data node \(node.id) (\(node.address)): \(error)")
                    }
                }
            }
            guard failures.isEmpty else {
                throw DDMError.internalError("Dropping shard databases failed on " + failures.joined(separator: "; "))
            }
        }
        try await self.store.deleteInstance(projectID: job.projectID, id: payload.instanceID, at: self.clock())
        self.logger.info("DDM instance deleted", metadata: ["ddm.instance.id": "\(payload.instanceID)"])
    }

    package func jobFailed(_ job: Job, reason: String) async {
        self.logger.error("Deleting a DDM instance failed", metadata: ["job.id": "\(job.id)", "error": "\(reason)"])
    }
}
