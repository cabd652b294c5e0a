import NIOCore

/// Parses RESP2 values from the front of a byte buffer, one complete value at a time.
///
/// The parser holds no partial state: ``parse(_:)`` either consumes exactly one whole value or leaves the
/// buffer untouched and returns `nil`. That is what lets the connection hand the same byte stream to
/// another reader afterwards (the replication code reads the raw RDB payload that follows `SYNC` from
/// the very bytes that remain after the last parsed reply). The cost is that an incomplete value is
/// re-scanned when more bytes arrive; bulk strings are cheap to re-check (their length comes first),
/// only very large arrays pay for it, and the replies this project reads are small.
package struct RESPParser: Sendable {
    /// Redis' own `proto-max-bulk-len` default: a larger length can only be a corrupt stream.
    package static let defaultMaximumBulkLength = 512 * 1024 * 1024

    /// The largest bulk string accepted before the stream is declared corrupt.
    package var maximumBulkLength: Int
    /// The deepest nesting of arrays accepted, so that hostile input cannot exhaust the stack.
    package var maximumDepth: Int
    /// The longest `+`/`-`/`:` line accepted while still looking for its `\r\n`.
    package var maximumLineLength: Int

    /// Creates a parser.
    ///
    /// - Parameters:
    ///   - maximumBulkLength: Largest accepted bulk string, in bytes.
    ///   - maximumDepth: Deepest accepted array nesting.
    ///   - maximumLineLength: Longest accepted simple-string, error or integer line, in bytes.
    package init(
        maximumBulkLength: Int = RESPParser.defaultMaximumBulkLength,
        maximumDepth: Int = 32,
        maximumLineLength: Int = 1024 * 1024
    ) {
        self.maximumBulkLength = maximumBulkLength
        self.maximumDepth = maximumDepth
        self.maximumLineLength = maximumLineLength
    }

    /// Parses one value from the readable bytes of `buffer`.
    ///
    /// - Parameter buffer: Bytes received so far; on success its reader index moves past the value.
    /// - Returns: The value, or `nil` when the buffer does not yet hold a complete value (the buffer is then
    ///   left unchanged).
    /// - Throws: ``RedisError/protocolViolation(_:)`` when the bytes cannot be RESP2.
    package func parse(_ buffer: inout ByteBuffer) throws -> RESPValue? {
        var cursor = buffer
        guard let value = try self.parseValue(&cursor, depth: 0) else {
            return nil
        }
        buffer.moveReaderIndex(to: cursor.readerIndex)
        return value
    }

    private func parseValue(_ cursor: inout ByteBuffer, depth: Int) throws -> RESPValue? {
        guard let type = cursor.readInteger(as: UInt8.self) else {
            return nil
        }
        switch type {
        case UInt8(ascii: "+"):
            return try self.readLine(&cursor).map { .simpleString($0) }
        case UInt8(ascii: "-"):
            return try self.readLine(&cursor).map { .error($0) }
        case UInt8(ascii: ":"):
            guard let line = try self.readLine(&cursor) else {
                return nil
            }
            guard let value = Int64(line) else {
                throw RedisError.protocolViolation("invalid integer reply \(line.prefix(32).debugDescription)")
            }
            return .integer(value)
        case UInt8(ascii: "$"):
            return try self.parseBulkString(&cursor)
        case UInt8(ascii: "*"):
            return try self.parseArray(&cursor, depth: depth)
        default:
            throw RedisError.protocolViolation("unexpected RESP type byte 0x\(String(type, radix: 16)) (only RESP2 is spoken)")
        }
    }

    private func parseBulkString(_ cursor: inout ByteBuffer) throws -> RESPValue? {
        guard let length = try self.readLength(&cursor, kind: "bulk string") else {
            return nil
        }
        if length == -1 {
            return .bulkString(nil)
        }
        guard length <= self.maximumBulkLength else {
            throw RedisError.protocolViolation("bulk string of \(length) bytes exceeds the limit of \(self.maximumBulkLength)")
        }
        guard cursor.readableBytes >= length + 2 else {
            return nil
        }
        let payload = cursor.readSlice(length: length)!
        guard cursor.readInteger(as: UInt8.self) == UInt8(ascii: "\r"), cursor.readInteger(as: UInt8.self) == UInt8(ascii: "\n") else {
            throw RedisError.protocolViolation("bulk string of \(length) bytes is not followed by CRLF")
        }
        return .bulkString(payload)
    }

    private func parseArray(_ cursor: inout ByteBuffer, depth: Int) throws -> RESPValue? {
        guard let count = try self.readLength(&cursor, kind: "array") else {
            return nil
        }
        if count == -1 {
            return .array(nil)
        }
        guard depth < self.maximumDepth else {
            throw RedisError.protocolViolation("arrays nested deeper than \(self.maximumDepth) levels")
        }
        var elements: [RESPValue] = []
        // Every element takes at least 3 bytes (`:0\r\n` is 4), so never trust `count` for the reservation.
        elements.reserveCapacity(min(count, cursor.readableBytes / 3))
        for _ in 0..<count {
            guard let element = try self.parseValue(&cursor, depth: depth + 1) else {
                return nil
            }
            elements.append(element)
        }
        return .array(elements)
    }

    /// Reads the decimal length after `$` or `*`: -1 means null, other negatives are invalid.
    private func readLength(_ cursor: inout ByteBuffer, kind: String) throws -> Int? {
        guard let line = try self.readLine(&cursor) else {
            return nil
        }
        guard let length = Int(line), length >= -1 else {
            throw RedisError.protocolViolation("invalid \(kind) length \(line.prefix(32).debugDescription)")
        }
        return length
    }

    /// Reads up to the next `\r\n`; `nil` when it has not arrived yet.
    private func readLine(_ cursor: inout ByteBuffer) throws -> String? {
        let carriageReturn = cursor.withUnsafeReadableBytes { $0.firstIndex(of: UInt8(ascii: "\r")) }
        guard let lineLength = carriageReturn else {
            if cursor.readableBytes > self.maximumLineLength {
                throw RedisError.protocolViolation("line longer than \(self.maximumLineLength) bytes without CRLF")
            }
            return nil
        }
        guard cursor.readableBytes > lineLength + 1 else {
            return nil
        }
        guard cursor.getInteger(at: cursor.readerIndex + lineLength + 1, as: UInt8.self) == UInt8(ascii: "\n") else {
            throw RedisError.protocolViolation("carriage return not followed by line feed")
        }
        let line = cursor.readString(length: lineLength)!
        cursor.moveReaderIndex(forwardBy: 2)
        return line
    }
}
