import Foundation
import Testing

@testable import CofferStorage

/// AWS's published SigV4 examples (S3 developer guide, `sig-v4-header-based-auth` and
/// `sigv4-query-string-auth`, and `get-vanilla` of the generic test suite): a signer that passes these
/// signs what S3 recomputes. SeaweedFS does not check payload hashes, so these are what catch such bugs.
@Suite("SigV4 signer (AWS test vectors)")
struct SigV4SignerTests {
    private let s3 = SigV4Signer(
        credentials: S3Credentials(accessKeyID: "AKIAIOSFODNN7EXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"), region: "us-east-1")
    /// 2013-05-24T00:00:00Z.
    private let date = Date(timeIntervalSince1970: 1_369_353_600)
    private let host = "examplebucket.s3.amazonaws.com"

    private func signature(_ authorization: String) -> Substring? {
        authorization.split(separator: "Signature=").last
    }

    @Test("GET object with a Range header")
    func getObject() {
        let headers = [
            ("Host", self.host), ("Range", "bytes=0-9"), ("x-amz-content-sha256", SigV4Signer.emptyPayloadHash), ("x-amz-date", "20130524T000000Z"),
        ]
        let authorization = self.s3.authorization(
            method: "GET", path: "/test.txt", query: [], headers: headers, payloadHash: SigV4Signer.emptyPayloadHash, date: self.date)
        #expect(authorization.hasPrefix("AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "))
        #expect(authorization.contains("SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,"))
        #expect(self.signature(authorization) == "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")
    }

    @Test("PUT object: a key with '$', a body hash, extra signed headers")
    func putObject() {
        let payload = "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072"
        let location = S3Location(bucket: "examplebucket", scheme: "https", host: "s3.amazonaws.com", port: nil, region: "us-east-1", virtualHosted: true)
        #expect(location.path(for: "test$file.text") == "/test%24file.text")
        #expect(location.hostHeader == self.host)
        let headers = [
            ("date", "Fri, 24 May 2013 00:00:00 GMT"), ("host", self.host), ("x-amz-content-sha256", payload), ("x-amz-date", "20130524T000000Z"),
            ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
        ]
        let authorization = self.s3.authorization(
            method: "PUT", path: location.path(for: "test$file.text"), query: [], headers: headers, payloadHash: payload, date: self.date)
        #expect(self.signature(authorization) == "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd")
    }

    @Test("GET bucket lifecycle: a query parameter without a value signs as 'lifecycle='")
    func valuelessQuery() {
        let headers = [("host", self.host), ("x-amz-content-sha256", SigV4Signer.emptyPayloadHash), ("x-amz-date", "20130524T000000Z")]
        let authorization = self.s3.authorization(
            method: "GET", path: "/", query: [("lifecycle", "")], headers: headers, payloadHash: SigV4Signer.emptyPayloadHash, date: self.date)
        #expect(self.signature(authorization) == "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543")
    }

    @Test("List objects: query items sorted whatever order they are given in")
    func listObjects() {
        let headers = [("x-amz-date", "20130524T000000Z"), ("host", self.host), ("x-amz-content-sha256", SigV4Signer.emptyPayloadHash)]
        let authorization = self.s3.authorization(
            method: "GET", path: "/", query: [("prefix", "J"), ("max-keys", "2")], headers: headers, payloadHash: SigV4Signer.emptyPayloadHash,
            date: self.date)
        #expect(self.signature(authorization) == "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7")
    }

    @Test("Presigned GET URL")
    func presigned() {
        let query = self.s3.presignedQuery(method: "GET", path: "/test.txt", query: [], host: self.host, date: self.date, expires: 86400)
        #expect(query.hasPrefix("X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&"))
        #expect(query.hasSuffix("&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"))
    }

    @Test("Generic suite: get-vanilla (another service, region and key)")
    func getVanilla() {
        let signer = SigV4Signer(
            credentials: S3Credentials(accessKeyID: "AKIDEXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"), region: "us-east-1",
            service: "service")
        let authorization = signer.authorization(
            method: "GET", path: "/", query: [], headers: [("Host", "example.amazonaws.com"), ("X-Amz-Date", "20150830T123600Z")],
            payloadHash: SigV4Signer.emptyPayloadHash, date: Date(timeIntervalSince1970: 1_440_938_160))
        #expect(authorization.contains("SignedHeaders=host;x-amz-date,"))
        #expect(self.signature(authorization) == "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31")
    }

    @Test("Encoding: only unreserved bytes stay; '/' only in paths; names that prefix others sort first")
    func encoding() {
        #expect(SigV4Signer.encode("a b+c%d/e=f~g_h.i-j") == "a%20b%2Bc%25d%2Fe%3Df~g_h.i-j")
        #expect(SigV4Signer.encode("dcs/p/i/x y.rdb", keepSlash: true) == "dcs/p/i/x%20y.rdb")
        #expect(SigV4Signer.encode("é") == "%C3%A9")
        #expect(SigV4Signer.canonicalQuery([("id-type", "b"), ("id", "a"), ("uploads", ""), ("a", "2"), ("a", "1")]) == "a=1&a=2&id=a&id-type=b&uploads=")
        #expect(SigV4Signer.canonicalHeaders([("X-Amz-Meta", "  a   b "), ("Host", "h"), ("x-amz-meta", "c")]).canonical == "host:h\nx-amz-meta:a b,c\n")
    }

    @Test("Timestamps are UTC, zero-padded")
    func timestamps() {
        let time = SigV4Signer.timestamp(Date(timeIntervalSince1970: 1_440_938_160))
        #expect(time.stamp == "20150830T123600Z")
        #expect(time.day == "20150830")
        #expect(SigV4Signer.timestamp(Date(timeIntervalSince1970: 1_000_000_009)).stamp == "20010909T014649Z")
    }

    @Test("Credentials never print their secret")
    func redacted() {
        let credentials = S3Credentials(accessKeyID: "AK", secretAccessKey: "very-secret")
        #expect(!"\(credentials)".contains("very-secret"))
        #expect(!String(reflecting: credentials).contains("very-secret"))
    }
}
