import CofferCore
import CofferMySQL
import Foundation
import Logging

/// Talks to data nodes for the HTTP layer (through the `CofferMySQL` engine), mapping engine failures to
/// the DDM errors a user can act on: unreachable address, wrong account, refused statement.
package struct MySQLInspector: Sendable {
    package var timeout: Duration
    private let logger: Logger

    package init(timeout: Duration = .seconds(5), logger: Logger) {
        self.timeout = timeout
        self.logger = logger
    }

    /// Reads the engine name and version from the server's greeting, without logging in.
    /// - Throws: 400 `DBS.280001` naming the address when nothing MySQL-like answers there.
    package func handshake(host: String, port: Int) async throws -> MySQLServerInfo {
        let endpoint = MySQLEndpoint(host: host, port: port, user: "", password: "")
        do {
            return try await MySQLConnection.greeting(of: endpoint, timeout: self.timeout, logger: self.logger)
        } catch let error as MySQLError {
            throw DDMError.dataNodeUnreachable("\(host):\(port)", error.description)
        }
    }

    /// Which of `names` exist as databases on the node (a restore refuses to overwrite them).
    /// - Throws: as `run`.
    package func existingDatabases(_ names: [String], on node: DataNode, user: String, password: String) async throws -> [String] {
        guard !names.isEmpty else { return [] }
        let list = names.map { "'" + $0.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "'", with: "''") + "'" }
            .joined(separator: ", ")
        let endpoint = MySQLEndpoint(host: node.host, port: node.port, user: user, password: password)
        do {
            return try await MySQLConnection.withConnection(to: endpoint, timeout: self.timeout, logger: self.logger) { connection in
                try await connection.query("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME IN (\(list))").rows
                    .compactMap { $0.first ?? nil }
            }
        } catch let error as MySQLError {
            switch error {
            case .authenticationFailed(let message):
                throw DDMError.wrongCredentials("Data node \(node.id) (\(node.address)) refused user \(user): \(message)")
            default:
                throw DDMError.dataNodeUnreachable(node.address, error.description)
            }
        }
    }

    /// Logs in with a schema's account and runs `statements`.
    /// - Throws: 400 `DBS.300114` for a refused account, `DBS.280001` for an unreachable node, `DBS.300100` for a refused statement.
    package func run(_ statements: [String], on node: DataNode, user: String, password: String) async throws {
        let endpoint = MySQLEndpoint(host: node.host, port: node.port, user: user, password: password)
        do {
            try await MySQLConnection.withConnection(to: endpoint, timeout: self.timeout, logger: self.logger) { connection in
                for statement in statements { try await connection.query(statement) }
            }
        } catch let error as MySQLError {
            switch error {
            case .authenticationFailed(let message):
                throw DDMError.wrongCredentials("Data node \(node.id) (\(node.address)) refused user \(user): \(message)")
            case .server(_, _, let message):
                throw DDMError.schemaCreateFailed("Data node \(node.id) (\(node.address)): \(message)")
            default:
                throw DDMError.dataNodeUnreachable(node.address, error.description)
            }
        }
    }
}
