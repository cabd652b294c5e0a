import CofferCore
import CoreMetrics
import Foundation
import Logging
import Metrics
import Prometheus
import Synchronization

/// The backup metrics of `/metrics`, to alert on.
///
/// Two kinds, by where the truth lives:
/// - **Events** (durations, bytes, failures by code) are recorded by the node that ran the job
///   (`MeteredJobHandler`), through swift-metrics into the application's Prometheus registry: per-node counters
///   that Prometheus sums across nodes and that restart from zero like any counter.
/// - **State** (age of each instance's newest successful backup, the job queue) is read from the store at
///   every scrape (`BackupMetricsStore`, three indexed aggregate queries), so every node answers the same right
///   after a restart, and a deleted instance's series disappear. A periodic refresh would be stale by up to its
///   period and would need a service of its own; a scrape every 15–60 s costs three small queries.
///
/// Labels are bounded: instance ids (never names), the service, the job kind, error codes from the catalogue.
package final class BackupMetrics: Sendable {
    private let factory: PrometheusMetricsFactory
    private let store: any BackupMetricsStore
    private let clock: @Sendable () -> Date
    private let logger: Logger
    private let timers = Mutex<[String: Metrics.Timer]>([:])
    private let counters = Mutex<[String: CoreMetrics.Counter]>([:])

    package init(registry: PrometheusCollectorRegistry, store: any BackupMetricsStore, logger: Logger, clock: @escaping @Sendable () -> Date) {
        var factory = PrometheusMetricsFactory(registry: registry)
        // Backups and restores take seconds to hours.
        factory.defaultDurationHistogramBuckets = [1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 14400, 28800].map { .seconds($0) }
        self.factory = factory
        self.store = store
        self.logger = logger
        self.clock = clock
    }

    /// What a job kind is, for the metrics: nil for kinds that are neither a backup nor a restore.
    package enum Operation: String, Sendable {
        case backup, restore

        package static func of(_ kind: JobKind) -> (service: BackupFreshness.Service, operation: Operation)? {
            switch kind {
            case .dcsBackup: (.dcs, .backup)
            case .dcsRestore: (.dcs, .restore)
            case .ddmBackup: (.ddm, .backup)
            case .ddmRestore: (.ddm, .restore)
            default: nil
            }
        }
    }

    /// One run of a backup or restore job ended (`outcome`: `succeeded` or `failed`); `bytes` when it succeeded.
    func recordRun(
        service: BackupFreshness.Service, operation: Operation, instanceID: String, duration: Duration, succeeded: Bool, bytes: Int64?
    ) {
        let outcome = succeeded ? "succeeded" : "failed"
        let name = "coffer_\(operation.rawValue)_duration_seconds"
        let key = [name, service.rawValue, instanceID, outcome].joined(separator: " ")
        let timer = self.timers.withLock { timers in
            if let timer = timers[key] { return timer }
            let timer = Metrics.Timer(
                label: name, dimensions: [("service", service.rawValue), ("instance_id", instanceID), ("outcome", outcome)], factory: self.factory)
            timers[key] = timer
            return timer
        }
        timer.record(duration: duration)
        if succeeded, let bytes, bytes > 0 {
            self.counter("coffer_\(operation.rawValue)_bytes_total", [("service", service.rawValue), ("instance_id", instanceID)])
                .increment(by: bytes)
        }
    }

    /// A backup or restore job ended failed, with its record's code (or one read from the failure's reason).
    func recordFailure(service: BackupFreshness.Service, operation: Operation, instanceID: String, code: String) {
        self.counter(
            "coffer_job_failures_total",
            [("service", service.rawValue), ("operation", operation.rawValue), ("instance_id", instanceID), ("code", code)]
        ).increment()
    }

    private func counter(_ name: String, _ dimensions: [(String, String)]) -> CoreMetrics.Counter {
        let key = ([name] + dimensions.map(\.1)).joined(separator: " ")
        return self.counters.withLock { counters in
            if let counter = counters[key] { return counter }
            let counter = CoreMetrics.Counter(label: name, dimensions: dimensions, factory: self.factory)
            counters[key] = counter
            return counter
        }
    }

    /// A code from a free-text failure reason (DDM jobs keep a reason, not a code): the first catalogue-shaped
    /// token (`DBS.280001`, `dcs.08.0002`, `DCS.4800`), else `unknown`, so the label stays bounded.
    package static func code(fromReason reason: String) -> String {
        for token in reason.split(whereSeparator: { !($0.isLetter || $0.isNumber || $0 == ".") }) {
            let parts = token.split(separator: ".", omittingEmptySubsequences: false)
            guard parts.count >= 2, parts.count <= 3, parts[0].count >= 2, parts[0].count <= 6, parts[0].allSatisfy(\.isLetter),
                parts.dropFirst().allSatisfy({ !$0.isEmpty && $0.count <= 8 && $0.allSatisfy(\.isNumber) })
            else { continue }
            return String(token)
        }
        return "unknown"
    }

    /// The scrape-time gauges in the text exposition format. On a store error the node still answers, with
    /// `coffer_metrics_store_up 0` (and no stale values) so an alert can tell "unknown" from "fine".
    package func renderStoreGauges() async -> [UInt8] {
        let now = self.clock()
        var out = ""
        do {
            let freshness = try await self.store.backupFreshness()
            let queue = try await self.store.jobQueueDepth()
            out += "# HELP coffer_backup_last_success_age_seconds Seconds since the instance's newest successful backup (since its adoption when it has none).\n"
            out += "# TYPE coffer_backup_last_success_age_seconds gauge\n"
            for item in freshness {
                let age = max(0, now.timeIntervalSince(item.newestSuccessAt ?? item.instanceCreatedAt))
                out += "coffer_backup_last_success_age_seconds{service=\"\(item.service.rawValue)\",instance_id=\"\(Self.escape(item.instanceID))\"} \(Self.number(age))\n"
            }
            out += "# HELP coffer_backup_last_success_timestamp_seconds Unix time of the instance's newest successful backup (absent when none).\n"
            out += "# TYPE coffer_backup_last_success_timestamp_seconds gauge\n"
            for item in freshness {
                guard let at = item.newestSuccessAt else { continue }
                out += "coffer_backup_last_success_timestamp_seconds{service=\"\(item.service.rawValue)\",instance_id=\"\(Self.escape(item.instanceID))\"} \(Self.number(at.timeIntervalSince1970))\n"
            }
            out += "# HELP coffer_job_queue_depth Jobs queued or running, by kind (every node sees the shared queue).\n"
            out += "# TYPE coffer_job_queue_depth gauge\n"
            for kind in JobKind.allCases {
                for status in [Job.Status.queued, .running] {
                    let count = queue.first(where: { $0.kind == kind.rawValue && $0.status == status })?.count ?? 0
                    out += "coffer_job_queue_depth{kind=\"\(kind.rawValue)\",state=\"\(status.rawValue)\"} \(count)\n"
                }
            }
            out += "# TYPE coffer_metrics_store_up gauge\ncoffer_metrics_store_up 1\n"
        } catch {
            self.logger.warning("Metrics: the store did not answer", metadata: ["error": "\(error)"])
            out = "# TYPE coffer_metrics_store_up gauge\ncoffer_metrics_store_up 0\n"
        }
        return Array(out.utf8)
    }

    private static func escape(_ value: String) -> String {
        value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"").replacingOccurrences(of: "\n", with: "\\n")
    }

    private static func number(_ value: Double) -> String { String(format: "%.3f", value) }
}
