import CofferCore
import CofferIAM
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore

/// The request pipeline: request id → route lookup → body (bounded) → authentication → project
/// scope → handler → error mapping → metrics and log line.
///
/// One responder instead of a router plus middlewares, because authentication needs the raw path,
/// query and body, and 404/405/500 must answer in each service's own error form.
package struct CofferResponder: HTTPResponder {
    package typealias Context = BasicRequestContext

    /// Bodies above this are refused with 413 before authentication.
    package static let maxBodySize = 1 << 20

    let routes: RouteTable
    let authenticator: Authenticator
    let metrics: HTTPMetrics
    let clock: @Sendable () -> Date

    package func respond(to request: Request, context: Context) async throws -> Response {
        let started = ContinuousClock.now
        let requestID = Identifiers.requestID()
        var logger = context.logger
        logger[metadataKey: "request.id"] = "\(requestID)"
        let rawPath = request.uri.path
        let family = APIFamily.of(path: rawPath)
        var template = "unmatched"
        var response: Response
        do {
            let (route, parameters) = try self.route(for: request, family: family)
            template = route.template
            response = try await self.handle(
                request, route: route, parameters: parameters, family: family, requestID: requestID, logger: logger)
        } catch let error as CofferError {
            response = ErrorBody.response(for: error, family: family, requestID: requestID)
        } catch {
            logger.error("Request failed", metadata: ["error": "\(String(reflecting: error))"])
            response = ErrorBody.response(for: family.internalError, family: family, requestID: requestID)
        }
        response.headers[HTTPField.Name("X-Request-Id")!] = requestID
        // Recorded once the body is written (as Hummingbird's MetricsMiddleware does), so a streamed
        // download is timed to its last byte, not to its headers.
        let (metrics, method, status, route, requestLogger) = (self.metrics, request.method.rawValue, response.status.code, template, logger)
        response.body = response.body.afterWrite {
            let elapsed = ContinuousClock.now - started
            metrics.record(route: route, method: method, status: status, duration: elapsed)
            requestLogger.info(
                "Request",
                metadata: [
                    "http.method": "\(method)", "http.route": "\(route)",
                    "http.status": "\(status)", "http.duration_ms": "\(elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000)",
                ])
        }
        return response
    }

    private func route(for request: Request, family: APIFamily) throws -> (Route, [String: String]) {
        let segments = request.uri.path.split(separator: "/", omittingEmptySubsequences: true).map { PercentDecoding.decode(String($0)) }
        switch self.routes.lookup(method: request.method, segments: segments) {
        case .found(let route, let parameters):
            return (route, parameters)
        case .methodNotAllowed: throw family.methodNotAllowed
        case .notFound: throw family.unknownURL
        }
    }

    /// How the client reached the server, for the URLs Coffer hands out (download links, the IAM catalog):
    /// `X-Forwarded-Proto`/`X-Forwarded-Host` from a TLS-terminating proxy win over the Host header.
    static func baseURL(_ headers: [String: String]) -> String {
        let scheme = headers["x-forwarded-proto"].flatMap { ["http", "https"].contains($0) ? $0 : nil } ?? "http"
        let host = headers["x-forwarded-host"] ?? headers["host"] ?? "127.0.0.1"
        return scheme + "://" + host
    }

    private func handle(
        _ request: Request, route: Route, parameters: [String: String], family: APIFamily, requestID: String, logger: Logger
    ) async throws -> Response {
        var request = request
        let body: ByteBuffer
        do {
            body = try await request.collectBody(upTo: Self.maxBodySize)
        } catch {
            var tooLarge = family.invalidBody("The request body is larger than \(Self.maxBodySize) bytes.")
            tooLarge.status = 413
            throw tooLarge
        }
        var headers: [String: String] = [:]
        for field in request.headers where headers[field.name.canonicalName] == nil {
            headers[field.name.canonicalName] = field.value
        }
        if let authority = request.head.authority { headers["host"] = authority }
        let rawQuery = request.uri.query ?? ""
        var principal: Principal?
        if route.access == .authenticated {
            let raw = Authenticator.Request(
                method: request.method.rawValue, rawPath: request.uri.path, rawQuery: rawQuery, headers: headers,
                body: Array(body.readableBytesView))
            let caller = try await self.authenticator.authenticate(raw, now: self.clock())
            if let projectID = parameters["project_id"] {
                guard Identifiers.isHex32(projectID) else { throw family.invalidProjectID }
                guard projectID == caller.project.id else { throw family.projectMismatch }
            }
            principal = caller
        }
        var query: [String: String] = [:]
        for part in rawQuery.split(separator: "&") {
            let pieces = part.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let key = PercentDecoding.decode(String(pieces[0]))
            if query[key] == nil { query[key] = pieces.count > 1 ? PercentDecoding.decode(String(pieces[1])) : "" }
        }
        let apiRequest = APIRequest(
            method: request.method, family: family, requestID: requestID, principal: principal, pathParameters: parameters,
            query: query, headers: request.headers, body: body, logger: logger,
            baseURL: Self.baseURL(headers))
        return try await route.handler(apiRequest)
    }
}
