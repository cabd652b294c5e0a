import AsyncHTTPClient
import CofferCore
import Crypto
import Foundation
import NIOCore
import NIOHTTP1

/// The S3 calls the blob store makes, each signed with SigV4 and sent with async-http-client.
///
/// The URL sent is built from the same encoded path and canonical query that are signed, and `Host` is set
/// explicitly, so what the server recomputes is what was signed. Every body is sent with its length and
/// its real SHA-256 as `x-amz-content-sha256` (parts are buffered anyway; S3 checks it, SeaweedFS does not).
/// Transient failures (no answer, 5xx) of idempotent calls are retried twice, re-signed each time.
package struct S3Client: Sendable {
    package let location: S3Location
    let signer: SigV4Signer
    let http: HTTPClient
    let clock: @Sendable () -> Date

    package init(location: S3Location, credentials: S3Credentials, http: HTTPClient = S3Client.sharedHTTP, clock: @escaping @Sendable () -> Date = Date.init) {
        self.location = location
        self.signer = SigV4Signer(credentials: credentials, region: location.region)
        self.http = http
        self.clock = clock
    }

    /// One HTTP client (one connection pool) for every S3 store of the process, never shut down, like
    /// `HTTPClient.shared`, whose settings do not fit: it follows redirects (a redirected signed request
    /// fails anyway) and keeps retrying a refused connection for 10 s. Here a dead endpoint fails each
    /// attempt after 3 s, and a read that stalls for a minute ends the request.
    package static let sharedHTTP = HTTPClient(
        eventLoopGroup: HTTPClient.defaultEventLoopGroup,
        configuration: HTTPClient.Configuration(redirectConfiguration: .disallow, timeout: .init(connect: .seconds(3), read: .seconds(60))))

    /// Time for a call without a large body; parts and ranged reads get more (`transferTimeout`).
    static let callTimeout: TimeAmount = .seconds(30)
    static let transferTimeout: TimeAmount = .minutes(10)

    // MARK: - Objects

    /// `HEAD`: the object's size, or nil when it does not exist.
    package func head(key: String) async throws -> Int64? {
        let response = try await self.send("HEAD object", .HEAD, key: key, accept: [200, 404])
        guard response.status == 200 else { return nil }
        guard let length = response.headers.first(name: "content-length").flatMap({ Int64($0) }) else {
            throw S3Error.invalidResponse(operation: "HEAD object", reason: "no Content-Length")
        }
        return length
    }

    /// `PUT` of a whole object; refuses to replace one that exists (`If-None-Match: *`).
    ///
    /// A 412 is not always someone else's object: when an attempt's answer is lost after the server stored the
    /// object (a connection reset on a kept-alive connection, a 5xx from a proxy), the retry finds the object this
    /// very call wrote. An object with the same bytes is therefore accepted: a single-part object's ETag is the
    /// MD5 of its bytes (S3, OBS and SeaweedFS alike), so one `HEAD` tells.
    func put(key: String, body: ByteBuffer) async throws {
        let response = try await self.send("PUT object", .PUT, key: key, headers: [("if-none-match", "*")], body: body, accept: [200, 412])
        guard response.status == 412 else { return }
        let stored = try await self.send("HEAD object", .HEAD, key: key, accept: [200, 404])
        let etag = stored.headers.first(name: "etag").map { $0.trimmingCharacters(in: CharacterSet(charactersIn: "\"")) }
        let md5 = body.withUnsafeReadableBytes { Hex.encode(Insecure.MD5.hash(data: $0)) }
        guard stored.status == 200, etag?.lowercased() == md5 else { throw S3Error.exists(key: key) }
    }

    /// `GET` of `range` (inclusive byte offsets), collected: callers ask for bounded windows.
    func get(key: String, range: ClosedRange<Int64>) async throws -> ByteBuffer {
        let count = Int(range.upperBound - range.lowerBound + 1)
        let response = try await self.send(
            "GET object", .GET, key: key, headers: [("range", "bytes=\(range.lowerBound)-\(range.upperBound)")], accept: [200, 206],
            collect: count, timeout: Self.transferTimeout)
        var body = response.body
        // A server ignoring Range answers 200 with the whole object: take the part asked for.
        if response.status == 200, range.lowerBound > 0 || body.readableBytes > count {
            guard let slice = body.getSlice(at: body.readerIndex + Int(range.lowerBound), length: min(count, body.readableBytes - Int(range.lowerBound))) else {
                throw S3Error.invalidResponse(operation: "GET object", reason: "body shorter than the range")
            }
            body = slice
        }
        guard body.readableBytes == count else {
            throw S3Error.invalidResponse(operation: "GET object", reason: "\(body.readableBytes) bytes for a range of \(count)")
        }
        return body
    }

    /// `DELETE`: no error when the object is already gone.
    func delete(key: String) async throws {
        _ = try await self.send("DELETE object", .DELETE, key: key, accept: [200, 204, 404])
    }

    // MARK: - Multipart uploads

    /// `POST ?uploads`: the new upload's id.
    func createMultipartUpload(key: String) async throws -> String {
        let response = try await self.send("CreateMultipartUpload", .POST, key: key, query: [("uploads", "")], accept: [200], retries: false)
        guard let id = S3XML.value("UploadId", in: Self.text(response.body)[...]), !id.isEmpty else {
            throw S3Error.invalidResponse(operation: "CreateMultipartUpload", reason: "no UploadId")
        }
        return id
    }

    /// `PUT ?partNumber&uploadId`: the part's ETag (retrying a part under its number replaces it).
    func uploadPart(key: String, uploadID: String, number: Int, body: ByteBuffer) async throws -> String {
        let response = try await self.send(
            "UploadPart", .PUT, key: key, query: [("partNumber", String(number)), ("uploadId", uploadID)], body: body, accept: [200],
            timeout: Self.transferTimeout)
        guard let etag = response.headers.first(name: "etag"), !etag.isEmpty else {
            throw S3Error.invalidResponse(operation: "UploadPart", reason: "no ETag")
        }
        return etag
    }

    /// `POST ?uploadId` with the part list: the object appears, whole, only now. S3 may answer 200 and still
    /// fail (an `<Error>` body), so the body is read.
    func completeMultipartUpload(key: String, uploadID: String, parts: [(number: Int, etag: String)]) async throws {
        var xml = "<CompleteMultipartUpload>"
        for part in parts {
            xml += "<Part><PartNumber>\(part.number)</PartNumber><ETag>\(S3XML.escape(part.etag))</ETag></Part>"
        }
        xml += "</CompleteMultipartUpload>"
        let response = try await self.send(
            "CompleteMultipartUpload", .POST, key: key, query: [("uploadId", uploadID)], headers: [("content-type", "application/xml")],
            body: ByteBuffer(string: xml), accept: [200], timeout: Self.transferTimeout)
        let text = Self.text(response.body)
        if text.contains("<Error>") {
            throw S3Error.service(
                operation: "CompleteMultipartUpload", status: 200, code: S3XML.value("Code", in: text[...]) ?? "unknown",
                message: S3XML.value("Message", in: text[...]) ?? "")
        }
    }

    /// `DELETE ?uploadId`: no error when the upload is already gone.
    func abortMultipartUpload(key: String, uploadID: String) async throws {
        _ = try await self.send("AbortMultipartUpload", .DELETE, key: key, query: [("uploadId", uploadID)], accept: [200, 204, 404])
    }

    /// An upload that was started and neither completed nor aborted.
    package struct PendingUpload: Sendable {
        package var key: String
        package var uploadID: String
        package var initiated: Date?
    }

    /// `GET /bucket?uploads`, every page.
    package func listMultipartUploads() async throws -> [PendingUpload] {
        var uploads: [PendingUpload] = []
        var markers: [(String, String)] = []
        for _ in 0..<10_000 {
            let response = try await self.send("ListMultipartUploads", .GET, key: nil, query: [("uploads", "")] + markers, accept: [200])
            let text = Self.text(response.body)
            for block in S3XML.elements("Upload", in: text[...]) {
                guard let key = S3XML.value("Key", in: block), let id = S3XML.value("UploadId", in: block) else { continue }
                uploads.append(PendingUpload(key: key, uploadID: id, initiated: S3XML.value("Initiated", in: block).flatMap(Self.parseTime)))
            }
            guard S3XML.value("IsTruncated", in: text[...]) == "true", let nextKey = S3XML.value("NextKeyMarker", in: text[...]) else { break }
            let nextID = S3XML.value("NextUploadIdMarker", in: text[...]) ?? ""
            markers = [("key-marker", nextKey), ("upload-id-marker", nextID)]
        }
        return uploads
    }

    /// `HEAD /bucket`: whether the bucket answers (test servers' readiness).
    package func bucketExists(timeout: TimeAmount = Self.callTimeout) async throws -> Bool {
        try await self.send("HEAD bucket", .HEAD, key: nil, accept: [200, 404], timeout: timeout, retries: false).status == 200
    }

    /// `PUT /bucket`.
    package func createBucket() async throws {
        _ = try await self.send("CreateBucket", .PUT, key: nil, accept: [200], retries: false)
    }

    // MARK: - Sending

    struct Answer {
        var status: Int
        var headers: HTTPHeaders
        var body: ByteBuffer
    }

    /// Signs and sends one request, retrying transient failures when `retries`; answers outside `accept`
    /// become `S3Error.service` with S3's `Code` and `Message`.
    private func send(
        _ operation: String, _ method: HTTPMethod, key: String?, query: [(String, String)] = [], headers: [(String, String)] = [],
        body: ByteBuffer? = nil, accept: Set<Int>, collect: Int = 1 << 20, timeout: TimeAmount = Self.callTimeout, retries: Bool = true
    ) async throws -> Answer {
        let attempts = retries ? 3 : 1
        var attempt = 0
        while true {
            attempt += 1
            do {
                return try await self.sendOnce(operation, method, key: key, query: query, headers: headers, body: body, accept: accept, collect: collect, timeout: timeout)
            } catch let error as S3Error where error.isTransient && attempt < attempts {
                try await Task.sleep(for: .milliseconds(200 * attempt * attempt))
            }
        }
    }

    private func sendOnce(
        _ operation: String, _ method: HTTPMethod, key: String?, query: [(String, String)], headers extra: [(String, String)],
        body: ByteBuffer?, accept: Set<Int>, collect: Int, timeout: TimeAmount
    ) async throws -> Answer {
        let path = self.location.path(for: key)
        let payloadHash = body.map { buffer in buffer.withUnsafeReadableBytes { Hex.encode(SHA256.hash(data: $0)) } } ?? SigV4Signer.emptyPayloadHash
        let date = self.clock()
        var headers = [("host", self.location.hostHeader), ("x-amz-date", SigV4Signer.timestamp(date).stamp), ("x-amz-content-sha256", payloadHash)]
        headers += extra
        let authorization = self.signer.authorization(method: method.rawValue, path: path, query: query, headers: headers, payloadHash: payloadHash, date: date)
        let canonicalQuery = SigV4Signer.canonicalQuery(query)
        let authority = self.location.hostHeader
        var request = HTTPClientRequest(url: "\(self.location.scheme)://\(authority)\(path)" + (canonicalQuery.isEmpty ? "" : "?" + canonicalQuery))
        request.method = method
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        request.headers.add(name: "authorization", value: authorization)
        if let body {
            request.headers.add(name: "content-length", value: String(body.readableBytes))
            request.body = .bytes(body)
        }
        let response: HTTPClientResponse
        let collected: ByteBuffer
        do {
            response = try await self.http.execute(request, timeout: timeout)
            collected = method == .HEAD ? ByteBuffer() : try await response.body.collect(upTo: max(collect, 1 << 16) + 4096)
        } catch let error as HTTPClientError {
            throw S3Error.transport(operation: operation, reason: "\(error)")
        } catch let error as NIOTooManyBytesError {
            throw S3Error.invalidResponse(operation: operation, reason: "\(error)")
        } catch let error as CancellationError {
            throw error
        } catch {
            // Connection refused and other socket errors come from NIO; they carry no secrets.
            throw S3Error.transport(operation: operation, reason: "\(error)")
        }
        let status = Int(response.status.code)
        guard accept.contains(status) else {
            let text = Self.text(collected)
            throw S3Error.service(
                operation: operation, status: status, code: S3XML.value("Code", in: text[...]) ?? response.status.reasonPhrase,
                message: S3XML.value("Message", in: text[...]) ?? "")
        }
        return Answer(status: status, headers: response.headers, body: collected)
    }

    private static func text(_ buffer: ByteBuffer) -> String {
        String(buffer: buffer)
    }

    /// S3's ISO 8601 times, with or without fractional seconds.
    static func parseTime(_ text: String) -> Date? {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let date = formatter.date(from: text) { return date }
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.date(from: text)
    }
}
