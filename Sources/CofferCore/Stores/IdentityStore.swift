import Foundation

/// Persistence of domains, projects, users and access keys.
///
/// Every read goes to the store (no cache), so that the admin CLI's changes apply to a running
/// server at once.
package protocol IdentityStore: Sendable {
    func insertDomain(_ domain: Domain) async throws
    func domain(named name: String) async throws -> Domain?
    func domain(id: String) async throws -> Domain?

    func insertProject(_ project: Project) async throws
    func project(id: String) async throws -> Project?
    func projects(named name: String?, domainID: String?) async throws -> [Project]

    func insertUser(_ user: User) async throws
    func user(id: String) async throws -> User?
    func user(named name: String, domainID: String) async throws -> User?
    /// Users named `name` in any domain (the admin CLI addresses users by name).
    func users(named name: String) async throws -> [User]
    func updatePassword(userID: String, passwordHash: String, changedAt: Date) async throws
    func deleteUser(id: String) async throws
    /// The caller of a token: user `userID` with project `projectID`, in one query; nil when either is gone.
    func principal(userID: String, projectID: String) async throws -> Principal?

    /// Counts one password attempt of the user *before* the password is checked, unless the user is locked.
    ///
    /// Counting first, in one conditional UPDATE, is what holds across servers and racing requests: each
    /// attempt takes its place in the counter atomically, the one that makes `limit` sets the lock (and
    /// restarts the count), and any attempt arriving while `lockedUntil > now` is refused without a check.
    /// So at most `limit` passwords are ever tried between two locks, however many requests race.
    /// - Returns: whether the attempt may go on to check the password (false: the user is locked).
    func claimLoginAttempt(userID: String, now: Date, limit: Int, lockDuration: TimeInterval) async throws -> Bool
    /// After a correct password: clears the counter and the lock the attempt may have set.
    func resetLoginFailures(userID: String) async throws

    func insertAccessKey(_ key: AccessKey) async throws
    func accessKey(_ accessKey: String) async throws -> AccessKey?
    /// The access key with its user and the user's project, in one query: a signed request's whole lookup.
    func signingKey(_ accessKey: String) async throws -> SigningKey?
    /// Records a failed signature; locks the key for `lockDuration` once `limit` consecutive failures are reached.
    /// - Returns: the key after the update.
    func recordAccessKeyFailure(_ accessKey: String, now: Date, limit: Int, lockDuration: TimeInterval) async throws -> AccessKey?
    /// Clears the failure counter after a good request (no write when it is already zero).
    func resetAccessKeyFailures(_ accessKey: String) async throws

    /// Whether any domain exists yet (first start).
    func isEmpty() async throws -> Bool
}
