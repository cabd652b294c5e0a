import CofferCore

/// Where a DCS backup's files live in the blob store, in one place for the jobs that write, restore and remove them.
///
/// An RDB backup is one file, `….rdb`. An AOF backup is two: the AOF itself (`….aof`, the record's `blobKey`,
/// what a download link serves) and the RDB snapshot it was made from, kept beside it under the same name with
/// `.rdb` (the sidecar), so that a restore of an AOF backup is exactly as fast and safe as an RDB restore.
/// The sidecar's key follows from the AOF's, so no column records it.
/// A cluster or master/standby backup has one RDB per shard, `….shard-<n>.rdb`, listed in the record's `shards`.
enum DCSBackupFiles {
    /// The file the backup's record points at (`blobKey`) once it succeeded.
    static func key(_ record: DCSBackupRecord) -> String {
        "\(self.stem(record)).\(record.backupFormat.rawValue)"
    }

    /// The RDB snapshot of the backup: the record's own file for an RDB backup, the sidecar for an AOF backup.
    static func snapshotKey(_ record: DCSBackupRecord) -> String { "\(self.stem(record)).rdb" }

    /// The RDB sidecar beside an AOF backup's file, or nil for a key that is not an AOF backup's.
    static func sidecarKey(forAOFKey key: String) -> String? {
        guard key.hasSuffix(".aof") else { return nil }
        return String(key.dropLast(4)) + ".rdb"
    }

    /// Every file a backup may own, whether or not it was written: what a delete removes.
    static func allKeys(_ record: DCSBackupRecord) -> [String] {
        var keys = [self.key(record)]
        if record.backupFormat == .aof { keys.append(self.snapshotKey(record)) }
        if let stored = record.blobKey, !keys.contains(stored) { keys.append(stored) }
        for shard in record.shards ?? [] where !keys.contains(shard.blobKey) { keys.append(shard.blobKey) }
        return keys
    }

    /// The stored file `key` with its sidecar, if it has one: what an instance delete removes per backup.
    static func withSidecar(_ key: String) -> [String] {
        [key] + (self.sidecarKey(forAOFKey: key).map { [$0] } ?? [])
    }

    /// The most shard files a backup may have (DCS hands out at most 64 links).
    static let maximumShards = 64

    /// The RDB of shard `index` of a cluster or master/standby backup.
    static func shardKey(_ record: DCSBackupRecord, index: Int) -> String { "\(self.stem(record)).shard-\(index).rdb" }

    private static func stem(_ record: DCSBackupRecord) -> String { "dcs/\(record.projectID)/\(record.instanceID)/\(record.id)" }
}
