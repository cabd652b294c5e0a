import CofferRedis
import Testing

@Suite("CRC-64 (Jones): slicing-by-8 and carry-less multiply folding")
struct CRC64Tests {
    /// The definition, one bit at a time: reflected polynomial 0x95ac9329ac4bc9b5, init 0, no final xor.
    private static func bitwise(_ bytes: [UInt8]) -> UInt64 {
        var crc: UInt64 = 0
        for byte in bytes {
            crc ^= UInt64(byte)
            for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0x95ac_9329_ac4b_c9b5 : crc >> 1 }
        }
        return crc
    }

    /// `count` bytes from a linear congruential generator: the same every run.
    private static func pseudoRandom(_ count: Int, seed: UInt64) -> [UInt8] {
        var state = seed
        return (0..<count).map { _ in
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return UInt8(truncatingIfNeeded: state >> 33)
        }
    }

    @Test("Standard check value: CRC-64/Jones of \"123456789\" is 0xe9c6d914c4b8d9ca")
    func checkValue() {
        var crc = CRC64()
        crc.update(Array("123456789".utf8))
        #expect(crc.value == 0xe9c6_d914_c4b8_d9ca)
        #expect(Self.bitwise(Array("123456789".utf8)) == 0xe9c6_d914_c4b8_d9ca)
        #expect(CRC64().value == 0)
    }

    @Test("Matches the bitwise definition for every length 0–80 and every split into two updates")
    func matchesDefinition() {
        let data = Self.pseudoRandom(80, seed: 0x1234_5678)
        for length in 0...data.count {
            let bytes = Array(data[0..<length])
            let expected = Self.bitwise(bytes)
            for split in 0...length {
                var crc = CRC64()
                crc.update(Array(bytes[0..<split]))
                crc.update(Array(bytes[split...]))
                #expect(crc.value == expected, "length \(length), split \(split)")
            }
        }
    }

    @Test("Unaligned input: the same bytes at every offset of a buffer give the same checksum")
    func unaligned() {
        let payload = (0..<200).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }
        var reference = CRC64()
        reference.update(payload)
        for offset in 0..<8 {
            let padded = [UInt8](repeating: 0xAA, count: offset) + payload
            padded.withUnsafeBytes { raw in
                var crc = CRC64()
                crc.update(UnsafeRawBufferPointer(rebasing: raw[offset...]))
                #expect(crc.value == reference.value, "offset \(offset)")
            }
        }
    }

    @Test("Folding (where the CPU can) equals the tables for lengths across the threshold and block edges, any start")
    func foldingMatchesTables() {
        let data = Self.pseudoRandom(5000, seed: 0x9e37_79b9)
        let lengths = [255, 256, 257, 319, 320, 321, 383, 384, 1000, 1023, 1024, 4096, 4999]
        data.withUnsafeBytes { raw in
            for length in lengths {
                for start in [0, 1, 7, 8, 15] where start + length <= raw.count {
                    let bytes = UnsafeRawBufferPointer(rebasing: raw[start..<(start + length)])
                    var tables = CRC64()
                    tables.updateWithTables(bytes)
                    var folded = CRC64()
                    folded.update(bytes)
                    #expect(folded.value == tables.value, "length \(length), start \(start)")
                    // From a running checksum too: the previous value enters the first folded block.
                    var prefixed = CRC64()
                    prefixed.update(UnsafeRawBufferPointer(rebasing: raw[0..<3]))
                    prefixed.update(bytes)
                    var prefixedTables = CRC64()
                    prefixedTables.updateWithTables(UnsafeRawBufferPointer(rebasing: raw[0..<3]))
                    prefixedTables.updateWithTables(bytes)
                    #expect(prefixed.value == prefixedTables.value, "length \(length), start \(start), after 3 bytes")
                }
            }
        }
        var check = CRC64()
        check.update(Array(data[0..<1000]))
        #expect(check.value == Self.bitwise(Array(data[0..<1000])))
        print("CRC-64 folding with carry-less multiplies on this CPU: \(CRC64.folds)")
    }
}
