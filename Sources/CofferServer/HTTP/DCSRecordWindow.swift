import CofferCore
import Foundation

/// The paging and time window of the DCS record lists (backups, reference 2.2; restores, 2.7): one parser for both.
struct DCSRecordWindow {
    var offset: Int
    var limit: Int
    /// Inclusive lower bound on `created_at`.
    var begin: Date?
    /// Inclusive upper bound on `created_at`: the last millisecond of the second `end_time` names.
    var end: Date?
}

extension APIRequest {
    /// `offset` (≥ 0, default 0), `limit` (1–1000, default 10), `begin_time`/`end_time` (`yyyyMMddHHmmss` UTC).
    /// - Throws: `DCS.4800` naming a bad parameter, `DCS.4025` when the end comes before the begin.
    func dcsRecordWindow() throws -> DCSRecordWindow {
        let offset = try self.intQuery("offset", in: 0...Int(Int32.max), default: 0)
        let limit = try self.intQuery("limit", in: 1...1000, default: 10)
        // `beginTime`/`endTime` are the v1 names the seed's example URL still uses.
        let begin = try self.compactTimeQuery("begin_time", "beginTime")
        let end = try self.compactTimeQuery("end_time", "endTime")
        if let begin, let end, begin > end {
            throw DCSError.timeRangeReversed
        }
        // end_time names a whole second: include everything up to its last millisecond.
        return DCSRecordWindow(offset: offset, limit: limit, begin: begin, end: end.map { $0.addingTimeInterval(0.999) })
    }
}
