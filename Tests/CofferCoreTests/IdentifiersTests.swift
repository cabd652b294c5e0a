import CofferCore
import Foundation
import Testing

@Suite("Identifier formats")
struct IdentifiersTests {
    static let lowerHex = Set("0123456789abcdef")

    @Test("hex32: 32 lower-case hex characters, different every time")
    func hex32() {
        let ids = (0..<1_000).map { _ in Identifiers.hex32() }
        for id in ids {
            #expect(id.count == 32)
            #expect(id.allSatisfy(Self.lowerHex.contains), "\(id)")
            #expect(Identifiers.isHex32(id))
        }
        #expect(Set(ids).count == ids.count)
    }

    @Test("requestID: 32 lower-case hex characters, unique across concurrent callers")
    func requestID() async {
        let ids = await withTaskGroup(of: [String].self) { group in
            for _ in 0..<4 { group.addTask { (0..<1_000).map { _ in Identifiers.requestID() } } }
            return await group.reduce(into: [String]()) { $0 += $1 }
        }
        #expect(ids.allSatisfy(Identifiers.isHex32))
        #expect(Set(ids).count == 4_000)
    }

    @Test("isHex32 refuses upper case, other lengths and non-hex characters")
    func isHex32() {
        #expect(Identifiers.isHex32("0123456789abcdef0123456789abcdef"))
        #expect(!Identifiers.isHex32("0123456789ABCDEF0123456789abcdef"))
        #expect(!Identifiers.isHex32("0123456789abcdef0123456789abcde"))
        #expect(!Identifiers.isHex32("0123456789abcdef0123456789abcdef0"))
        #expect(!Identifiers.isHex32("0123456789abcdef0123456789abcdeg"))
        #expect(!Identifiers.isHex32(""))
        #expect(!Identifiers.isHex32("0123456789abcdef-123456789abcdef"))
        // 32 UTF-8 bytes, but not 32 hex characters.
        #expect(!Identifiers.isHex32("0123456789abcdef0123456789abcdé"))
    }

    @Test("DDM ids: hex32 plus the type suffix", arguments: ["in09", "in01", "br09"])
    func ddm(suffix: String) {
        let id = Identifiers.ddm(suffix: suffix)
        #expect(id.count == 36)
        #expect(id.hasSuffix(suffix))
        #expect(Identifiers.isDDM(id, suffix: suffix))
        #expect(!Identifiers.isDDM(id, suffix: suffix == "in09" ? "in01" : "in09"))
        #expect(!Identifiers.isDDM(String(id.dropFirst()), suffix: suffix))
        #expect(!Identifiers.isDDM("0" + id, suffix: suffix))
        #expect(!Identifiers.isDDM(id.uppercased(), suffix: suffix))
        #expect(!Identifiers.isDDM(Identifiers.uuid(), suffix: suffix))
    }

    @Test("UUIDs are generated lower-case and recognised in either case")
    func uuid() {
        let ids = (0..<1_000).map { _ in Identifiers.uuid() }
        for id in ids {
            #expect(id == id.lowercased())
            #expect(id.count == 36)
            #expect(Identifiers.isUUID(id))
            #expect(Identifiers.isUUID(id.uppercased()))
        }
        #expect(Set(ids).count == ids.count)
        #expect(!Identifiers.isUUID(""))
        #expect(!Identifiers.isUUID(Identifiers.hex32()))
        #expect(!Identifiers.isUUID("3f5a8e6c-1b2d-4e5f-8a9b-0c1d2e3f4a5"))
        #expect(!Identifiers.isUUID("3f5a8e6c-1b2d-4e5f-8a9b-0c1d2e3f4a5g"))
        #expect(!Identifiers.isUUID("{3f5a8e6c-1b2d-4e5f-8a9b-0c1d2e3f4a5b}"))
    }

    @Test("Keys and passwords: length and alphabet")
    func secrets() {
        let accessAlphabet = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
        let secretAlphabet = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
        // No look-alikes (0/O, 1/l/I) and nothing a shell would need quoted.
        let passwordAlphabet = Set("ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789")
        var accessKeys = Set<String>()
        var seen = Set<Character>()
        for _ in 0..<500 {
            let access = Identifiers.accessKey()
            #expect(access.count == 20)
            #expect(access.allSatisfy(accessAlphabet.contains), "\(access)")
            accessKeys.insert(access)
            let secret = Identifiers.secretKey()
            #expect(secret.count == 40)
            #expect(secret.allSatisfy(secretAlphabet.contains))
            let password = Identifiers.password()
            #expect(password.count == 24)
            #expect(password.allSatisfy(passwordAlphabet.contains), "\(password)")
            seen.formUnion(secret)
        }
        #expect(accessKeys.count == 500)
        // 20 000 draws from 62 characters: every one of them turns up (a stuck generator would not).
        #expect(seen == secretAlphabet)
    }
}
