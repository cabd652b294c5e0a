import CofferCore
import Testing

@Suite("CofferError and the service error tables")
struct CofferErrorTests {
    @Test("Description, equality and the gateway test")
    func basics() {
        let error = CofferError(status: 400, code: "DCS.4800", message: "Invalid name in the request.")
        #expect(error.description == "400 DCS.4800: Invalid name in the request.")
        #expect(error == CofferError(status: 400, code: "DCS.4800", message: "Invalid name in the request."))
        #expect(error != CofferError(status: 404, code: "DCS.4800", message: "Invalid name in the request."))
        #expect(error != CofferError(status: 400, code: "DCS.4801", message: "Invalid name in the request."))
        #expect(error != CofferError(status: 400, code: "DCS.4800", message: "other"))
        #expect(!error.isGatewayError)
        #expect(GatewayError.invalidToken.isGatewayError)
        #expect(!CofferError(status: 401, code: "apigw.0301", message: "").isGatewayError)
        #expect(!CofferError(status: 401, code: "IAM.APIGW.0301", message: "").isGatewayError)
    }

    static let dcs: [CofferError] = [
        DCSError.invalidParameter("name"), DCSError.emptyBody, DCSError.malformedBody("x"), DCSError.unsupportedEngine, DCSError.invalidName,
        DCSError.descriptionTooLong, DCSError.nameExists, DCSError.invalidSaveDays, DCSError.invalidBackupType, DCSError.invalidPeriodType,
        DCSError.invalidBackupAt, DCSError.invalidBeginAt, DCSError.redisPasswordRejected("127.0.0.1:6379"),
        DCSError.redisUnreachable("127.0.0.1:6379", "refused"), DCSError.stateForbids, DCSError.backupRunning, DCSError.restoreRunning,
        DCSError.remarkTooLong, DCSError.backupGone, DCSError.downloadDenied, DCSError.instanceNotFound, DCSError.projectMismatch,
        DCSError.unknownURL, DCSError.methodNotAllowed, DCSError.internalError,
    ]
    static let ddm: [CofferError] = [
        DDMError.invalidParameter("limit"), DDMError.instanceNotFound, DDMError.backupNotFound, DDMError.dataNodeNotFound,
        DDMError.jobNotFound, DDMError.schemaNotFound, DDMError.busy, DDMError.dataNodeUnreachable("127.0.0.1:3306", "refused"),
        DDMError.unknownDataNode("x"), DDMError.duplicateDataNodes, DDMError.invalidShardsPerNode, DDMError.schemaCreateFailed("x"),
        DDMError.wrongCredentials("x"), DDMError.dataNodeInUse, DDMError.nameExists("schema"),
    ]
    static let iam: [CofferError] = [
        IAMError.invalidParameter("auth"), IAMError.wrongPassword, IAMError.projectNotFound, IAMError.tokenInvalid, IAMError.unknownURL,
        IAMError.methodNotAllowed, IAMError.internalError,
    ]
    static let gateway: [CofferError] = [
        GatewayError.missingCredentials, GatewayError.invalidToken, GatewayError.tokenExpired, GatewayError.malformedAuthorization("x"),
        GatewayError.unknownAccessKey("AKEXAMPLE"), GatewayError.signatureMismatch, GatewayError.staleDate, GatewayError.accessKeyLocked,
    ]

    @Test("Each family uses its own code prefix and an error status; only internal errors are 5xx")
    func families() {
        for (errors, prefix) in [(Self.dcs, "DCS."), (Self.ddm, "DBS."), (Self.iam, "IAM."), (Self.gateway, "APIGW.")] {
            for error in errors {
                #expect(error.code.hasPrefix(prefix), "\(error)")
                #expect((400..<600).contains(error.status), "\(error)")
                #expect(!error.message.isEmpty)
                #expect(error.isGatewayError == (prefix == "APIGW."))
                if error.status >= 500 { #expect(error == DCSError.internalError || error == IAMError.internalError, "\(error)") }
            }
        }
        #expect(Self.gateway.allSatisfy { $0.status == 401 && $0.code == "APIGW.0301" })
    }

    @Test("Parameterised errors name what failed")
    func parameterised() {
        #expect(DCSError.invalidParameter("name").message == "Invalid name in the request.")
        #expect(DCSError.invalidParameter("limit", "Expected 1 to 1000.").message == "Invalid limit in the request. Expected 1 to 1000.")
        #expect(DDMError.invalidParameter("offset") == CofferError(status: 400, code: "DBS.280001", message: "Parameter error: offset."))
        #expect(DDMError.invalidParameter("offset", "Too big.").message == "Parameter error: offset. Too big.")
        #expect(IAMError.invalidParameter("auth.scope").message == "Request parameter auth.scope is invalid.")
        #expect(GatewayError.unknownAccessKey("AKEXAMPLE").message.contains("ak:AKEXAMPLE"))
        #expect(DCSError.redisUnreachable("127.0.0.1:1", "refused").message.contains("127.0.0.1:1: refused"))
    }
}
