import CofferCore
import Crypto
import Foundation

extension SDKSigner {
    /// The headers a client adds to sign a request: `X-Sdk-Date` and `Authorization`.
    package struct SignedHeaders: Sendable, Equatable {
        package var sdkDate: String
        package var authorization: String
    }

    /// Signs a request the way the official SDK does, with the same canonical request, string to sign and HMAC
    /// the server verifies with (`Authenticator`), so the client (`coffer login`, `coffer backup …`) and the
    /// server can never disagree about a signature.
    ///
    /// Signs `host`, `x-sdk-date` and every header in `headers` (names lower-cased; the server requires `host`
    /// and `x-sdk-date`). `rawPath` and `rawQuery` must be exactly what goes on the request line.
    package static func sign(
        method: String, rawPath: String, rawQuery: String, host: String, headers: [String: String] = [:], body: some DataProtocol,
        accessKey: String, secretKey: String, date: Date
    ) -> SignedHeaders {
        let sdkDate = WireTime.sdkDate(date)
        var all: [String: String] = [:]
        for (name, value) in headers { all[name.lowercased()] = value }
        all["host"] = host
        all["x-sdk-date"] = sdkDate
        let signed = all.keys.sorted()
        let canonical = Self.canonicalRequest(
            method: method, rawPath: rawPath, rawQuery: rawQuery, signedHeaders: signed, header: { all[$0] },
            payloadHash: Self.payloadHash(body: body, contentSHA256Header: all["x-sdk-content-sha256"]))
        let signature = Self.signature(stringToSign: Self.stringToSign(canonicalRequest: canonical, sdkDate: sdkDate), secretKey: secretKey)
        return SignedHeaders(
            sdkDate: sdkDate,
            authorization: "\(Self.algorithm) Access=\(accessKey), SignedHeaders=\(signed.joined(separator: ";")), Signature=\(signature)")
    }
}
