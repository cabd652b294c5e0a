/// API-gateway authentication failures (`APIGW.0301`), answered before any service sees the request.
///
/// The messages follow Huawei's gateway (reference 5.5 and 7.0) so that users searching for them
/// find the right explanation.
package enum GatewayError {
    private static func auth(_ detail: String) -> CofferError {
        CofferError(status: 401, code: "APIGW.0301", message: "Incorrect IAM authentication information: \(detail)")
    }
    package static let missingCredentials = auth("x-auth-token not found")
    package static let invalidToken = auth("decrypt token fail")
    package static let tokenExpired = auth("token expires")
    package static func malformedAuthorization(_ detail: String) -> CofferError { auth("verify aksk signature fail, \(detail)") }
    package static func unknownAccessKey(_ accessKey: String) -> CofferError {
        auth("Get secretKey failed,ak:\(accessKey),err:ak not exist")
    }
    package static let signatureMismatch = auth("verify aksk signature fail")
    package static let staleDate = auth("verify aksk signature fail, X-Sdk-Date is more than 15 minutes away from the server time")
    package static let accessKeyLocked = auth("AK access failed to reach the limit,forbidden.")
}
