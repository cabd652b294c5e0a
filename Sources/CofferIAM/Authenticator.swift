import CofferCore
import Foundation

/// Authenticates API requests: `X-Auth-Token`, or an `SDK-HMAC-SHA256` signature, as Huawei's gateway does.
///
/// It sees the request as raw parts (method, raw path and query, headers, exact body bytes) because
/// the signature covers them byte for byte. Failures are gateway errors (401 `APIGW.0301`); the
/// caller decides about project scope.
package struct Authenticator: Sendable {
    /// The parts of a request the checks need.
    package struct Request: Sendable {
        package var method: String
        package var rawPath: String
        package var rawQuery: String
        /// Header lookup by lower-case name; `host` must come from the request's Host.
        package var headers: [String: String]
        package var body: [UInt8]

        package init(method: String, rawPath: String, rawQuery: String, headers: [String: String], body: [UInt8]) {
            self.method = method
            self.rawPath = rawPath
            self.rawQuery = rawQuery
            self.headers = headers
            self.body = body
        }
    }

    /// Consecutive failures before an AK is locked, and for how long (Huawei's gateway: 5, 5 minutes).
    package static let failureLimit = 5
    package static let lockDuration: TimeInterval = 300
    /// Allowed distance between `X-Sdk-Date` and the server clock.
    package static let clockSkew: TimeInterval = 15 * 60

    private let identities: any IdentityStore
    private let tokens: TokenService

    package init(identities: any IdentityStore, tokens: TokenService) {
        self.identities = identities
        self.tokens = tokens
    }

    /// The caller, or a thrown `CofferError`.
    package func authenticate(_ request: Request, now: Date) async throws -> Principal {
        if let token = request.headers["x-auth-token"] {
            return try await self.principal(forToken: token, now: now)
        }
        if let authorization = request.headers["authorization"] {
            return try await self.verifySignature(request, authorization: authorization, now: now)
        }
        throw GatewayError.missingCredentials
    }

    /// Validates an IAM token: authentic, unexpired, user and project still there (one query), password
    /// unchanged since issue.
    package func principal(forToken token: String, now: Date) async throws -> Principal {
        guard let claims = self.tokens.verify(token) else { throw GatewayError.invalidToken }
        guard claims.expiresAt > now else { throw GatewayError.tokenExpired }
        guard let principal = try await self.identities.principal(userID: claims.userID, projectID: claims.projectID),
            principal.user.passwordChangedAt <= claims.issuedAt
        else { throw GatewayError.invalidToken }
        return principal
    }

    private func verifySignature(_ request: Request, authorization: String, now: Date) async throws -> Principal {
        guard let auth = SDKSigner.parseAuthorization(authorization) else {
            throw GatewayError.malformedAuthorization("the Authorization header is not SDK-HMAC-SHA256 Access=…, SignedHeaders=…, Signature=…")
        }
        guard auth.signedHeaders.contains("host"), auth.signedHeaders.contains("x-sdk-date"),
            auth.signedHeaders.allSatisfy({ request.headers[$0] != nil && !$0.utf8.contains(where: { (0x41...0x5a).contains($0) }) })
        else {
            throw GatewayError.malformedAuthorization("SignedHeaders must include host and x-sdk-date, and every signed header must be sent")
        }
        // The key, its user and the user's project in one query; the caller is known once the signature holds.
        guard let found = try await self.identities.signingKey(auth.accessKey) else {
            throw GatewayError.unknownAccessKey(auth.accessKey)
        }
        let key = found.key
        if let lockedUntil = key.lockedUntil, lockedUntil > now { throw GatewayError.accessKeyLocked }
        let sdkDate = request.headers["x-sdk-date"] ?? ""
        guard let date = WireTime.parseSDKDate(sdkDate) else {
            try await self.recordFailure(auth.accessKey, now: now)
            throw GatewayError.malformedAuthorization("X-Sdk-Date must be yyyyMMddTHHmmssZ")
        }
        guard abs(date.timeIntervalSince(now)) <= Self.clockSkew else {
            try await self.recordFailure(auth.accessKey, now: now)
            throw GatewayError.staleDate
        }
        let canonical = SDKSigner.canonicalRequest(
            method: request.method, rawPath: request.rawPath, rawQuery: request.rawQuery, signedHeaders: auth.signedHeaders,
            header: { request.headers[$0] },
            payloadHash: SDKSigner.payloadHash(body: request.body, contentSHA256Header: request.headers["x-sdk-content-sha256"]))
        let stringToSign = SDKSigner.stringToSign(canonicalRequest: canonical, sdkDate: sdkDate)
        guard SDKSigner.isValid(signature: auth.signature, stringToSign: stringToSign, secretKey: key.secretKey) else {
            try await self.recordFailure(auth.accessKey, now: now)
            throw GatewayError.signatureMismatch
        }
        if key.failures > 0 { try await self.identities.resetAccessKeyFailures(auth.accessKey) }
        guard let principal = found.principal else { throw GatewayError.unknownAccessKey(auth.accessKey) }
        return principal
    }

    private func recordFailure(_ accessKey: String, now: Date) async throws {
        let key = try await self.identities.recordAccessKeyFailure(
            accessKey, now: now, limit: Self.failureLimit, lockDuration: Self.lockDuration)
        if let lockedUntil = key?.lockedUntil, lockedUntil > now, key?.failures == 0 {
            // This failure was the one that reached the limit: say so.
            throw GatewayError.accessKeyLocked
        }
    }
}
