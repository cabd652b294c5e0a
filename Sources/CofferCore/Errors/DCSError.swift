/// DCS v2 error codes used by Coffer (reference section 7.0 and 7.1.2).
package enum DCSError {
    /// 400 `DCS.4800` "Invalid {0} in the request.", the generic invalid-parameter error.
    package static func invalidParameter(_ name: String, _ detail: String? = nil) -> CofferError {
        CofferError(status: 400, code: "DCS.4800", message: "Invalid \(name) in the request." + (detail.map { " \($0)" } ?? ""))
    }
    /// 400 `DCS.4002`, a project id that is not 32 hex characters (e.g. the SDK's literal `{project_id}`).
    package static let invalidProjectID = CofferError(status: 400, code: "DCS.4002", message: "Invalid project ID format.")
    /// 400 `DCS.4025`, `end_time` before `begin_time`.
    package static let timeRangeReversed = CofferError(status: 400, code: "DCS.4025", message: "The end time must be after the start time.")
    /// 400 `DCS.4004`, a body was required and none came.
    package static let emptyBody = CofferError(status: 400, code: "DCS.4004", message: "Empty request body.")
    /// 400 `DCS.4005`, the body is not JSON or has values of the wrong type.
    package static func malformedBody(_ detail: String) -> CofferError {
        CofferError(
            status: 400, code: "DCS.4005",
            message: "The message body contains invalid characters or is not in JSON format. \(detail)")
    }
    /// 400 `DCS.4006`.
    package static let unsupportedEngine = CofferError(
        status: 400, code: "DCS.4006", message: "The selected cache engine type is not supported.")
    /// 400 `DCS.4010`.
    package static let invalidName = CofferError(
        status: 400, code: "DCS.4010",
        message: "Invalid DCS instance name. The name must be 4 to 64 characters in length. Only letters (case-insensitive), digits, underscores (_) ,and hyphens (-) are allowed.")
    /// 400 `DCS.4011`.
    package static let descriptionTooLong = CofferError(
        status: 400, code: "DCS.4011", message: "DCS instance description cannot exceed 1024 characters.")
    /// 400 `DCS.4060`.
    package static let nameExists = CofferError(status: 400, code: "DCS.4060", message: "This DCS instance name already exists.")
    /// 400 `DCS.4072`–`DCS.4076`, one per backup-policy field.
    package static let invalidSaveDays = CofferError(
        status: 400, code: "DCS.4072", message: "Invalid saveDays instance backup policy parameter in the request.")
    package static let invalidBackupType = CofferError(
        status: 400, code: "DCS.4073", message: "Invalid backupType instance backup policy parameter in the request.")
    package static let invalidPeriodType = CofferError(
        status: 400, code: "DCS.4074", message: "Invalid periodType instance backup policy parameter in the request.")
    package static let invalidBackupAt = CofferError(
        status: 400, code: "DCS.4075", message: "Invalid backupAt instance backup policy parameter in the request.")
    package static let invalidBeginAt = CofferError(
        status: 400, code: "DCS.4076", message: "Invalid beginAt instance backup policy parameter in the request.")
    /// 400 `DCS.4080`, the adopted Redis refused the password.
    package static func redisPasswordRejected(_ address: String) -> CofferError {
        CofferError(status: 400, code: "DCS.4080", message: "Instance password verify failed: the Redis server at \(address) rejected the credentials.")
    }
    /// 400 `DCS.4800` naming the address Coffer could not reach.
    package static func redisUnreachable(_ address: String, _ reason: String) -> CofferError {
        CofferError(
            status: 400, code: "DCS.4800",
            message: "Invalid private_ip/port in the request. Cannot connect to the Redis server at \(address): \(reason)")
    }
    /// 400 `DCS.4026`, the instance is busy with another task.
    package static let stateForbids = CofferError(
        status: 400, code: "DCS.4026", message: "This operation is not allowed when the DCS instance is in the current state.")
    /// 400 `DCS.4096`, a backup runs on the instance (also refuses deleting a backup that is still running).
    package static let backupRunning = CofferError(
        status: 400, code: "DCS.4096", message: "the instance is backuping. Backing up the instance... Please try again later.")
    /// 400 `DCS.4097`, a restore runs on the instance.
    package static let restoreRunning = CofferError(status: 400, code: "DCS.4097", message: "the instance is restoring.")
    /// 400 `DCS.4087`, a restore of a backup that is not `succeed`.
    package static let backupNotRestorable = CofferError(
        status: 400, code: "DCS.4087", message: "the backup record status is err when restore this instance.")
    /// 400 `DCS.4800` naming `backup_id`: no such backup in the project and instance (reference 7.0's recommendation).
    package static let unknownBackup = CofferError(status: 400, code: "DCS.4800", message: "Invalid backup_id in the request.")
    /// 400 `DCS.4070`, a migration task id that is not a UUID.
    package static let invalidTaskID = CofferError(status: 400, code: "DCS.4070", message: "Invalid task ID format.")
    /// 400 `DCS.4800` naming `task_id`: no such migration task in the project (no task-specific code is published).
    package static let taskNotFound = CofferError(status: 400, code: "DCS.4800", message: "Invalid task_id in the request. The migration task does not exist.")
    /// 400 `DCS.4957`, deleting a migration task that is still running.
    package static let taskStateForbids = CofferError(
        status: 400, code: "DCS.4957", message: "This operation is not allowed when the task is in the current state.")
    /// 400 `DCS.4098`, a remark longer than 128 characters.
    package static let remarkTooLong = CofferError(
        status: 400, code: "DCS.4098", message: "Invalid remark in the request: at most 128 characters.")
    /// 400 `DCS.4031`: the backup does not exist or is already deleted (Huawei's observed answer to DELETE).
    package static let backupGone = CofferError(status: 400, code: "DCS.4031", message: "The backup does not exist or has been deleted.")
    /// 403 for a download link that expired, was altered, or whose backup is gone.
    package static let downloadDenied = CofferError(
        status: 403, code: "DCS.2003", message: "The download link is invalid or has expired, or the backup file no longer exists.")
    /// 404 `DCS.3022`.
    package static let instanceNotFound = CofferError(status: 404, code: "DCS.3022", message: "This DCS instance does not exist.")
    /// 401 `DCS.1004`, the path project is not the caller's project.
    package static let projectMismatch = CofferError(status: 401, code: "DCS.1004", message: "Project ID does not match the token.")
    /// 404 `DCS.4001`, no such route.
    package static let unknownURL = CofferError(status: 404, code: "DCS.4001", message: "The requested URL does not exist.")
    /// 405 `DCS.5001`, the route exists with another method.
    package static let methodNotAllowed = CofferError(status: 405, code: "DCS.5001", message: "This request method is not allowed.")
    /// 500 `DCS.5000`.
    package static let internalError = CofferError(status: 500, code: "DCS.5000", message: "Internal service error.")
}

extension DCSError {
    /// The answer to a task (backup, restore) refused because `activity` occupies the instance: the one mapping
    /// of DCS busy codes. A state change (deleting the instance) answers `stateForbids` whatever runs.
    package static func busy(_ activity: Activity) -> CofferError {
        switch activity {
        case .backup: Self.backupRunning
        case .restore: Self.restoreRunning
        case .delete, .create, .maintenance: Self.stateForbids
        }
    }
}
