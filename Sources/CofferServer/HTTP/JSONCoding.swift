import Foundation
import Hummingbird
import NIOCore

/// The JSON encoder and response helpers every controller uses, so that the wire form is decided once.
package enum JSONCoding {
    package static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        return encoder
    }()

    /// A JSON response with `status`.
    package static func response(_ value: some Encodable, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) throws -> Response {
        var headers = headers
        headers[.contentType] = "application/json;charset=UTF-8"
        let data = try Self.encoder.encode(value)
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
    }

    /// A JSON response whose body was written by hand (`JSONBytes`).
    static func response(_ json: JSONBytes, status: HTTPResponse.Status = .ok) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json;charset=UTF-8"
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: json.bytes)))
    }

    /// An empty response (204 for DCS update and delete).
    package static func noContent() -> Response { Response(status: .noContent) }
}
