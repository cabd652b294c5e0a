import CofferCore
import CofferIAM
import Crypto
import Foundation
import Testing

/// The golden vectors EX1–EX4 of reference section 5.4, produced by the official SDK's own signer.
@Suite("SDK-HMAC-SHA256 golden vectors")
struct SDKSignerTests {
    private func sign(
        method: String, path: String, query: String, headers: [String: String], body: [UInt8] = []
    ) -> (canonicalHash: String, signature: String) {
        let signed = headers.keys.sorted()
        let canonical = SDKSigner.canonicalRequest(
            method: method, rawPath: path, rawQuery: query, signedHeaders: signed, header: { headers[$0] },
            payloadHash: SDKSigner.payloadHash(body: body, contentSHA256Header: nil))
        let hash = Hex.encode(SHA256.hash(data: Data(canonical.utf8)))
        let signature = SDKSigner.signature(
            stringToSign: SDKSigner.stringToSign(canonicalRequest: canonical, sdkDate: headers["x-sdk-date"]!), secretKey: "SKEXAMPLE")
        return (hash, signature)
    }

    @Test("EX1: minimal GET, query re-ordered")
    func ex1() {
        let headers = ["host": "127.0.0.1:8080", "x-sdk-date": "20240101T000000Z"]
        let canonical = SDKSigner.canonicalRequest(
            method: "GET", rawPath: "/v2/PROJ/instances/INST/backups", rawQuery: "offset=0&limit=10", signedHeaders: ["host", "x-sdk-date"],
            header: { headers[$0] }, payloadHash: SDKSigner.emptyPayloadHash)
        #expect(
            canonical
                == "GET\n/v2/PROJ/instances/INST/backups/\nlimit=10&offset=0\nhost:127.0.0.1:8080\nx-sdk-date:20240101T000000Z\n\nhost;x-sdk-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        )
        let result = self.sign(method: "GET", path: "/v2/PROJ/instances/INST/backups", query: "offset=0&limit=10", headers: headers)
        #expect(result.canonicalHash == "a8df4e8fd30ae199fc3c4b307e89ce2da70a609e6e3bcf8dbd1ac77f06f03981")
        #expect(result.signature == "051b05ffacaf83582ef196ef0bae5cf1f37a77352b59aa4776b30ee7b3d0e663")
    }

    @Test("EX2: what DcsClient.list_backup_records signs")
    func ex2() {
        let headers = [
            "content-type": "application/json", "host": "127.0.0.1:8080", "user-agent": "huaweicloud-usdk-python/3.0",
            "x-project-id": "PROJ", "x-sdk-date": "20240101T000000Z",
        ]
        let result = self.sign(method: "GET", path: "/v2/PROJ/instances/INST/backups", query: "limit=10&offset=0", headers: headers)
        #expect(result.canonicalHash == "86d250b5f2bc6dddb86c62bb8ddf5ec02539bfe2181e4bfda9abe431fb62cf0d")
        #expect(result.signature == "479b87b896718ccd304c2e2a00255b52b3fe5a5aa0296f7850beff4746f41036")
    }

    @Test("EX3: POST with the SDK's exact JSON body")
    func ex3() {
        let headers = [
            "content-type": "application/json;charset=utf-8", "host": "127.0.0.1:8080", "user-agent": "huaweicloud-usdk-python/3.0",
            "x-project-id": "PROJ", "x-sdk-date": "20240101T000000Z",
        ]
        let body = Array(#"{"remark": "nightly", "backup_format": "rdb"}"#.utf8)
        #expect(body.count == 45)
        #expect(SDKSigner.payloadHash(body: body, contentSHA256Header: nil) == "4f6a00a1985f058ac2117b3aa0fda2fac5537a322749f835fa2397bd59706b3c")
        let result = self.sign(method: "POST", path: "/v2/PROJ/instances/INST/backups", query: "", headers: headers, body: body)
        #expect(result.canonicalHash == "46bc16f74c20d986e3af56698f621fbcc2128b37fec2a034745913715cfa1792")
        #expect(result.signature == "db17a6a3302a85f00be7f4056546e12cf586584747ec2f26d653ac40e096266a")
    }

    @Test("EX4: query encoding (space, +, *, /, ~, empty value, boolean)", arguments: [
        "backup_name=a%2Bb%2Ac~d&empty=&flag=true&instance_name=my%20ddm%2F1&limit=10&offset=0",
        "offset=0&instance_name=my%20ddm%2F1&flag=true&limit=10&empty=&backup_name=a%2Bb%2Ac~d",
    ])
    func ex4(query: String) {
        #expect(
            SDKSigner.canonicalQuery(rawQuery: query)
                == "backup_name=a%2Bb%2Ac~d&empty=&flag=true&instance_name=my%20ddm%2F1&limit=10&offset=0")
        let result = self.sign(
            method: "GET", path: "/v3/PROJ/backups", query: query, headers: ["host": "127.0.0.1:8080", "x-sdk-date": "20240101T000000Z"])
        #expect(result.canonicalHash == "4715454ad9de186db4cb76cfadecdbe1e531152939094328afe9e9231bd5b6ff")
        #expect(result.signature == "7172555f1ced063c6b979fbdb60aec7481f00d9d0619a3ff66e006fcf3f3dad1")
    }

    @Test("Canonical URI decodes the whole path first, so %2F splits a segment, and adds a trailing slash")
    func canonicalURI() {
        #expect(SDKSigner.canonicalURI(rawPath: "/v2/P/instances/a%20b%2F%C3%BC~/backups") == "/v2/P/instances/a%20b/%C3%BC~/backups/")
        #expect(SDKSigner.canonicalURI(rawPath: "/v3/projects/") == "/v3/projects/")
    }

    @Test("Authorization header parsing accepts the SDK's form and rejects others")
    func parseAuthorization() throws {
        let parsed = try #require(
            SDKSigner.parseAuthorization(
                "SDK-HMAC-SHA256 Access=AKEXAMPLE, SignedHeaders=host;x-sdk-date, Signature=051b05ffacaf83582ef196ef0bae5cf1f37a77352b59aa4776b30ee7b3d0e663"
            ))
        #expect(parsed.accessKey == "AKEXAMPLE")
        #expect(parsed.signedHeaders == ["host", "x-sdk-date"])
        #expect(SDKSigner.parseAuthorization("SDK-HMAC-SHA256 Access=AK, SignedHeaders=host, Signature=xyz") == nil)
        #expect(SDKSigner.parseAuthorization("AWS4-HMAC-SHA256 Credential=x") == nil)
        #expect(SDKSigner.parseAuthorization("SDK-HMAC-SHA256Access=AK, SignedHeaders=host, Signature=\(String(repeating: "a", count: 64))") == nil)
        // Each field exactly once, nothing else; the signature is 64 hex digits, kept lower-case.
        let hex = String(repeating: "aB", count: 32)
        #expect(SDKSigner.parseAuthorization("SDK-HMAC-SHA256 Access=AK, SignedHeaders=host, Signature=\(hex)")?.signature == hex.lowercased())
        #expect(SDKSigner.parseAuthorization("SDK-HMAC-SHA256 Access=AK, Access=AK2, SignedHeaders=host, Signature=\(hex)") == nil)
        #expect(SDKSigner.parseAuthorization("SDK-HMAC-SHA256 Access=AK, SignedHeaders=host, Signature=\(hex), Extra=1") == nil)
        #expect(SDKSigner.parseAuthorization("SDK-HMAC-SHA256 Access=AK, SignedHeaders=host") == nil)
        #expect(SDKSigner.parseAuthorization("SDK-HMAC-SHA256 Access=, SignedHeaders=host, Signature=\(hex)") == nil)
        #expect(SDKSigner.parseAuthorization("SDK-HMAC-SHA256 Access=AK, SignedHeaders=host, Signature=\(String(repeating: "g", count: 64))") == nil)
    }

    @Test("Percent-encoding: unreserved text as it is, every other UTF-8 byte as upper-case %XX")
    func encoding() {
        #expect(SDKSigner.encode("AZaz09_.-~") == "AZaz09_.-~")
        #expect(SDKSigner.encode("a b+c/ü*") == "a%20b%2Bc%2F%C3%BC%2A")
        #expect(SDKSigner.encode("") == "")
        #expect(SDKSigner.canonicalURI(rawPath: "/v2/p/instances/i/backups") == "/v2/p/instances/i/backups/")
    }

    @Test("header fields are trimmed exactly as Foundation's trimmingCharacters(in: .whitespaces) trims them")
    func trimmingMatchesFoundation() {
        let samples = [
            "", " ", "\t \t", "a", " a ", "\tAccess=AK\t", "  x y  ", "\u{00A0}nbsp\u{00A0}", "\u{3000}ideo\u{2003}", "\n keep newline \n",
            "\r\n", "\u{200B}zero width\u{200B}", "\u{1680}ogham\u{202F}", " e\u{301} ", "\u{85}next line\u{85}", " 🙂 ", "\u{FEFF}bom",
            "\u{0B}vt\u{0C}", "\u{1C}\u{1D}\u{1E}\u{1F}x\u{7F}", " \u{200B}", "\u{200B} a", "a \u{3000}", "\t\u{2003}\t",
        ]
        for sample in samples {
            #expect(SDKSigner.trimmingWhitespace(Substring(sample)) == Substring(sample.trimmingCharacters(in: .whitespaces)), "\(Array(sample.unicodeScalars))")
        }
    }
}
