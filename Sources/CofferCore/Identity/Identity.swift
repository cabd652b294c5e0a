import Foundation

/// An account (Huawei "domain"): the owner of users and projects.
package struct Domain: Sendable, Equatable, Codable {
    package var id: String
    package var name: String
    package var createdAt: Date

    package init(id: String, name: String, createdAt: Date) {
        self.id = id
        self.name = name
        self.createdAt = createdAt
    }
}

/// A project: the scope every DCS/DDM object belongs to. Its name is usually a region name.
package struct Project: Sendable, Equatable, Codable {
    package var id: String
    package var domainID: String
    package var name: String
    package var createdAt: Date

    package init(id: String, domainID: String, name: String, createdAt: Date) {
        self.id = id
        self.domainID = domainID
        self.name = name
        self.createdAt = createdAt
    }
}

/// An IAM user. A user works in one project: tokens and AK/SK pairs of the user are scoped to it.
package struct User: Sendable, Equatable, Codable {
    package var id: String
    package var domainID: String
    package var projectID: String
    package var name: String
    /// Password hash in `PasswordHasher`'s self-describing format.
    package var passwordHash: String
    /// Tokens issued before this instant are no longer valid.
    package var passwordChangedAt: Date
    package var createdAt: Date

    package init(
        id: String, domainID: String, projectID: String, name: String, passwordHash: String,
        passwordChangedAt: Date, createdAt: Date
    ) {
        self.id = id
        self.domainID = domainID
        self.projectID = projectID
        self.name = name
        self.passwordHash = passwordHash
        self.passwordChangedAt = passwordChangedAt
        self.createdAt = createdAt
    }
}

/// A permanent access key (AK/SK) of a user.
package struct AccessKey: Sendable, Equatable {
    package var accessKey: String
    /// The secret key in clear text: needed to verify HMAC signatures. Encrypted at rest by the store.
    package var secretKey: String
    package var userID: String
    package var createdAt: Date
    /// Consecutive signature failures; reset by a good request.
    package var failures: Int
    /// Set after five consecutive failures; requests are refused until then.
    package var lockedUntil: Date?

    package init(
        accessKey: String, secretKey: String, userID: String, createdAt: Date, failures: Int = 0, lockedUntil: Date? = nil
    ) {
        self.accessKey = accessKey
        self.secretKey = secretKey
        self.userID = userID
        self.createdAt = createdAt
        self.failures = failures
        self.lockedUntil = lockedUntil
    }
}

/// Who is calling: the result of authentication, carried by every authenticated request.
package struct Principal: Sendable, Equatable {
    package var user: User
    package var project: Project
    /// The access key used, when the request was AK/SK signed.
    package var accessKey: String?

    package init(user: User, project: Project, accessKey: String?) {
        self.user = user
        self.project = project
        self.accessKey = accessKey
    }
}

/// An access key with the caller it stands for, read in one query for a signed request.
package struct SigningKey: Sendable, Equatable {
    package var key: AccessKey
    /// The key's user in the user's project; nil when either is gone, and the key then authenticates nobody.
    package var principal: Principal?

    package init(key: AccessKey, principal: Principal?) {
        self.key = key
        self.principal = principal
    }
}
