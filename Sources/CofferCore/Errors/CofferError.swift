/// The one error type that reaches a client.
///
/// Every failure a user can see is a `CofferError`: an HTTP status, the exact service code
/// (`DCS.4800`, `DBS.280001`, `APIGW.0301`, …) and a message that is safe to show. The HTTP layer
/// only chooses the body *shape* (DCS v2, DDM v3, IAM or gateway form, reference section 7);
/// the code and status are decided where the failure is understood.
package struct CofferError: Error, Sendable, Equatable, CustomStringConvertible {
    /// HTTP status code of the response.
    package var status: Int
    /// Service error code, e.g. `DCS.4800`.
    package var code: String
    /// Message for the client; never contains a secret.
    package var message: String

    package init(status: Int, code: String, message: String) {
        self.status = status
        self.code = code
        self.message = message
    }

    package var description: String { "\(self.status) \(self.code): \(self.message)" }

    /// Whether the error comes from the authentication gateway (`APIGW.*`), whose body carries a `request_id`.
    package var isGatewayError: Bool { self.code.hasPrefix("APIGW.") }
}
