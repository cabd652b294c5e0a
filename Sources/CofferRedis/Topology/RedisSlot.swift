/// Redis Cluster's key → hash slot mapping: CRC16 (XMODEM) of the key, or of its hash tag, modulo 16384.
///
/// Here so that tests (and restores by slot) place a key exactly as the cluster does.
package enum RedisSlot {
    package static let count = 16384

    /// The slot of `key`: the part between the first `{` and the next `}` when that part is non-empty.
    package static func slot<Bytes: Collection<UInt8>>(of key: Bytes) -> Int where Bytes.Index == Int {
        var hashed = key[key.startIndex..<key.endIndex]
        if let open = key.firstIndex(of: UInt8(ascii: "{")),
            let close = key[(open + 1)...].firstIndex(of: UInt8(ascii: "}")), close > open + 1
        {
            hashed = key[(open + 1)..<close]
        }
        return Int(self.crc16(hashed) & 0x3FFF)
    }

    package static func slot(of key: String) -> Int { self.slot(of: Array(key.utf8)) }

    static func crc16(_ bytes: some Sequence<UInt8>) -> UInt16 {
        var crc: UInt16 = 0
        for byte in bytes {
            crc ^= UInt16(byte) << 8
            for _ in 0..<8 { crc = crc & 0x8000 != 0 ? (crc << 1) ^ 0x1021 : crc << 1 }
        }
        return crc
    }
}
