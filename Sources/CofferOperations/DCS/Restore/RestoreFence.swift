import CofferCore
import CofferRedis

/// Keeps application clients from changing data while a restore writes (reference `restore.md` §1):
/// `CLIENT PAUSE` cannot, because it pauses the pausing client too, so the fence is ACL. Every user other
/// than Coffer's own is switched `off` (new `AUTH` fails) and its connections are killed (`CLIENT KILL USER`).
/// When Coffer connects as `default` (password only), it cannot switch itself off, so it first creates a
/// temporary user `coffer-restore-<restoreID>` with all rights and the same password (`nopass` when the
/// server has none), works through it, and switches `default` off like every other user.
///
/// Afterwards only the users that were `on` are switched back `on` (the fence changes nothing else about
/// them) and the temporary user is deleted. The checkpoint names both before they change, so a recovery
/// after a crash finds them.
enum RestoreFence {
    /// One user of `ACL LIST`: its name and whether it is `on`.
    struct User: Equatable {
        var name: String
        var isOn: Bool
    }

    /// Parses `ACL LIST` (`user <name> on|off <rules…>`).
    static func users(_ connection: RedisConnection) async throws -> [User] {
        let reply = try await connection.commandExpectingSuccess(["ACL", "LIST"])
        return (reply.array ?? []).compactMap { line in
            guard let text = line.string else { return nil }
            let tokens = text.split(separator: " ")
            guard tokens.count >= 2, tokens[0] == "user" else { return nil }
            return User(name: String(tokens[1]), isOn: tokens.dropFirst(2).contains("on"))
        }
    }

    /// The temporary user's name for a restore.
    static func temporaryUserName(restoreID: String) -> String { "coffer-restore-\(restoreID)" }

    /// Creates the temporary user with every right and Coffer's password.
    static func createTemporaryUser(_ name: String, password: String?, on connection: RedisConnection) async throws {
        let credential = password.map { ">" + $0 } ?? "nopass"
        try await connection.commandExpectingSuccess(["ACL", "SETUSER", name, "reset", "on", credential, "~*", "&*", "+@all"])
    }

    /// Switches `users` off and closes their client connections (never the caller's own: `CLIENT KILL` skips it).
    ///
    /// Only `normal` and `pubsub` clients: a replica's link to this master (often as `default`) stays up, so the
    /// replicas follow the restore as it is written instead of being cut off (they could not log in again while
    /// their user is off) and fully resynchronising afterwards.
    static func disable(_ users: [String], on connection: RedisConnection) async throws {
        for user in users {
            try await connection.commandExpectingSuccess(["ACL", "SETUSER", user, "off"])
            for type in ["normal", "pubsub"] {
                try await connection.commandExpectingSuccess(["CLIENT", "KILL", "USER", user, "TYPE", type])
            }
        }
    }

    /// Closes every other client connection of the user `connection` works as (`CLIENT KILL` skips the caller's own).
    ///
    /// A rollback does this before it flushes: the restore's work user is Coffer's alone while the fence is up, so any
    /// other connection of it belongs to an earlier attempt, e.g. a node that stalled past its job's lease and has not
    /// noticed yet. Its writes would otherwise land after the flush, in the data the rollback puts back.
    static func closeOtherConnections(on connection: RedisConnection) async throws {
        guard let user = try await connection.commandExpectingSuccess(["ACL", "WHOAMI"]).string else { return }
        try await connection.commandExpectingSuccess(["CLIENT", "KILL", "USER", user, "TYPE", "normal"])
    }

    /// Switches `users` back on; harmless when they already are (recovery may run twice).
    static func enable(_ users: [String], on connection: RedisConnection) async throws {
        for user in users {
            // `ACL SETUSER` would create a user deleted meanwhile by an administrator: that one stays deleted.
            guard try await connection.commandExpectingSuccess(["ACL", "GETUSER", user]).isNull == false else { continue }
            try await connection.commandExpectingSuccess(["ACL", "SETUSER", user, "on"])
        }
    }
}
