import CofferCore
import CofferOperations
import Foundation

/// The DDM wire view of a job (reference 3.8): Huawei's task name, `Running` | `Completed` | `Failed`, DDM times.
struct DDMJobDTO {
    /// Huawei's task names of Coffer's DDM job kinds: the one DDM mapping.
    static func taskName(_ job: Job) -> String {
        switch job.knownKind {
        case .ddmBackup?: "createConsistentBackup"
        case .ddmBackupDelete?: "deleteConsistentBackup"
        case .ddmInstanceCreate?: "CreateInstance"
        case .ddmInstanceDelete?: "DeleteInstance"
        case .ddmRestore?: "RestoreInstance"
        case .ddmMetadataRestore?: "loadMetadata"
        default: job.kind
        }
    }

    static func status(_ job: Job) -> String {
        switch job.status {
        case .queued, .running: "Running"
        case .succeeded: "Completed"
        case .failed: "Failed"
        }
    }
}

/// `ShowJobInfoResponse`: `{"job": {…}}`.
struct DDMJobDetailDTO: Encodable {
    struct Instance: Encodable {
        var id: String
        var name: String
    }

    struct Detail: Encodable {
        var id: String
        var name: String
        var status: String
        var createdTime: String
        var endTime: String
        var process: String
        var instance: Instance
        var failReason: String
        var result: JSONValue?

        enum CodingKeys: String, CodingKey {
            case id, name, status, process, instance, result
            case failReason = "fail_reason"
            case createdTime = "created_time"
            case endTime = "end_time"
        }
    }

    var job: Detail

    init(_ job: Job) {
        let summary = DDMJobSummaryDTO(job)
        self.job = Detail(
            id: summary.id, name: summary.name, status: summary.status, createdTime: summary.createdTime, endTime: summary.endTime,
            process: summary.process, instance: Instance(id: summary.instanceID, name: summary.instanceName), failReason: summary.failReason,
            result: summary.result)
    }
}

/// One job of `ListJobsResponse`.
struct DDMJobSummaryDTO: Encodable {
    var id: String
    var name: String
    var status: String
    var createdTime: String
    var endTime: String
    var process: String
    var instanceName: String
    var instanceID: String
    var operations: [String] = []
    var databaseName = ""
    var failReason: String
    /// Coffer extension (the SDK ignores unknown fields): what the job reached, e.g. a recovery's kind of point
    /// (`consistent` or `point_in_time`) and each node's GTID position.
    var result: JSONValue?

    init(_ job: Job) {
        let payload = DDMJobPayload.decode(job.payload)
        self.id = job.id
        self.name = DDMJobDTO.taskName(job)
        self.status = DDMJobDTO.status(job)
        self.createdTime = WireTime.ddm(job.createdAt)
        self.endTime = job.finishedAt.map(WireTime.ddm) ?? ""
        self.process = job.status == .running ? "\(job.progress ?? 50)%" : ""
        self.result = job.result.flatMap { try? JSONDecoder().decode(JSONValue.self, from: Data($0.utf8)) }
        self.instanceName = payload?.instanceName ?? ""
        self.instanceID = payload?.instanceID ?? job.resourceID
        self.failReason = job.error ?? ""
    }

    enum CodingKeys: String, CodingKey {
        case id, name, status, process, operations
        case createdTime = "created_time"
        case endTime = "end_time"
        case instanceName = "instance_name"
        case instanceID = "instance_id"
        case databaseName = "database_name"
        case failReason = "fail_reason"
        case result
    }
}

/// `ListJobsResponse`.
struct DDMJobPageDTO: Encodable {
    var offset: Int
    var limit: Int
    var total: Int
    var jobs: [DDMJobSummaryDTO]
}
