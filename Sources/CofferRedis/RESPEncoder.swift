import NIOCore

/// Encodes commands in the RESP2 request form: an array of bulk strings.
///
/// Every argument is sent as a length-prefixed bulk string, so values may contain any bytes
/// (`\r\n`, NUL, binary DUMP payloads) without escaping. The inline form (`PING\r\n`) is never used.
package struct RESPEncoder: Sendable {
    /// Creates an encoder; it has no configuration.
    package init() {}

    /// Appends one command to `buffer`.
    ///
    /// - Parameters:
    ///   - arguments: The command name followed by its arguments, as raw bytes.
    ///   - buffer: The buffer to append to; several commands may be appended for pipelining.
    package func encode(_ arguments: [ByteBuffer], into buffer: inout ByteBuffer) {
        buffer.writeArrayHeader(count: arguments.count)
        for argument in arguments {
            buffer.writeBulkHeader(length: argument.readableBytes)
            buffer.writeImmutableBuffer(argument)
            buffer.writeStaticString("\r\n")
        }
    }

    /// Appends one command given as strings (encoded as UTF-8) to `buffer`.
    ///
    /// - Parameters:
    ///   - arguments: The command name followed by its arguments.
    ///   - buffer: The buffer to append to.
    package func encode(_ arguments: [String], into buffer: inout ByteBuffer) {
        buffer.writeArrayHeader(count: arguments.count)
        for argument in arguments {
            buffer.writeBulkHeader(length: argument.utf8.count)
            buffer.writeString(argument)
            buffer.writeStaticString("\r\n")
        }
    }

    /// Encodes one command into a new buffer.
    ///
    /// - Parameter arguments: The command name followed by its arguments.
    /// - Returns: The encoded command.
    package func encode(_ arguments: [String]) -> ByteBuffer {
        var buffer = ByteBuffer()
        self.encode(arguments, into: &buffer)
        return buffer
    }
}
