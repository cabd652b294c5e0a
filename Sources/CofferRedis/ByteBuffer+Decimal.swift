import NIOCore

extension ByteBuffer {
    /// Appends `value` in decimal ASCII without making a `String`: RESP lengths and integer arguments are
    /// written for every command of a restore, so an interpolated string each would cost an allocation.
    mutating func writeDecimal<Integer: FixedWidthInteger>(_ value: Integer) {
        self.writeWithUnsafeMutableBytes(minimumWritableBytes: 21) { memory in
            var writer = RawBytesWriter(memory)
            writer.decimal(value)
            return writer.count
        }
    }

    /// The number of bytes ``writeDecimal(_:)`` writes for `value`.
    static func decimalLength<Integer: FixedWidthInteger>(_ value: Integer) -> Int {
        var magnitude = UInt64(value.magnitude)
        var digits = value < 0 ? 2 : 1
        while magnitude >= 10 {
            magnitude /= 10
            digits += 1
        }
        return digits
    }

    /// Appends a RESP bulk-string header, `$<length>\r\n`.
    mutating func writeBulkHeader(length: Int) {
        self.writeInteger(UInt8(ascii: "$"))
        self.writeDecimal(length)
        self.writeStaticString("\r\n")
    }

    /// Appends a RESP array header, `*<count>\r\n`.
    mutating func writeArrayHeader(count: Int) {
        self.writeInteger(UInt8(ascii: "*"))
        self.writeDecimal(count)
        self.writeStaticString("\r\n")
    }
}
