/// Redis's CRC-64 (Jones polynomial, reflected, init 0, xorout 0), the checksum at the end of every
/// RDB file. Check value: `"123456789"` → `0xe9c6d914c4b8d9ca`.
///
/// Slicing-by-8 tables: a backup checksums every byte it receives, so this runs at memory speed
/// rather than one table lookup per byte.
package struct CRC64: Sendable {
    package private(set) var value: UInt64 = 0

    package init() {}

    private static let tables: [[UInt64]] = {
        let polynomial: UInt64 = 0x95ac_9329_ac4b_c9b5
        var tables = [[UInt64]](repeating: [UInt64](repeating: 0, count: 256), count: 8)
        for i in 0..<256 {
            var crc = UInt64(i)
            for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ polynomial : crc >> 1 }
            tables[0][i] = crc
        }
        for i in 0..<256 {
            for t in 1..<8 { tables[t][i] = (tables[t - 1][i] >> 8) ^ tables[0][Int(tables[t - 1][i] & 0xff)] }
        }
        return tables
    }()

    /// Adds `bytes` to the checksum.
    package mutating func update(_ bytes: UnsafeRawBufferPointer) {
        var crc = self.value
        Self.tables.withUnsafeBufferPointer { tables in
            let t0 = tables[0], t1 = tables[1], t2 = tables[2], t3 = tables[3]
            let t4 = tables[4], t5 = tables[5], t6 = tables[6], t7 = tables[7]
            t0.withUnsafeBufferPointer { t0 in
                t1.withUnsafeBufferPointer { t1 in
                    t2.withUnsafeBufferPointer { t2 in
                        t3.withUnsafeBufferPointer { t3 in
                            t4.withUnsafeBufferPointer { t4 in
                                t5.withUnsafeBufferPointer { t5 in
                                    t6.withUnsafeBufferPointer { t6 in
                                        t7.withUnsafeBufferPointer { t7 in
                                            var index = 0
                                            let count = bytes.count
                                            while index + 8 <= count {
                                                let word = crc ^ bytes.loadUnaligned(fromByteOffset: index, as: UInt64.self).littleEndian
                                                crc = t7[Int(word & 0xff)] ^ t6[Int((word >> 8) & 0xff)] ^ t5[Int((word >> 16) & 0xff)]
                                                    ^ t4[Int((word >> 24) & 0xff)] ^ t3[Int((word >> 32) & 0xff)]
                                                    ^ t2[Int((word >> 40) & 0xff)] ^ t1[Int((word >> 48) & 0xff)] ^ t0[Int(word >> 56)]
                                                index += 8
                                            }
                                            while index < count {
                                                crc = t0[Int((crc ^ UInt64(bytes[index])) & 0xff)] ^ (crc >> 8)
                                                index += 1
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        self.value = crc
    }

    /// Adds an array of bytes (tests, small inputs).
    package mutating func update(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { self.update($0) }
    }
}
