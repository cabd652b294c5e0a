import CofferCore
import Foundation
import Hummingbird
import Logging
import NIOCore

/// Coffer's own endpoints: health, Prometheus metrics and the API contract.
struct OperationsController: Sendable {
    let metrics: HTTPMetrics
    /// The backup metrics' scrape-time gauges, appended to the registry's exposition.
    let backupMetrics: BackupMetrics
    /// The bearer token `/metrics` requires; nil: no token, and no per-instance series (see ``prometheus(_:)``).
    let metricsToken: String?
    let database: @Sendable () async throws -> Void

    var routes: [Route] {
        [
            Route(.get, "/health", access: .open, handler: self.health),
            Route(.get, "/metrics", access: .open, handler: self.prometheus),
            Route(.get, "/openapi.yaml", access: .open, handler: self.openAPI),
        ]
    }

    /// 200 when the store answers, 503 otherwise (load balancers take the node out).
    @Sendable func health(_ request: APIRequest) async throws -> Response {
        do {
            try await self.database()
            return try JSONCoding.response(["status": "ok"])
        } catch {
            request.logger.error("Health check failed", metadata: ["error": "\(error)"])
            return try JSONCoding.response(["status": "unavailable"], status: .serviceUnavailable)
        }
    }

    /// The exposition. Series labelled `instance_id` name every project's instances, which a caller without
    /// credentials must not learn: with `COFFER_METRICS_TOKEN` set they are served to `Authorization: Bearer <token>`
    /// only (anything else: 401 in the gateway's form); without it `/metrics` stays open for the HTTP and queue series
    /// and leaves those out.
    @Sendable func prometheus(_ request: APIRequest) async throws -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "text/plain; version=0.0.4; charset=utf-8"
        var text = self.metrics.render()
        if let token = self.metricsToken {
            guard let given = request.headers[.authorization], Self.sameBytes(given, "Bearer " + token) else { throw GatewayError.missingCredentials }
            text += await self.backupMetrics.renderStoreGauges()
        } else {
            text = Self.withoutInstanceSeries(text + (await self.backupMetrics.renderStoreGauges()))
        }
        return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: text)))
    }

    /// The exposition without any sample labelled `instance_id` (comment lines stay: they name no instance).
    static func withoutInstanceSeries(_ text: [UInt8]) -> [UInt8] {
        var kept: [UInt8] = []
        kept.reserveCapacity(text.count)
        for line in text.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            if line.first != UInt8(ascii: "#"), String(decoding: line, as: UTF8.self).contains("instance_id=\"") { continue }
            kept += line
            kept.append(UInt8(ascii: "\n"))
        }
        if text.last != UInt8(ascii: "\n"), !kept.isEmpty { kept.removeLast() }
        return kept
    }

    /// Compares without stopping at the first difference (no timing hint about the token).
    static func sameBytes(_ a: String, _ b: String) -> Bool {
        let (x, y) = (Array(a.utf8), Array(b.utf8))
        guard x.count == y.count else { return false }
        return zip(x, y).reduce(UInt8(0)) { $0 | ($1.0 ^ $1.1) } == 0
    }

    @Sendable func openAPI(_ request: APIRequest) async throws -> Response {
        guard let url = Bundle.module.url(forResource: "openapi", withExtension: "yaml"), let data = try? Data(contentsOf: url) else {
            throw request.family.internalError
        }
        var headers = HTTPFields()
        // A charset, or clients guess one (Python's requests chardet-guesses non-text types and may pick another).
        headers[.contentType] = "application/yaml; charset=utf-8"
        return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
    }
}
