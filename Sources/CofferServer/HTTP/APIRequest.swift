import CofferCore
import Foundation
import Hummingbird
import Logging
import NIOCore

/// What a handler sees: the caller, decoded path parameters, the query, the exact body bytes.
package struct APIRequest: Sendable {
    package var method: HTTPRequest.Method
    package var family: APIFamily
    package var requestID: String
    /// The caller; nil only on open routes.
    package var principal: Principal?
    package var pathParameters: [String: String]
    /// Query parameters, percent-decoded; the first value wins when a key repeats.
    package var query: [String: String]
    package var headers: HTTPFields
    package var body: ByteBuffer
    package var logger: Logger
    /// `scheme://host[:port]` as the client reached the server (for links and the IAM catalog).
    package var baseURL: String

    /// The authenticated caller; routes marked `.authenticated` always have one.
    package var caller: Principal {
        get throws {
            guard let principal else { throw self.family.internalError }
            return principal
        }
    }

    /// A path parameter (present by construction of the route).
    package func path(_ name: String) -> String { self.pathParameters[name] ?? "" }

    /// The body parsed as a JSON object; nil when the body is empty.
    /// - Throws: the family's invalid-body error when it is not a JSON object.
    package func jsonObject() throws -> JSONObject? {
        guard self.body.readableBytes > 0 else { return nil }
        let data = Data(self.body.readableBytesView)
        guard let value = try? JSONDecoder().decode(JSONValue.self, from: data) else {
            throw self.family.invalidBody("The body is not valid JSON.")
        }
        guard case .object(let object) = value else { throw self.family.invalidBody("The body must be a JSON object.") }
        return JSONObject(object, path: "", family: self.family)
    }
}
