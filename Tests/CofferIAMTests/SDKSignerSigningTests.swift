import CofferCore
import CofferIAM
import Foundation
import Testing

/// The client's entry point (`SDKSigner.sign`) against the official SDK's golden vectors (reference 5.4).
@Suite("SDK-HMAC-SHA256 signing entry point")
struct SDKSignerSigningTests {
    @Test("EX2: the same Authorization the official SDK sends, header names in any case")
    func ex2() {
        let signed = SDKSigner.sign(
            method: "GET", rawPath: "/v2/PROJ/instances/INST/backups", rawQuery: "limit=10&offset=0", host: "127.0.0.1:8080",
            headers: ["Content-Type": "application/json", "User-Agent": "huaweicloud-usdk-python/3.0", "X-Project-Id": "PROJ"],
            body: [UInt8](), accessKey: "AKEXAMPLE", secretKey: "SKEXAMPLE", date: Date(timeIntervalSince1970: 1_704_067_200))
        #expect(signed.sdkDate == "20240101T000000Z")
        #expect(
            signed.authorization
                == "SDK-HMAC-SHA256 Access=AKEXAMPLE, SignedHeaders=content-type;host;user-agent;x-project-id;x-sdk-date, "
                + "Signature=479b87b896718ccd304c2e2a00255b52b3fe5a5aa0296f7850beff4746f41036")
    }

    @Test("EX3: a POST body is hashed into the signature, and the server's parser reads the header back")
    func ex3() throws {
        let body = Array(#"{"remark": "nightly", "backup_format": "rdb"}"#.utf8)
        let signed = SDKSigner.sign(
            method: "POST", rawPath: "/v2/PROJ/instances/INST/backups", rawQuery: "", host: "127.0.0.1:8080",
            headers: ["content-type": "application/json;charset=utf-8", "user-agent": "huaweicloud-usdk-python/3.0", "x-project-id": "PROJ"],
            body: body, accessKey: "AKEXAMPLE", secretKey: "SKEXAMPLE", date: Date(timeIntervalSince1970: 1_704_067_200))
        let parsed = try #require(SDKSigner.parseAuthorization(signed.authorization))
        #expect(parsed.accessKey == "AKEXAMPLE")
        #expect(parsed.signature == "db17a6a3302a85f00be7f4056546e12cf586584747ec2f26d653ac40e096266a")
    }
}
