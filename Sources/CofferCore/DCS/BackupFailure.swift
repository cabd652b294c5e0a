/// The `error_code` a failed DCS backup record carries (reference 7.1.3), chosen by cause.
///
/// Huawei's codes name its own tooling; Coffer maps its causes onto the closest ones:
/// the Redis side failed (unreachable, refused, connection lost, corrupt stream) → `dcs.08.0001`
/// ("failed to start the backup tool"); a time-out or an interruption (shutdown, crash) → `dcs.08.0002`
/// ("execution timed out"); the blob store failed → `dcs.08.0005` ("failed to create the bucket").
package enum BackupFailure: String, Sendable {
    case redis = "dcs.08.0001"
    case timedOut = "dcs.08.0002"
    case storage = "dcs.08.0005"
    /// A restore could not write the data into the target (refused payload, target lost mid-way).
    case synchronization = "dcs.08.0007"
    /// An automatic backup could not start in its window because the instance ran other tasks.
    case scheduleMissed = "dcs.08.0008"
}
