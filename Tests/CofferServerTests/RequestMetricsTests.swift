import CofferIAM
import CofferStorage
import CofferTestSupport
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing

@testable import CofferServer

@Suite("Request metrics", .timeLimit(.minutes(1)))
struct RequestMetricsTests {
    @Test("A streamed body is timed to its last byte, not to its headers")
    func streamedBodyIsTimed() async throws {
        try await TestServer.run { server in
            let bodyTime = Duration.milliseconds(400)
            let slow = Route(.get, "/slow", access: .open) { _ in
                Response(
                    status: .ok,
                    body: ResponseBody(contentLength: 4) { writer in
                        try await writer.write(ByteBuffer(string: "sl"))
                        try await Task.sleep(for: bodyTime)
                        try await writer.write(ByteBuffer(string: "ow"))
                        try await writer.finish(nil)
                    })
            }
            let metrics = HTTPMetrics()
            let responder = CofferResponder(
                routes: RouteTable([slow]),
                authenticator: Authenticator(identities: server.parts.store.identities, tokens: TokenService(key: server.parts.store.masterKey.derive(purpose: "test"))),
                metrics: metrics, clock: { Date() })
            try await Application(responder: responder).test(.router) { client in
                try await client.execute(uri: "/slow", method: .get) { response in
                    #expect(response.status == .ok)
                    #expect(String(buffer: response.body) == "slow")
                }
            }
            let sum = try #require(Self.durationSum(metrics, route: "/slow"))
            #expect(sum >= 0.4, "recorded \(sum) s for a body that took at least 0.4 s")
        }
    }

    /// `coffer_http_request_duration_seconds_sum` of `route`, in seconds.
    static func durationSum(_ metrics: HTTPMetrics, route: String) -> Double? {
        String(decoding: metrics.render(), as: UTF8.self).split(separator: "\n")
            .first { $0.hasPrefix("coffer_http_request_duration_seconds_sum{") && $0.contains(#"route="\#(route)""#) }
            .flatMap { $0.split(separator: " ").last }
            .flatMap { Double($0) }
    }
}
