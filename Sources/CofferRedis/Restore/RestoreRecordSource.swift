import NIOCore

/// Where a ``RestoreWriter`` takes its records from: one RDB file (``RDBRecordReader``), or one node's share of
/// several files routed by hash slot (``ClusterRestoreWriter``).
package protocol RestoreRecordSource {
    /// The next record when it is already in hand (no waiting); nil when ``next()`` must be awaited.
    mutating func nextBuffered() throws -> RDBRecord?
    /// The next record or function library; nil at the end.
    mutating func next() async throws -> RDBRecordReader.Item?
    /// Bytes of the source consumed so far, for progress.
    var bytesRead: Int64 { get }
    /// The RDB format version of the records' values (the DUMP payload version is derived from it).
    var version: Int? { get }
}

extension RDBRecordReader: RestoreRecordSource {}

/// A cluster node's answer that the key lives elsewhere: `MOVED <slot> <host>:<port>` (the slot has moved for good)
/// or `ASK <slot> <host>:<port>` (the slot is being migrated and this key is already, or is to be, on the other node).
package struct RestoreRedirect: Sendable, Equatable, CustomStringConvertible {
    package enum Kind: String, Sendable { case moved = "MOVED", ask = "ASK" }

    package var kind: Kind
    package var slot: Int
    package var host: String
    package var port: Int

    package init(kind: Kind, slot: Int, host: String, port: Int) {
        self.kind = kind
        self.slot = slot
        self.host = host
        self.port = port
    }

    /// Parses an error reply; nil for any other error.
    package init?(errorMessage: String) {
        let parts = errorMessage.split(separator: " ")
        guard parts.count == 3, let kind = Kind(rawValue: String(parts[0])), let slot = Int(parts[1]),
            let colon = parts[2].lastIndex(of: ":"), let port = Int(parts[2][parts[2].index(after: colon)...])
        else { return nil }
        var host = String(parts[2][..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        self.init(kind: kind, slot: slot, host: host, port: port)
    }

    package var description: String { "\(self.kind.rawValue) \(self.slot) \(self.host):\(self.port)" }
}

/// Sends one refused command again where a redirect points and returns that node's reply (after following any
/// further redirects itself). The command is the exact RESP bytes the first node was sent.
package typealias RestoreRedirectHandler = @Sendable (RestoreRedirect, ByteBuffer) async throws -> RESPValue
