import CofferCore
import Foundation

/// Account administration shared by the first start, the admin CLI and IAM login.
package struct IdentityService: Sendable {
    let store: any IdentityStore
    private let hasher: PasswordHasher

    package init(store: any IdentityStore, hasher: PasswordHasher) {
        self.store = store
        self.hasher = hasher
    }

    /// The account created on first start.
    package struct Bootstrap: Codable, Sendable, Equatable {
        package var domain: String
        package var user: String
        package var password: String
        package var projectID: String
        package var projectName: String
        package var region: String
        package var accessKey: String
        package var secretKey: String
        package var endpoint: String

        enum CodingKeys: String, CodingKey {
            case domain, user, password, region, endpoint
            case projectID = "project_id"
            case projectName = "project_name"
            case accessKey = "access_key"
            case secretKey = "secret_key"
        }
    }

    /// Creates domain `coffer`, user `admin`, the region's project and an AK/SK, unless an account exists.
    /// - Returns: the new account, or nil when the store already had one.
    package func bootstrapIfEmpty(
        region: String, endpoint: String, password: String?, accessKey: String?, secretKey: String?, now: Date
    ) async throws -> Bootstrap? {
        guard try await self.store.isEmpty() else { return nil }
        let domain = Domain(id: Identifiers.hex32(), name: "coffer", createdAt: now)
        try await self.store.insertDomain(domain)
        let project = Project(id: Identifiers.hex32(), domainID: domain.id, name: region, createdAt: now)
        try await self.store.insertProject(project)
        let password = password ?? Identifiers.password()
        let user = try await self.createUser(name: "admin", password: password, projectID: project.id, now: now)
        let key = try await self.createAccessKey(userName: user.name, accessKey: accessKey, secretKey: secretKey, now: now)
        return Bootstrap(
            domain: domain.name, user: user.name, password: password, projectID: project.id, projectName: project.name,
            region: region, accessKey: key.accessKey, secretKey: key.secretKey, endpoint: endpoint)
    }

    /// Creates a project in the (single) account.
    package func createProject(name: String, now: Date) async throws -> Project {
        guard !name.isEmpty, name.count <= 64 else { throw IAMError.invalidParameter("name") }
        guard let domain = try await self.store.domain(named: "coffer") else { throw IAMError.invalidParameter("domain") }
        guard try await self.store.projects(named: name, domainID: domain.id).isEmpty else {
            throw IAMError.projectExists(name)
        }
        let project = Project(id: Identifiers.hex32(), domainID: domain.id, name: name, createdAt: now)
        try await self.store.insertProject(project)
        return project
    }

    /// Creates a user working in `projectID`.
    package func createUser(name: String, password: String, projectID: String, now: Date) async throws -> User {
        guard !name.isEmpty, name.count <= 64 else { throw IAMError.invalidParameter("name") }
        guard password.count >= 8 else {
            throw IAMError.passwordTooShort
        }
        guard let project = try await self.store.project(id: projectID) else { throw IAMError.invalidParameter("project") }
        guard try await self.store.user(named: name, domainID: project.domainID) == nil else {
            throw IAMError.userExists(name)
        }
        let user = User(
            id: Identifiers.hex32(), domainID: project.domainID, projectID: project.id, name: name,
            passwordHash: try self.hasher.hash(password), passwordChangedAt: now, createdAt: now)
        try await self.store.insertUser(user)
        return user
    }

    /// Changes a password; tokens issued before now stop working.
    package func changePassword(userName: String, password: String, now: Date) async throws {
        let user = try await self.uniqueUser(named: userName)
        try await self.store.updatePassword(userID: user.id, passwordHash: try self.hasher.hash(password), changedAt: now)
    }

    /// Creates an AK/SK for the user (generated unless given).
    package func createAccessKey(userName: String, accessKey: String? = nil, secretKey: String? = nil, now: Date) async throws -> AccessKey {
        let user = try await self.uniqueUser(named: userName)
        let key = AccessKey(
            accessKey: accessKey ?? Identifiers.accessKey(), secretKey: secretKey ?? Identifiers.secretKey(), userID: user.id,
            createdAt: now)
        try await self.store.insertAccessKey(key)
        return key
    }

    /// Consecutive wrong passwords that lock a user, as AKs are locked after five bad signatures.
    package static let loginFailureLimit = 5
    /// How long a locked user stays locked: 15 minutes, the default of Huawei IAM's login protection policy.
    /// Longer than an AK's 5 minutes because a password is chosen by a person and far easier to guess than a
    /// 40-character secret key; at 5 guesses per 15 minutes an online attacker gets at most 480 a day.
    package static let loginLockDuration: TimeInterval = 15 * 60

    /// Password login (`POST /v3/auth/tokens`): the user of `domainName` named `userName`, if the password
    /// matches and the user is not locked.
    ///
    /// A locked user is refused with `IAM.0005`, even with the right password, and without the password being
    /// checked, as Keystone (which IAM is built on) answers `AccountLocked` before it checks the password. The
    /// answer differs from a wrong password's on purpose, as IAM's does: the owner learns to wait rather than
    /// to doubt the password, and the name it reveals as existing has cost the prober five guesses and a lock.
    package func login(domainName: String, userName: String, password: String, now: Date) async throws -> User {
        guard let domain = try await self.store.domain(named: domainName),
            let user = try await self.store.user(named: userName, domainID: domain.id)
        else { throw IAMError.wrongPassword }
        guard try await self.store.claimLoginAttempt(
            userID: user.id, now: now, limit: Self.loginFailureLimit, lockDuration: Self.loginLockDuration)
        else { throw IAMError.userLocked }
        guard self.hasher.verify(password, against: user.passwordHash) else { throw IAMError.wrongPassword }
        try await self.store.resetLoginFailures(userID: user.id)
        return user
    }

    package func user(named name: String) async throws -> User { try await self.uniqueUser(named: name) }

    private func uniqueUser(named name: String) async throws -> User {
        let users = try await self.store.users(named: name)
        guard let user = users.first else {
            throw IAMError.noSuchUser(name)
        }
        return user
    }
}
