/// DDM (v1 and v3) error codes used by Coffer (reference 7.0 and 7.2). The body carries both key pairs
/// (`error_code/error_msg` and `errCode/externalMessage`); the HTTP layer decides that, not this enum.
package enum DDMError {
    /// 404 `DBS.280404`, no such route.
    package static let unknownURL = CofferError(status: 404, code: "DBS.280404", message: "The requested URL does not exist.")
    /// 405 `DBS.280405`, the route exists with another method.
    package static let methodNotAllowed = CofferError(status: 405, code: "DBS.280405", message: "This request method is not allowed.")
    /// 500 `DBS.200412`, an unexpected failure.
    package static let internalError = CofferError(status: 500, code: "DBS.200412", message: "Server failure.")
    /// 500 `DBS.200412` naming what failed (a job's `fail_reason`).
    package static func internalError(_ detail: String) -> CofferError {
        CofferError(status: 500, code: "DBS.200412", message: "Server failure. \(detail)")
    }
    /// 401 `DBS.280003`, the path project is not the caller's project.
    package static let projectMismatch = CofferError(status: 401, code: "DBS.280003", message: "Project ID does not match the token.")
    /// 400 `DBS.280001` for a project id that is not 32 hex characters.
    package static let invalidProjectID = CofferError(status: 400, code: "DBS.280001", message: "Parameter error: invalid project ID format.")
    /// 400 `DBS.280001` for a body that is not a JSON object (or too large, with status 413).
    package static func invalidBody(_ detail: String) -> CofferError {
        CofferError(status: 400, code: "DBS.280001", message: "Parameter error. \(detail)")
    }
    /// 400 `DBS.280001` "Parameter error.", naming the parameter.
    package static func invalidParameter(_ name: String, _ detail: String? = nil) -> CofferError {
        CofferError(status: 400, code: "DBS.280001", message: "Parameter error: \(name)." + (detail.map { " \($0)" } ?? ""))
    }
    /// 404 `DBS.200002`, the DDM instance does not exist (the DBS-family code of reference 7.0).
    package static let instanceNotFound = CofferError(status: 404, code: "DBS.200002", message: "The DB instance does not exist.")
    /// 404 `DBS.200003`, no such backup (no published code; same family and status as the instance).
    package static let backupNotFound = CofferError(status: 404, code: "DBS.200003", message: "The backup does not exist.")
    /// 404 `DBS.200004`, no such data node.
    package static let dataNodeNotFound = CofferError(status: 404, code: "DBS.200004", message: "The data node does not exist.")
    /// 404 `DBS.200005`, no such job.
    package static let jobNotFound = CofferError(status: 404, code: "DBS.200005", message: "The job does not exist.")
    /// 404 `DBS.200006`, no such schema.
    package static let schemaNotFound = CofferError(status: 404, code: "DBS.200006", message: "The schema does not exist.")
    /// 409 `DBS.200019`, another operation (a backup) is running on the instance.
    package static let busy = CofferError(
        status: 409, code: "DBS.200019", message: "Another operation is being performed on the instance. Try again later.")
    /// 400 `DBS.280001` for a data node Coffer cannot reach.
    package static func dataNodeUnreachable(_ address: String, _ reason: String) -> CofferError {
        CofferError(
            status: 400, code: "DBS.280001",
            message: "Parameter error: private_ip/port. Cannot connect to a MySQL-compatible server at \(address): \(reason)")
    }
    /// 400 `DBS.300103`, a data node id in `used_rds` does not exist.
    package static func unknownDataNode(_ id: String) -> CofferError {
        CofferError(status: 400, code: "DBS.300103", message: "The RDS instance does not exist or it is not in the same VPC as the schema: \(id).")
    }
    /// 400 `DBS.300108`, the same data node twice.
    package static let duplicateDataNodes = CofferError(status: 400, code: "DBS.300108", message: "The RDS instances are duplicated.")
    /// 400 `DBS.300106`, shard number and node count do not fit.
    package static let invalidShardsPerNode = CofferError(
        status: 400, code: "DBS.300106", message: "The number of shards per RDS instance is invalid.")
    /// 400 `DBS.300100`: the data node refused the given account (wrong user or password) or the statements.
    package static func schemaCreateFailed(_ detail: String) -> CofferError {
        CofferError(status: 400, code: "DBS.300100", message: "Failed to create the schema. \(detail)")
    }
    /// 400 `DBS.300114` "The administrator or password is incorrect.": a data node refused the `used_rds` account.
    package static func wrongCredentials(_ detail: String) -> CofferError {
        CofferError(status: 400, code: "DBS.300114", message: "The administrator or password is incorrect. \(detail)")
    }
    /// 400 `DBS.300101`, a data node still used by a schema cannot be removed.
    package static let dataNodeInUse = CofferError(
        status: 400, code: "DBS.300101", message: "The data node is used by a schema and cannot be deleted.")
    /// 400 `DBS.280001`: `restore_time` is in no restorable window of the source instance (reference 7.0: the
    /// parameter-error family).
    package static func restoreTimeOutOfRange(_ detail: String) -> CofferError {
        CofferError(status: 400, code: "DBS.280001", message: "Parameter error: restore_time. \(detail)")
    }
    /// 400 `DBS.300372` "Invalid destination DDM instance.": unknown, the source itself, or another project's.
    package static func invalidTargetInstance(_ detail: String) -> CofferError {
        CofferError(status: 400, code: "DBS.300372", message: "Invalid destination DDM instance. \(detail)")
    }
    /// 400 `DBS.300112` "This schema name already exists.": the restore target already has a schema of that name,
    /// or a target data node already holds one of its physical databases (nothing is overwritten).
    package static func targetHoldsData(_ detail: String) -> CofferError {
        CofferError(status: 400, code: "DBS.300112", message: "This schema name already exists. \(detail)")
    }
    /// 400 `DBS.300103`: a `data_node_relations` entry names a node that is not a data node of the instance it should
    /// belong to (source: of the backup used at `restore_time`; target: of the target instance's schemas).
    package static func invalidRelation(_ detail: String) -> CofferError {
        CofferError(status: 400, code: "DBS.300103", message: "The RDS instance does not exist or it is not in the same VPC as the schema: \(detail)")
    }
    /// 400 `DBS.300336` "Physical database not found.": a metadata recovery's target node lacks a shard database.
    package static func physicalDatabaseMissing(_ detail: String) -> CofferError {
        CofferError(status: 400, code: "DBS.300336", message: "Physical database not found. \(detail)")
    }
    /// 400 `DBS.280001`, name already used.
    package static func nameExists(_ what: String) -> CofferError {
        CofferError(status: 400, code: "DBS.280001", message: "Parameter error: name. The \(what) name already exists.")
    }
}
