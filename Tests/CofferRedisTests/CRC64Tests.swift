import CofferRedis
import Testing

@Suite("CRC-64 (Jones) slicing-by-8")
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
        var state: UInt64 = 0x1234_5678
        let data = (0..<80).map { _ in
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return UInt8(truncatingIfNeeded: state >> 33)
        }
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
}
