import NIOCore

/// One RESP2 value as sent by a Redis server.
///
/// Bulk strings stay `ByteBuffer`s because Redis values are binary (DUMP payloads, RDB chunks,
/// arbitrary user data); decoding to `String` is the caller's decision through ``string``.
/// A `-ERR` reply is a value (``error(_:)``), not a thrown error, so that a pipeline of commands
/// can report one failed command among many.
package enum RESPValue: Sendable, Equatable {
    /// `+OK`: a short status line.
    case simpleString(String)
    /// `-ERR message`: the full line, including the error code prefix (`ERR`, `WRONGPASS`, …).
    case error(String)
    /// `:42`.
    case integer(Int64)
    /// `$n` followed by `n` bytes; `nil` for the null bulk string `$-1`.
    case bulkString(ByteBuffer?)
    /// `*n` followed by `n` values; `nil` for the null array `*-1`.
    case array([RESPValue]?)
}

extension RESPValue {
    /// The text of a simple or bulk string (bulk strings decoded as UTF-8), else `nil`.
    package var string: String? {
        switch self {
        case .simpleString(let text):
            return text
        case .bulkString(.some(let buffer)):
            return String(buffer: buffer)
        default:
            return nil
        }
    }

    /// The bytes of a bulk string (or of a simple string), else `nil`.
    package var bytes: ByteBuffer? {
        switch self {
        case .bulkString(let buffer):
            return buffer
        case .simpleString(let text):
            return ByteBuffer(string: text)
        default:
            return nil
        }
    }

    /// The value of an integer reply, or of a string reply holding a decimal number.
    package var integer: Int64? {
        switch self {
        case .integer(let value):
            return value
        case .simpleString, .bulkString:
            return self.string.flatMap { Int64($0) }
        default:
            return nil
        }
    }

    /// The elements of a non-null array, else `nil`.
    package var array: [RESPValue]? {
        if case .array(let elements) = self {
            return elements
        }
        return nil
    }

    /// The message of an error reply, else `nil`.
    package var errorMessage: String? {
        if case .error(let message) = self {
            return message
        }
        return nil
    }

    /// `true` for the null bulk string and the null array (`GET` of a missing key).
    package var isNull: Bool {
        switch self {
        case .bulkString(nil), .array(nil):
            return true
        default:
            return false
        }
    }
}
