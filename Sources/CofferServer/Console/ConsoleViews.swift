import CofferCore
import CofferOperations
import Foundation

/// The console's view models: the API's own DTOs (so a page shows exactly what the API answers), turned into
/// dictionaries for Mustache, plus what a page needs on top (badge class, progress as a number, readable times
/// and sizes).
enum ConsoleViews {
    /// A DTO's JSON object as a dictionary; empty if it does not encode to an object.
    static func dictionary(_ value: some Encodable) -> [String: Any] {
        guard let data = try? JSONCoding.encoder.encode(value),
            let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
        else { return [:] }
        return object
    }

    /// One row of an instance's backups.
    static func backup(_ record: DCSBackupRecord) -> [String: Any] {
        var row = self.dictionary(BackupRecordDTO(record: record))
        row["badge"] = self.badge(record.status.rawValue)
        row["percent"] = self.percent(record.progress)
        row["running"] = record.status == .waiting || record.status == .backuping
        row["restorable"] = record.status == .succeed
        row["created_display"] = self.display(record.createdAt)
        row["size_display"] = record.status == .succeed ? self.size(record.size) : "—"
        return row
    }

    /// One row of an instance's restore records.
    static func restore(_ record: DCSRestoreRecord) -> [String: Any] {
        var row = self.dictionary(RestoreRecordDTO(record: record))
        row["badge"] = self.badge(record.status.rawValue)
        row["percent"] = self.percent(record.progress)
        row["running"] = !record.status.isFinal
        row["created_display"] = self.display(record.createdAt)
        row["updated_display"] = self.display(record.updatedAt)
        return row
    }

    /// One DCS instance, with what runs on it now.
    static func dcsInstance(_ view: DCSInstanceView) -> [String: Any] {
        var row = self.dictionary(DCSInstanceDTO(view: view, detailed: false))
        let task = view.activity.map(DCSInstanceDTO.taskName)
        row["address"] = view.instance.address
        row["task"] = task ?? ""
        row["state"] = task ?? (row["status"] as? String ?? view.instance.status)
        row["badge"] = self.badge(row["state"] as? String ?? "")
        row["created_display"] = self.display(view.instance.createdAt)
        return row
    }

    /// One DDM instance, with its status as DDM shows it.
    static func ddmInstance(_ instance: DDMInstance, activity: Activity?) -> [String: Any] {
        var row = self.dictionary(DDMInstanceDTO(instance: instance, activity: activity, detailed: false))
        row["badge"] = self.badge(row["status"] as? String ?? instance.status)
        row["created_display"] = self.display(instance.createdAt)
        return row
    }

    /// One DDM job.
    static func ddmJob(_ job: Job) -> [String: Any] {
        var row = self.dictionary(DDMJobSummaryDTO(job))
        // By the job's own state: DDM says `Running` for a job at work, which is no health word here.
        row["badge"] = switch job.status {
        case .queued, .running: "busy"
        case .succeeded: "ok"
        case .failed: "fail"
        }
        // Empty strings are "something" to Mustache: drop them so that their sections stay out.
        for key in ["fail_reason", "end_time", "process", "instance_name"] where (row[key] as? String)?.isEmpty == true {
            row.removeValue(forKey: key)
        }
        row["created_display"] = self.display(job.createdAt)
        row["ended_display"] = job.finishedAt.map(self.display) ?? "—"
        return row
    }

    /// The badge class of a status, whichever service's word it is.
    static func badge(_ status: String) -> String {
        switch status.lowercased() {
        case "succeed", "completed", "running", "available": "ok"
        case "waiting", "backuping", "restoring", "backup", "restore", "createfail_pending", "deleting", "running_task", "creating", "restarting": "busy"
        case "failed", "error", "createfail": "fail"
        default: "muted"
        }
    }

    /// Progress as a plain number for `<progress value>` (`42.1`).
    static func percent(_ progress: DCSBackupRecord.Progress) -> String {
        String(format: "%.2f", Double(progress.hundredths) / 100)
    }

    /// `2026-11-30 06:40:12 UTC`.
    static func display(_ date: Date) -> String {
        let wire = WireTime.dcs(date)  // 2026-11-30T06:40:12.123Z
        return String(wire.prefix(19)).replacingOccurrences(of: "T", with: " ") + " UTC"
    }

    /// `1.4 MiB`.
    static func size(_ bytes: Int64) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var value = Double(bytes)
        var unit = 0
        while value >= 1024, unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        return unit == 0 ? "\(bytes) B" : String(format: "%.1f %@", value, units[unit])
    }
}
