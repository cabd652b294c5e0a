/// How far a snapshot pull has come.
///
/// With the `$<length>` framing the byte total is known up front; with the diskless `$EOF:` framing it
/// is not, and progress comes from keys parsed against the key counts (`RESIZEDB`, or `INFO keyspace`
/// for databases not reached yet).
package struct SnapshotProgress: Sendable, Equatable {
    package var bytes: Int64
    package var totalBytes: Int64?
    package var keysParsed: Int
    package var keysTotal: Int?

    /// A fraction in 0…1, from bytes when their total is known, else from keys; nil when neither is known.
    package var fraction: Double? {
        if let total = self.totalBytes, total > 0 { return min(1, Double(self.bytes) / Double(total)) }
        if let keys = self.keysTotal, keys > 0 { return min(1, Double(self.keysParsed) / Double(keys)) }
        return nil
    }
}

/// What a finished pull reports.
package struct SnapshotSummary: Sendable, Equatable {
    /// Bytes of RDB written to the sink (the payload only, no framing).
    package var bytes: Int64
    /// `$<length>` (disk) or `$EOF:` (diskless).
    package var diskless: Bool
    /// RDB format version (`REDIS0010` → 10).
    package var rdbVersion: Int
    /// Keys per database, counted while parsing.
    package var keysPerDatabase: [Int: Int]
    /// Whether the file carried a checksum (0 means `rdbchecksum no`); when it did, it was verified.
    package var checksumVerified: Bool

    package var keys: Int { self.keysPerDatabase.values.reduce(0, +) }
}
