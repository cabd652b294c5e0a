import CofferRedis
import Logging

/// Logger for connections opened by these tests.
let testLogger = Logger(label: "coffer.redis.tests")

extension RedisError {
    /// The case name, so tests can check the kind of failure without matching server wording.
    var kind: String {
        switch self {
        case .unreachable: "unreachable"
        case .timedOut: "timedOut"
        case .authenticationFailed: "authenticationFailed"
        case .server: "server"
        case .protocolViolation: "protocolViolation"
        case .connectionClosed: "connectionClosed"
        }
    }
}
