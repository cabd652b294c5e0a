import HTTPTypes
import Testing

/// Epoch-millisecond query parameters were converted with `Int64(Double(text))`, which traps (kills the
/// server) for `1e30` or `inf`; they are parameter errors.
@Suite("DDM epoch-millisecond query parameters", .timeLimit(.minutes(1)))
struct EpochQueryTests {
    @Test("Out-of-range times are 400 DBS.280001", arguments: ["1e30", "inf", "9223372036854775808", "-1", "253402300800000", "x"])
    func outOfRange(value: String) async throws {
        try await TestServer.run { server in
            for name in ["start_time", "end_time"] {
                let reply = try await server.signed(.get, "/v3/\(server.projectID)/jobs?\(name)=\(value)")
                #expect(reply.status == .badRequest, "\(name)=\(value)")
                #expect(reply.errorCode == "DBS.280001")
            }
            let listed = try await server.signed(.get, "/v3/\(server.projectID)/jobs?start_time=0&end_time=253402300799999")
            #expect(listed.status == .ok)
        }
    }
}
