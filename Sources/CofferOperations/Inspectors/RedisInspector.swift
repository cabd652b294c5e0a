import CofferCore
import CofferRedis
import Logging

/// What Coffer reads from an adopted Redis server to show it.
package struct RedisFacts: Sendable, Equatable {
    /// `redis_version`, e.g. `7.0.15`.
    package var version: String
    package var usedMemory: Int
    /// `maxmemory`; 0 when unlimited.
    package var maxMemory: Int
    package var totalSystemMemory: Int?

    /// `major.minor`, the form of DCS's `engine_version`.
    package var engineVersion: String { self.version.split(separator: ".").prefix(2).joined(separator: ".") }
}

/// Reads live facts from adopted Redis servers over RESP, mapping failures to user-facing errors.
package struct RedisInspector: Sendable {
    package var timeout: Duration
    let logger: Logger

    package init(timeout: Duration = .seconds(3), logger: Logger) {
        self.timeout = timeout
        self.logger = logger
    }

    /// Connects (with AUTH), runs INFO and disconnects; when the adopted address does not answer, asks the masters
    /// of the instance's last topology (a cluster or master/standby instance lives on when one node is gone).
    /// - Throws: `CofferError` 400 naming the address: unreachable, timed out or password rejected.
    package func facts(of instance: DCSInstance) async throws -> RedisFacts {
        var endpoints = [RedisEndpoint(host: instance.host, port: instance.port, username: instance.accessUser, password: instance.password)]
        for node in instance.topology?.shards.compactMap(\.master) ?? [] where node.host != instance.host || node.port != instance.port {
            endpoints.append(RedisEndpoint(host: node.host, port: node.port, username: instance.accessUser, password: instance.password))
        }
        var firstError: RedisError?
        for endpoint in endpoints {
            do {
                let info = try await RedisConnection.withConnection(to: endpoint, timeout: self.timeout, logger: self.logger) { connection in
                    try await connection.info()
                }
                return RedisFacts(
                    version: info.redisVersion ?? "unknown", usedMemory: info.usedMemory ?? 0, maxMemory: info.maxMemory ?? 0,
                    totalSystemMemory: info.totalSystemMemory)
            } catch let error as RedisError {
                if firstError == nil { firstError = error }
                if case .authenticationFailed = error { break }
            }
        }
        switch firstError {
        case .authenticationFailed?: throw DCSError.redisPasswordRejected(instance.address)
        case let error?: throw DCSError.redisUnreachable(instance.address, error.description)
        case nil: throw DCSError.redisUnreachable(instance.address, "no node to ask")
        }
    }
}
