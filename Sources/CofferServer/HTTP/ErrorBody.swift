import CofferCore
import Foundation
import Hummingbird
import NIOCore

/// Renders a `CofferError` in the body shape of the family (reference section 7).
package enum ErrorBody {
    package static func response(for error: CofferError, family: APIFamily, requestID: String) -> Response {
        var object: [String: JSONValue] = [
            "error_code": .string(error.code),
            "error_msg": .string(String(error.message.prefix(1024))),
        ]
        if error.isGatewayError {
            object["request_id"] = .string(requestID)
        } else {
            switch family {
            case .dcs, .operations:
                object["error_ext_msg"] = .null
            case .ddm:
                // Both pairs: the Python SDK reads error_code/error_msg, Terraform reads errCode (reference 7.0).
                object["errCode"] = .string(error.code)
                object["externalMessage"] = .string(error.message)
            case .iam:
                break
            }
        }
        var headers = HTTPFields()
        headers[.contentType] = "application/json;charset=UTF-8"
        let data = (try? JSONCoding.encoder.encode(object)) ?? Data("{}".utf8)
        return Response(
            status: HTTPResponse.Status(code: error.status), headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
    }
}
