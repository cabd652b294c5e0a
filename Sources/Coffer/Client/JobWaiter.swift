import CofferCore
import Foundation

/// `--wait`: polls the record or job a command started until it ends, showing progress, and throws
/// `ClientError.jobFailed` with the job's error code when it fails.
struct JobWaiter {
    let client: CofferClient
    let deadline: Date
    /// With `--json`, progress goes to standard error and standard output carries only the JSON.
    var progressToStandardError = false
    var interval: Duration = .milliseconds(500)

    /// Polls `poll` until it returns a final state; `poll` returns (status, fraction, bytes, total, done, failureCode).
    private func loop(
        _ reporter: ProgressReporter, what: String, poll: () async throws -> Sample
    ) async throws -> Sample {
        while true {
            let sample = try await poll()
            if let code = sample.failureCode {
                reporter.finish("\(what): \(sample.status) \(code)")
                throw ClientError.jobFailed(what: what, code: code)
            }
            if sample.done {
                // On a terminal the bar ends full: a job shorter than one progress report would otherwise leave
                // it at its last reading (0 %) above the "succeed" line.
                if reporter.isTerminal {
                    reporter.update(status: sample.status, fraction: sample.fraction, bytes: sample.bytes, total: sample.total)
                }
                return sample
            }
            reporter.update(
                status: sample.status, fraction: sample.fraction, bytes: sample.bytes, total: sample.total, approximate: sample.approximate)
            guard Date() < self.deadline else {
                reporter.finish("\(what): still \(sample.status)")
                throw ClientError.timedOut("\(what) did not end before the --timeout; it goes on in the server")
            }
            try await Task.sleep(for: self.interval)
        }
    }

    struct Sample {
        var status: String
        var fraction: Double?
        var bytes: Int64? = nil
        var total: Int64? = nil
        var approximate = false
        var done = false
        var failureCode: String? = nil
        var record: JSONValue = .null
    }

    /// A DCS backup: `waiting` → `backuping` → `succeed` | `failed` (the record's `error_code`).
    func dcsBackup(instanceID: String, backupID: String) async throws -> JSONValue {
        let lookup = ResourceLookup(client: self.client)
        let reporter = ProgressReporter(label: "backup \(backupID.prefix(8))", toStandardError: self.progressToStandardError)
        let estimate = try await self.previousBackupSize(instanceID: instanceID, excluding: backupID)
        let sample = try await self.loop(reporter, what: "backup \(backupID)") {
            guard let record = try await lookup.dcsBackup(instanceID: instanceID, backupID: backupID) else {
                throw ClientError.usage("backup \(backupID) disappeared from instance \(instanceID)")
            }
            let status = record["status"]?.text ?? "?"
            let progress = record["progress"]?.doubleValue.map { $0 / 100 }
            switch status {
            case "succeed":
                return Sample(status: status, fraction: 1, bytes: record["size"]?.doubleValue.map { Int64($0) }, done: true, record: record)
            case "failed", "deleted":
                return Sample(status: status, fraction: progress, failureCode: record["error_code"]?.stringValue ?? status, record: record)
            default:
                let bytes = estimate.flatMap { total in progress.map { Int64(Double(total) * $0) } }
                return Sample(status: status, fraction: progress, bytes: bytes, total: estimate, approximate: true, record: record)
            }
        }
        let size = sample.bytes ?? 0
        reporter.finish("backup \(backupID) succeed, \(ByteFormat.size(size))")
        return sample.record
    }

    /// The size of the instance's newest successful backup other than `backupID`: the estimate of a running
    /// backup's size (nil when there is none).
    private func previousBackupSize(instanceID: String, excluding backupID: String) async throws -> Int64? {
        let page = try await self.client.send(
            .GET, self.client.path("v2", "/instances/\(instanceID)/backups"), query: [("offset", "0"), ("limit", "50")]
        ).json()
        let previous = (page["backup_record_response"]?.arrayValue ?? []).first {
            $0["status"]?.stringValue == "succeed" && $0["backup_id"]?.stringValue != backupID
        }
        return previous?["size"]?.doubleValue.flatMap { $0 > 0 ? Int64($0) : nil }
    }

    /// A DCS restore: `waiting` → `restoring` → `succeed` | `failed`; bytes from the backup's size.
    func dcsRestore(instanceID: String, restoreID: String, backupSize: Int64?) async throws -> JSONValue {
        let lookup = ResourceLookup(client: self.client)
        let reporter = ProgressReporter(label: "restore \(restoreID.prefix(8))", toStandardError: self.progressToStandardError)
        let sample = try await self.loop(reporter, what: "restore \(restoreID)") {
            guard let record = try await lookup.dcsRestore(instanceID: instanceID, restoreID: restoreID) else {
                throw ClientError.usage("restore \(restoreID) is not listed under instance \(instanceID)")
            }
            let status = record["status"]?.text ?? "?"
            let fraction = record["progress"]?.doubleValue.map { $0 / 100 }
            let bytes = backupSize.flatMap { size in fraction.map { Int64(Double(size) * $0) } }
            switch status {
            case "succeed": return Sample(status: status, fraction: 1, done: true, record: record)
            case "failed": return Sample(status: status, fraction: fraction, failureCode: record["error_code"]?.stringValue ?? status, record: record)
            default: return Sample(status: status, fraction: fraction, bytes: bytes, total: backupSize, record: record)
            }
        }
        reporter.finish("restore \(restoreID) succeed")
        return sample.record
    }

    /// A DCS migration task (a restore into another instance): `MIGRATING` → `SUCCESS` | `FAILED`.
    func migration(taskID: String) async throws -> JSONValue {
        let reporter = ProgressReporter(label: "restore \(taskID.prefix(8))", toStandardError: self.progressToStandardError)
        let sample = try await self.loop(reporter, what: "restore task \(taskID)") {
            let task = try await self.client.send(.GET, self.client.path("v2", "/migration-task/\(taskID)")).json()
            let status = task["status"]?.text ?? "?"
            switch status {
            case "SUCCESS": return Sample(status: status, fraction: 1, done: true, record: task)
            case "FAILED", "TERMINATED":
                return Sample(status: status, fraction: nil, failureCode: task["error_code"]?.stringValue ?? status, record: task)
            default: return Sample(status: status, fraction: nil, record: task)
            }
        }
        reporter.finish("restore task \(taskID) \(sample.status)")
        return sample.record
    }

    /// A DDM job: `Running` (with `process` "42%") → `Completed` | `Failed` (its `fail_reason` from the job list).
    func ddmJob(jobID: String, what: String) async throws -> JSONValue {
        let reporter = ProgressReporter(label: "\(what) \(jobID.prefix(8))", toStandardError: self.progressToStandardError)
        let sample = try await self.loop(reporter, what: "\(what) job \(jobID)") {
            let answer = try await self.client.send(.GET, self.client.path("v3", "/jobs/\(jobID)")).json()
            let job = answer["job"] ?? answer
            let status = job["status"]?.text ?? "?"
            let process = job["process"]?.text.replacingOccurrences(of: "%", with: "")
            let fraction = process.flatMap(Double.init).map { $0 / 100 }
            switch status {
            case "Completed": return Sample(status: status, fraction: 1, done: true, record: answer)
            case "Failed": return Sample(status: status, fraction: fraction, failureCode: try await self.ddmFailReason(jobID) ?? status, record: answer)
            default: return Sample(status: status, fraction: fraction, record: answer)
            }
        }
        reporter.finish("\(what) job \(jobID) \(sample.status)")
        return sample.record
    }

    /// The failed job's `fail_reason`, from the newest page of the job list (the single-job answer has none).
    private func ddmFailReason(_ jobID: String) async throws -> String? {
        var offset = 0
        while offset < 1024 {
            let page = try await self.client.send(.GET, self.client.path("v3", "/jobs"), query: [("offset", "\(offset)"), ("limit", "128")]).json()
            let jobs = page["jobs"]?.arrayValue ?? []
            if let job = jobs.first(where: { $0["id"]?.stringValue == jobID }) {
                return job["fail_reason"]?.stringValue.flatMap { $0.isEmpty ? nil : $0 }
            }
            if jobs.isEmpty { return nil }
            offset += jobs.count
        }
        return nil
    }
}
