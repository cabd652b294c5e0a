import Foundation
import Synchronization

/// Identifier formats, one place for all of them (reference section 1, "IDs").
package enum Identifiers {
    /// 32 lower-case hex characters, the form of Huawei project, domain and user ids.
    package static func hex32() -> String {
        UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
    }

    /// A request id: 32 hex characters, unique within the process and across restarts (a random half drawn at
    /// start, then a counter), and far cheaper than a random UUID on every request. Not a secret.
    package static func requestID() -> String {
        let sequence = requestCounter.add(1, ordering: .relaxed).newValue
        var bytes = [UInt8](repeating: 0, count: 32)
        for (index, word) in [requestPrefix, sequence].enumerated() {
            for nibble in 0..<16 {
                let digit = UInt8(truncatingIfNeeded: word >> UInt64(60 - 4 * nibble)) & 0xF
                bytes[index * 16 + nibble] = digit < 10 ? 0x30 + digit : 0x57 + digit
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    private static let requestPrefix = UInt64.random(in: .min ... .max)
    private static let requestCounter = Atomic<UInt64>(0)

    /// A DDM-style id: 32 hex characters and a 4-character type suffix (`in09` DDM instance, `in01` data
    /// node, `br09` backup; reference section 1).
    package static func ddm(suffix: String) -> String { Self.hex32() + suffix }

    /// Whether `value` is 32 lower-case hex characters followed by `suffix`.
    package static func isDDM(_ value: String, suffix: String) -> Bool {
        value.hasSuffix(suffix) && value.utf8.count == 32 + suffix.utf8.count && Self.isHex32(String(value.dropLast(suffix.count)))
    }

    /// A lower-case UUID, the form of DCS instance and backup ids.
    package static func uuid() -> String { UUID().uuidString.lowercased() }

    /// Whether `value` is a lower- or upper-case UUID string.
    package static func isUUID(_ value: String) -> Bool { UUID(uuidString: value) != nil }

    /// Whether `value` is 32 hex characters.
    package static func isHex32(_ value: String) -> Bool {
        value.utf8.count == 32 && value.utf8.allSatisfy { ("0"..."9").contains(Character(UnicodeScalar($0))) || ("a"..."f").contains(Character(UnicodeScalar($0))) }
    }

    /// A 20-character upper-case access key id, like Huawei's.
    package static func accessKey() -> String {
        String(Self.randomString(length: 20, alphabet: Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")))
    }

    /// A 40-character secret key.
    package static func secretKey() -> String {
        Self.randomString(length: 40, alphabet: Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"))
    }

    /// A password for the generated admin account: long, random, no characters that need quoting in a shell.
    package static func password() -> String {
        Self.randomString(length: 24, alphabet: Array("ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789"))
    }

    private static func randomString(length: Int, alphabet: [Character]) -> String {
        var generator = SystemRandomNumberGenerator()
        return String((0..<length).map { _ in alphabet[Int(generator.next(upperBound: UInt64(alphabet.count)))] })
    }
}
