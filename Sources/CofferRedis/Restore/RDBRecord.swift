import NIOCore

/// One key as an RDB holds it, ready to become a `RESTORE`: the value is not decoded, only cut out.
package struct RDBRecord: Sendable {
    package var database: Int
    /// The key's bytes (decoded from the RDB's integer or LZF form).
    package var key: ByteBuffer
    /// Absolute deadline in Unix ms, or nil when the key does not expire.
    package var expiry: Int64?
    /// LRU idle seconds (`IDLE` opcode, written under an `*-lru` policy).
    package var idle: UInt64?
    /// LFU counter (`FREQ` opcode, written under an `*-lfu` policy).
    package var freq: UInt8?
    /// The RDB value type (§4.5): the first byte of a DUMP payload.
    package var type: UInt8
    /// The value's encoding exactly as in the RDB, which is a DUMP payload's body.
    package var value: ByteBuffer

    package init(database: Int, key: ByteBuffer, expiry: Int64?, idle: UInt64?, freq: UInt8?, type: UInt8, value: ByteBuffer) {
        self.database = database
        self.key = key
        self.expiry = expiry
        self.idle = idle
        self.freq = freq
        self.type = type
        self.value = value
    }

    /// The key for messages: printable ASCII as is, anything else as `\xHH`, cut at 128 characters.
    package var printableKey: String { Self.printable(self.key) }

    /// `bytes` for messages: printable ASCII as is, anything else (and `\`, `"`) as `\xHH`, cut at 128 characters.
    package static func printable(_ bytes: ByteBuffer) -> String {
        var text = ""
        for byte in bytes.readableBytesView.prefix(128) {
            if (0x20...0x7e).contains(byte), byte != UInt8(ascii: "\\"), byte != UInt8(ascii: "\"") {
                text.unicodeScalars.append(Unicode.Scalar(byte))
            } else {
                text += "\\x" + (byte < 16 ? "0" : "") + String(byte, radix: 16)
            }
        }
        return bytes.readableBytes > 128 ? text + "…" : text
    }
}

/// What the walker found next.
enum RDBItem {
    case record(RDBRecord)
    /// A Redis 7 function library (`FUNCTION2`): its source, for `FUNCTION LOAD`.
    case function(ByteBuffer)
    /// A key record walked over without capture (a backup's scan), so that the caller goes back to its buffered
    /// fast path (``ReplicationSource/nextBufferedRecord(_:)``) for the records after it.
    case skipped
    case end(RDBScanResult)
}

/// The walker's state between items: the format version, the current database, the opcodes that
/// qualify the next key, and the key counts so far.
struct RDBWalk {
    let version: Int
    var database = 0
    var expiry: Int64?
    var idle: UInt64?
    var freq: UInt8?
    var keys: [Int: Int] = [:]

    init(version: Int) { self.version = version }
}
