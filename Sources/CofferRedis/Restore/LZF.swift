import NIOCore

/// LZF decompression (reference §4.3, liblzf `lzf_d.c`): for the key names and function sources a restore must
/// send as plain bytes (values stay compressed there: that form is valid DUMP payload), and for the strings an
/// AOF backup writes out as commands.
enum LZF {
    /// Expands `input` into exactly `expandedLength` bytes.
    /// - Throws: ``RedisError/protocolViolation(_:)`` when the data is malformed or does not expand to that size.
    static func decompress(_ input: ByteBuffer, expandedLength: Int) throws -> ByteBuffer {
        var output = [UInt8]()
        output.reserveCapacity(expandedLength)
        let bad = RedisError.protocolViolation("malformed LZF string in the RDB")
        try input.withUnsafeReadableBytes { bytes in
            var index = 0
            while index < bytes.count {
                let control = Int(bytes[index])
                index += 1
                if control < 32 {
                    let count = control + 1
                    guard index + count <= bytes.count, output.count + count <= expandedLength else { throw bad }
                    output.append(contentsOf: bytes[index..<index + count])
                    index += count
                } else {
                    var length = control >> 5
                    if length == 7 {
                        guard index < bytes.count else { throw bad }
                        length += Int(bytes[index])
                        index += 1
                    }
                    guard index < bytes.count else { throw bad }
                    let back = ((control & 31) << 8) + Int(bytes[index]) + 1
                    index += 1
                    guard back <= output.count, output.count + length + 2 <= expandedLength else { throw bad }
                    var from = output.count - back
                    for _ in 0..<(length + 2) {
                        output.append(output[from])
                        from += 1
                    }
                }
            }
        }
        guard output.count == expandedLength else { throw bad }
        return ByteBuffer(bytes: output)
    }
}
