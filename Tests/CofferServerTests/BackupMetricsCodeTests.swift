import CofferServer
import Testing

/// A failure reason's code for `coffer_job_failures_total`: catalogue-shaped codes only, so the label stays bounded.
@Suite("Backup metrics: failure codes from reasons")
struct BackupMetricsCodeTests {
    @Test(
        "The first catalogue-shaped token, else unknown",
        arguments: [
            ("DBS.300331: target data node 127.0.0.1:44815: unreachable", "DBS.300331"),
            ("restore failed: dcs.08.0007: key has RDB type 20", "dcs.08.0007"),
            ("DCS.4800", "DCS.4800"),
            ("cannot connect to 127.0.0.1:6379", "unknown"),
            ("version 7.0.15 is too old", "unknown"),
            ("", "unknown"),
        ])
    func code(reason: String, expected: String) {
        #expect(BackupMetrics.code(fromReason: reason) == expected)
    }
}
