import CCRC64

/// Redis's CRC-64 (Jones polynomial, reflected, init 0, xorout 0), the checksum at the end of every
/// RDB file. Check value: `"123456789"` → `0xe9c6d914c4b8d9ca`.
///
/// A backup checksums every byte it receives (slicing-by-8 was 12 % of a cluster backup's CPU), so where the CPU
/// has a carry-less multiply (x86-64 PCLMULQDQ) the bulk of each buffer is folded 64 bytes a step in C
/// (`CCRC64`, which explains the arithmetic) down to 16 bytes with the same CRC; those and the tail go through
/// the tables. Elsewhere slicing-by-8: eight bytes per step with eight 256-entry tables in one flat array
/// (table `t` at `t * 256`), so that the hot loop needs a single unsafe buffer.
package struct CRC64: Sendable {
    package private(set) var value: UInt64 = 0

    package init() {}

    /// `table[t * 256 + b]`: the CRC of byte `b` followed by `t` zero bytes.
    private static let table: [UInt64] = {
        let polynomial = Self.reflect(Self.polynomial)  // 0x95ac9329ac4bc9b5
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

    /// The polynomial in normal form (x^64 implied); the tables use its bit reflection, 0x95ac9329ac4bc9b5.
    static let polynomial: UInt64 = 0xad93_d235_94c9_35a9

    /// x^n modulo the polynomial, bit-reflected: the multipliers that move 16 bytes `n + 1 - 64` or `n + 1`
    /// bits further along the message (see `CCRC64`).
    static func reflectedPower(_ n: Int) -> UInt64 {
        var remainder: UInt64 = 1
        for _ in 0..<n {
            let carry = remainder >> 63
            remainder <<= 1
            if carry == 1 { remainder ^= Self.polynomial }
        }
        return Self.reflect(remainder)
    }

    /// `value` with its 64 bits in reverse order: coefficient of x^i at bit 63 - i.
    static func reflect(_ value: UInt64) -> UInt64 {
        var reflected: UInt64 = 0
        for bit in 0..<64 where value & (1 << bit) != 0 { reflected |= 1 << (63 - bit) }
        return reflected
    }

    /// Folding across 512 bits (four registers a step), then across 128 (the registers into one).
    private static let foldConstants: [UInt64] = [575, 511, 191, 127].map(reflectedPower)

    /// Whether `update` folds with carry-less multiplies; tests compare both paths.
    package static let folds = coffer_crc64_fold_supported() != 0

    /// Folding needs one 64-byte block and then still runs the tables over 16 bytes and the tail, so small
    /// inputs (RESP lines, short reads) stay on the tables. The value is a round guess, not a measured optimum.
    static let foldThreshold = 256

    /// Adds `bytes` to the checksum.
    package mutating func update(_ bytes: UnsafeRawBufferPointer) {
        if Self.folds && bytes.count >= Self.foldThreshold, let base = bytes.baseAddress {
            let blocks = bytes.count / 64
            var folded: (UInt64, UInt64) = (0, 0)
            withUnsafeMutableBytes(of: &folded) { out in
                Self.foldConstants.withUnsafeBufferPointer { constants in
                    coffer_crc64_fold(
                        self.value, base.assumingMemoryBound(to: UInt8.self), blocks, constants.baseAddress,
                        out.baseAddress!.assumingMemoryBound(to: UInt8.self))
                }
            }
            self.value = 0
            withUnsafeBytes(of: &folded) { self.updateWithTables($0) }
            self.updateWithTables(UnsafeRawBufferPointer(rebasing: bytes[(blocks * 64)...]))
        } else {
            self.updateWithTables(bytes)
        }
    }

    /// Slicing-by-8 over `bytes`: the whole of small inputs, the ends of large ones, every input without folding.
    package mutating func updateWithTables(_ bytes: UnsafeRawBufferPointer) {
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
