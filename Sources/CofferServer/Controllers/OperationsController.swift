import Foundation
import Hummingbird
import Logging
import NIOCore

/// Coffer's own endpoints: health, Prometheus metrics and the API contract.
struct OperationsController: Sendable {
    let metrics: HTTPMetrics
    /// The backup metrics' scrape-time gauges, appended to the registry's exposition.
    let backupMetrics: BackupMetrics
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

    @Sendable func prometheus(_ request: APIRequest) async throws -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "text/plain; version=0.0.4; charset=utf-8"
        return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: self.metrics.render() + (await self.backupMetrics.renderStoreGauges()))))
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
