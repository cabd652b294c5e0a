import CofferCore
import CofferIAM
import Crypto
import Foundation
import Testing

/// The shared hex, constant-time and percent-decoding helpers of CofferCore, against outside vectors
/// (Python's hashlib/hmac and `urllib.parse.unquote`).
@Suite("Hex, constant-time comparison, percent-decoding")
struct ValueHelpersTests {
    @Test("Hex: lower-case digits, round trip, odd or non-hex input refused")
    func hex() {
        #expect(Hex.encode([0x00, 0x0f, 0xa5, 0xff]) == "000fa5ff")
        #expect(Hex.encode([UInt8]()) == "")
        #expect(Hex.encode(Insecure.SHA1.hash(data: Data("abc".utf8))) == "a9993e364706816aba3e25717850c26c9cd0d89d")
        #expect(Hex.decode("000fA5ff") == [0x00, 0x0f, 0xa5, 0xff])
        #expect(Hex.decode("") == [])
        #expect(Hex.decode("abc") == nil)
        #expect(Hex.decode("zz") == nil)
        let bytes = (0...255).map { UInt8($0) }
        #expect(Hex.decode(Hex.encode(bytes)) == bytes)
    }

    @Test("Constant-time equality: equal, one bit apart, different lengths")
    func constantTime() {
        #expect(ConstantTime.equals([1, 2, 3], [1, 2, 3]))
        #expect(!ConstantTime.equals([1, 2, 3], [1, 2, 2]))
        #expect(!ConstantTime.equals([1, 2, 3], [1, 2]))
        #expect(ConstantTime.equals([UInt8](), [UInt8]()))
        #expect(ConstantTime.equals("051b05ff", "051b05ff"))
        #expect(!ConstantTime.equals("051b05ff", "051b05fe"))
        #expect(!ConstantTime.equals("051b05ff", "051B05FF"), "hex signatures compare as sent")
    }

    @Test("Percent-decoding as urllib.parse.unquote: UTF-8, lone % kept, + kept, invalid bytes replaced")
    func percentDecoding() {
        #expect(PercentDecoding.decode("a%20b") == "a b")
        #expect(PercentDecoding.decode("%E4%BD%A0%e5%a5%bd") == "你好")
        #expect(PercentDecoding.decode("100%") == "100%")
        #expect(PercentDecoding.decode("%4") == "%4")
        #expect(PercentDecoding.decode("%zz%41") == "%zzA")
        #expect(PercentDecoding.decode("a+b") == "a+b")
        #expect(PercentDecoding.decode("%FF") == "\u{FFFD}")
    }

    @Test("An SDK signature is checked as a MAC: the right one passes, a changed or malformed one does not")
    func signatureCheck() {
        let good = "6b058eafd3a5e6ad8b0b32c88b06d592ea9a2ab555116f0974ab6d998b4f2a08"  // hmac.new(b"SKEXAMPLE", b"hello", sha256)
        #expect(SDKSigner.signature(stringToSign: "hello", secretKey: "SKEXAMPLE") == good)
        #expect(SDKSigner.isValid(signature: good, stringToSign: "hello", secretKey: "SKEXAMPLE"))
        #expect(!SDKSigner.isValid(signature: good, stringToSign: "hello", secretKey: "SKOTHER"))
        #expect(!SDKSigner.isValid(signature: String(good.dropLast()) + "9", stringToSign: "hello", secretKey: "SKEXAMPLE"))
        #expect(!SDKSigner.isValid(signature: "not hex", stringToSign: "hello", secretKey: "SKEXAMPLE"))
    }
}
