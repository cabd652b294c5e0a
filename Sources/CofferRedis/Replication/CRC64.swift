/// Redis's CRC-64 (Jones polynomial, reflected, init 0, xorout 0), the checksum at the end of every
/// RDB file. Check value: `"123456789"` → `0xe9c6d914c4b8d9ca`.
///
/// Slicing-by-8: a backup checksums every byte it receives, so eight bytes are folded per step with
/// eight 256-entry tables rather than one table lookup per byte. The tables live in one flat array
/// (table `t` at `t * 256`) so that the hot loop needs a single unsafe buffer.
package struct CRC64: Sendable {
    package private(set) var value: UInt64 = 0

    package init() {}

    /// `table[t * 256 + b]`: the CRC of byte `b` followed by `t` zero bytes.
    private static let table: [UInt64] = {
        let polynomial: UInt64 = 0x95ac_9329_ac4b_c9b5
        var table = [UInt64](repeating: 0, count: 8 * 256)
        for byte in 0..<256 {
            var crc = UInt64(byte)
            for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ polynomial : crc >> 1 }
            table[byte] = crc
        }
        for t in 1..<8 {
            for byte in 0..<256 {
                let previous = table[(t - 1) * 256 + byte]
                table[t * 256 + byte] = (previous >> 8) ^ table[Int(previous & 0xff)]
            }
        }
        return table
    }()

    /// Adds `bytes` to the checksum.
    package mutating func update(_ bytes: UnsafeRawBufferPointer) {
        self.value = Self.table.withUnsafeBufferPointer { table in
            var crc = self.value
            var index = 0
            let count = bytes.count
            while index + 8 <= count {
                let word = crc ^ bytes.loadUnaligned(fromByteOffset: index, as: UInt64.self).littleEndian
                crc = table[0x700 | Int(word & 0xff)] ^ table[0x600 | Int((word >> 8) & 0xff)]
                    ^ table[0x500 | Int((word >> 16) & 0xff)] ^ table[0x400 | Int((word >> 24) & 0xff)]
                    ^ table[0x300 | Int((word >> 32) & 0xff)] ^ table[0x200 | Int((word >> 40) & 0xff)]
                    ^ table[0x100 | Int((word >> 48) & 0xff)] ^ table[Int(word >> 56)]
                index += 8
            }
            while index < count {
                crc = table[Int((crc ^ UInt64(bytes[index])) & 0xff)] ^ (crc >> 8)
                index += 1
            }
            return crc
        }
    }

    /// Adds an array of bytes (tests, small inputs).
    package mutating func update(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { self.update($0) }
    }
}
