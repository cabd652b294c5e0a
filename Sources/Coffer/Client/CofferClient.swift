import AsyncHTTPClient
import CofferCore
import CofferIAM
import Foundation
import NIOCore
import NIOHTTP1

/// The methods the client sends (kept apart from NIO's type so that commands need no NIO import).
enum APIMethod: String, Sendable {
    case GET, POST, PUT, DELETE

    var nio: HTTPMethod {
        switch self {
        case .GET: .GET
        case .POST: .POST
        case .PUT: .PUT
        case .DELETE: .DELETE
        }
    }
}

/// One answer of the API: the status and the body exactly as the server sent it (what `--json` prints).
struct APIResponse: Sendable {
    var status: Int
    var body: Data

    func json() throws -> JSONValue { try JSONValue.decode(self.body) }
}

/// The client side of Coffer's API: signs every request with `SDKSigner.sign` (the code the server verifies
/// with) and sends it over AsyncHTTPClient, the HTTP client the S3 blob store already uses, so the binary gains
/// no new dependency and the download streams to disk without holding the file in memory.
struct CofferClient: Sendable {
    let profile: ClientProfile
    let endpoint: URL
    let host: String
    /// Each request's limit; a download gets `downloadTimeout`.
    var timeout: TimeAmount = .seconds(60)
    var downloadTimeout: TimeAmount = .hours(6)

    init(profile: ClientProfile) throws {
        guard let url = URL(string: profile.endpoint), let scheme = url.scheme, scheme == "http" || scheme == "https",
            let hostName = url.host, !hostName.isEmpty
        else { throw ClientError.usage("the endpoint \(profile.endpoint) is not an http:// or https:// URL") }
        self.profile = profile
        self.endpoint = url
        let bracketed = hostName.contains(":") ? "[\(hostName)]" : hostName
        self.host = url.port.map { "\(bracketed):\($0)" } ?? bracketed
    }

    /// `/v2/{project}/…`: the project's own path prefix for a service version.
    func path(_ version: String, _ rest: String) -> String { "/\(version)/\(self.profile.projectID)\(rest)" }

    /// Sends a signed request; an error status becomes `ClientError.api` with the service's code.
    func send(_ method: APIMethod, _ path: String, query: [(String, String)] = [], body: JSONValue? = nil) async throws -> APIResponse {
        let rawQuery = query.map { SDKSigner.encode($0.0) + "=" + SDKSigner.encode($0.1) }.joined(separator: "&")
        let bodyBytes = body.map { [UInt8]($0.encoded()) } ?? []
        var headers = ["content-type": "application/json;charset=utf-8", "x-project-id": self.profile.projectID]
        if bodyBytes.isEmpty { headers["content-type"] = "application/json" }
        let signed = SDKSigner.sign(
            method: method.rawValue, rawPath: path, rawQuery: rawQuery, host: self.host, headers: headers, body: bodyBytes,
            accessKey: self.profile.accessKey, secretKey: self.profile.secretKey, date: Date())
        let base = self.endpoint.absoluteString.hasSuffix("/") ? String(self.endpoint.absoluteString.dropLast()) : self.endpoint.absoluteString
        var request = HTTPClientRequest(url: base + path + (rawQuery.isEmpty ? "" : "?" + rawQuery))
        request.method = method.nio
        request.headers.add(name: "Host", value: self.host)
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        request.headers.add(name: "X-Sdk-Date", value: signed.sdkDate)
        request.headers.add(name: "Authorization", value: signed.authorization)
        request.headers.add(name: "User-Agent", value: "coffer-cli")
        if !bodyBytes.isEmpty { request.body = .bytes(ByteBuffer(bytes: bodyBytes)) }
        let response: HTTPClientResponse
        let data: Data
        do {
            response = try await HTTPClient.shared.execute(request, timeout: self.timeout)
            data = Data(try await response.body.collect(upTo: 64 << 20).readableBytesView)
        } catch {
            throw ClientError.transport("cannot reach \(self.profile.endpoint): \(error)")
        }
        let status = Int(response.status.code)
        guard status < 400 else {
            throw Self.apiError(status: status, body: data, requestID: response.headers.first(name: "X-Request-Id"))
        }
        return APIResponse(status: status, body: data)
    }

    /// Reads an error body of any of Coffer's families: DCS/DDM/gateway `error_code`/`error_msg`, IAM
    /// `{"error": {"code", "message"}}`; anything else keeps the HTTP status as its code.
    static func apiError(status: Int, body: Data, requestID: String?) -> ClientError {
        let json = try? JSONDecoder().decode(JSONValue.self, from: body)
        if let code = json?["error_code"]?.stringValue {
            return .api(status: status, code: code, message: json?["error_msg"]?.stringValue ?? "", requestID: requestID)
        }
        if let error = json?["error"], let code = error["code"] {
            return .api(status: status, code: code.text, message: error["message"]?.text ?? "", requestID: requestID)
        }
        let text = String(decoding: body.prefix(200), as: UTF8.self)
        return .api(status: status, code: "HTTP.\(status)", message: text.isEmpty ? "no body" : text, requestID: requestID)
    }

    /// Streams a pre-signed download link (no credentials: the link carries its signature) into `file`, checking
    /// the byte count against `Content-Length` and `expectedSize` when known. Returns the bytes written.
    func download(link: String, to file: String, expectedSize: Int64?, progress: (Int64, Int64?) -> Void) async throws -> Int64 {
        var request = HTTPClientRequest(url: link)
        request.method = .GET
        let response: HTTPClientResponse
        do {
            response = try await HTTPClient.shared.execute(request, timeout: self.downloadTimeout)
        } catch {
            throw ClientError.transport("cannot download \(link.prefix(while: { $0 != "?" })): \(error)")
        }
        guard response.status.code < 400 else {
            let body = try await response.body.collect(upTo: 1 << 20)
            throw Self.apiError(status: Int(response.status.code), body: Data(body.readableBytesView), requestID: response.headers.first(name: "X-Request-Id"))
        }
        let declared = response.headers.first(name: "Content-Length").flatMap { Int64($0) }
        let total = declared ?? expectedSize
        let temporary = file + ".part"
        guard FileManager.default.createFile(atPath: temporary, contents: nil, attributes: [.posixPermissions: 0o600]),
            let handle = FileHandle(forWritingAtPath: temporary)
        else { throw ClientError.usage("cannot create \(temporary)") }
        var written: Int64 = 0
        do {
            for try await chunk in response.body {
                try handle.write(contentsOf: Data(chunk.readableBytesView))
                written += Int64(chunk.readableBytes)
                progress(written, total)
            }
            try handle.synchronize()
            try handle.close()
        } catch {
            try? handle.close()
            unlink(temporary)
            throw ClientError.transport("the download broke off after \(written) bytes: \(error)")
        }
        for (name, size) in [("Content-Length", declared), ("the backup's size", expectedSize)] {
            if let size, size != written {
                unlink(temporary)
                throw ClientError.transport("downloaded \(written) bytes but \(name) says \(size); nothing written")
            }
        }
        guard rename(temporary, file) == 0 else { throw ClientError.usage("cannot rename \(temporary) to \(file)") }
        return written
    }
}
