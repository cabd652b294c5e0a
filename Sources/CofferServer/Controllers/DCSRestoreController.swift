import CofferCore
import CofferOperations
import Foundation
import Hummingbird

/// DCS v2 restores (reference 2.6, 2.7) and the `backupfile_import` migration task that restores a backup into
/// another instance. Each restore runs as a `dcs.restore` job on the target.
struct DCSRestoreController: Sendable {
    let operations: DCSRestoreOperations

    var routes: [Route] {
        [
            Route(.post, "/v2/{project_id}/instances/{instance_id}/restores", handler: self.create),
            Route(.get, "/v2/{project_id}/instances/{instance_id}/restores", handler: self.list),
            Route(.post, "/v2/{project_id}/migration-task", handler: self.createTask),
            Route(.get, "/v2/{project_id}/migration-task/{task_id}", handler: self.showTask),
            Route(.get, "/v2/{project_id}/migration-tasks", handler: self.listTasks),
            Route(.delete, "/v2/{project_id}/migration-tasks/delete", handler: self.deleteTasks),
        ]
    }

    // MARK: - Restores

    /// `POST …/restores` `{"backup_id", "remark"}` → 200 `{"restore_id"}` at once.
    @Sendable func create(_ request: APIRequest) async throws -> Response {
        let caller = try request.caller
        guard let body = try request.jsonObject() else { throw DCSError.emptyBody }
        let backupID = try body.requiredString("backup_id")
        let remark = try body.string("remark")
        if let remark, remark.count > 128 { throw DCSError.remarkTooLong }
        let record = try await self.operations.create(
            projectID: caller.project.id, instanceID: request.path("instance_id"), backupID: backupID, remark: remark, logger: request.logger)
        return try JSONCoding.response(RestoreCreatedDTO(restoreID: record.id))
    }

    /// `GET …/restores`: the backup list's paging and window; newest first, `total_num` counts every match.
    /// None found is a 200 with an empty list, as the backup list answers.
    @Sendable func list(_ request: APIRequest) async throws -> Response {
        let window = try request.dcsRecordWindow()
        let caller = try request.caller
        let page = try await self.operations.list(
            projectID: caller.project.id, instanceID: request.path("instance_id"), begin: window.begin, end: window.end,
            offset: window.offset, limit: window.limit)
        return try JSONCoding.response(RestoreRecordListDTO(totalNum: page.total, records: page.items.map(RestoreRecordDTO.init)))
    }

    // MARK: - Migration tasks (backup file import)

    /// `POST /v2/{project_id}/migration-task`: only `backupfile_import` of a backup record, `full_amount_migration`,
    /// into `target_instance.id` → 200 `{"id", "name", "status": "MIGRATING"}`.
    @Sendable func createTask(_ request: APIRequest) async throws -> Response {
        let caller = try request.caller
        guard let body = try request.jsonObject() else { throw DCSError.emptyBody }
        let name = try body.requiredString("task_name")
        guard (1...64).contains(name.count) else { throw body.invalid("task_name", "Expected 1 to 64 characters.") }
        let description = try body.string("description")
        if let description, description.count > 1024 { throw body.invalid("description", "At most 1024 characters.") }
        let type = try body.requiredString("migration_type")
        guard type == MigrationTaskWire.migrationType else {
            throw body.invalid("migration_type", "Coffer imports backup records only: expected backupfile_import.")
        }
        let method = try body.requiredString("migration_method")
        guard method == MigrationTaskWire.migrationMethod else {
            throw body.invalid("migration_method", "A backup file import is a full_amount_migration.")
        }
        guard let files = try body.object("backup_files") else { throw body.invalid("backup_files", "Required for backupfile_import.") }
        guard try files.requiredString("file_source") == MigrationTaskWire.fileSource else {
            throw files.invalid("file_source", "Coffer imports its own backup records: expected backup_record.")
        }
        let backupID = try files.requiredString("backup_id")
        guard let target = try body.object("target_instance") else { throw body.invalid("target_instance", "Required.") }
        let targetID = try target.requiredString("id")
        let task = try await self.operations.createMigrationTask(
            projectID: caller.project.id, task: DCSRestoreRecord.MigrationTask(name: name, description: description), backupID: backupID,
            targetInstanceID: targetID, logger: request.logger)
        return try JSONCoding.response(MigrationTaskCreatedDTO(task: task))
    }

    /// `GET /v2/{project_id}/migration-task/{task_id}`.
    @Sendable func showTask(_ request: APIRequest) async throws -> Response {
        let caller = try request.caller
        let (task, target) = try await self.operations.migrationTask(projectID: caller.project.id, id: request.path("task_id"))
        return try JSONCoding.response(MigrationTaskDTO(task: task, target: target))
    }

    /// `GET /v2/{project_id}/migration-tasks?offset&limit&name`: newest first, `count` counts every match.
    @Sendable func listTasks(_ request: APIRequest) async throws -> Response {
        let offset = try request.intQuery("offset", in: 0...Int(Int32.max), default: 0)
        let limit = try request.intQuery("limit", in: 1...1000, default: 10)
        let caller = try request.caller
        let page = try await self.operations.migrationTasks(
            projectID: caller.project.id, name: request.query["name"].flatMap { $0.isEmpty ? nil : $0 }, offset: offset, limit: limit)
        return try JSONCoding.response(
            MigrationTaskListDTO(count: page.total, tasks: page.items.map { MigrationTaskListItemDTO(task: $0.0, target: $0.1) }))
    }

    /// `DELETE /v2/{project_id}/migration-tasks/delete` `{"task_id_list": [...]}` → 200 with the ids deleted.
    /// A finished task is removed; a running one refuses the whole request (400 `DCS.4957`).
    @Sendable func deleteTasks(_ request: APIRequest) async throws -> Response {
        let caller = try request.caller
        guard let body = try request.jsonObject() else { throw DCSError.emptyBody }
        guard let list = try body.array("task_id_list"), !list.isEmpty, list.count <= 1000 else {
            throw body.invalid("task_id_list", "Expected 1 to 1000 task ids.")
        }
        let ids = try list.map { value -> String in
            guard case .string(let id) = value else { throw body.invalid("task_id_list", "Expected strings.") }
            return id
        }
        let deleted = try await self.operations.deleteMigrationTasks(projectID: caller.project.id, ids: ids, logger: request.logger)
        return try JSONCoding.response(MigrationTaskIDsDTO(ids: deleted))
    }

    private struct RestoreCreatedDTO: Encodable {
        var restoreID: String
        enum CodingKeys: String, CodingKey { case restoreID = "restore_id" }
    }
}
