import CofferCore
import Foundation
import Hummingbird

/// DCS v2 backup records (reference 2.2, seed 003).
struct DCSBackupController: Sendable {
    let store: any DCSStore
    let instances: DCSInstanceController

    var routes: [Route] {
        [Route(.get, "/v2/{project_id}/instances/{instance_id}/backups", handler: self.list)]
    }

    /// `GET …/backups`: newest first; `total_num` counts every match, not the page.
    @Sendable func list(_ request: APIRequest) async throws -> Response {
        let offset = try request.intQuery("offset", in: 0...Int(Int32.max), default: 0)
        let limit = try request.intQuery("limit", in: 1...1000, default: 10)
        // `beginTime`/`endTime` are the v1 names the seed's example URL still uses.
        let begin = try request.compactTimeQuery("begin_time", "beginTime")
        let end = try request.compactTimeQuery("end_time", "endTime")
        if let begin, let end, begin > end {
            throw CofferError(status: 400, code: "DCS.4025", message: "The end time must be after the start time.")
        }
        let instance = try await self.instances.instance(request)
        // end_time names a whole second: include everything up to its last millisecond.
        let page = try await self.store.backups(
            DCSBackupQuery(
                projectID: instance.projectID, instanceID: instance.id, begin: begin, end: end.map { $0.addingTimeInterval(0.999) },
                offset: offset, limit: limit))
        return try JSONCoding.response(BackupRecordListDTO(totalNum: page.total, records: page.items.map(BackupRecordDTO.init)))
    }
}
