import CofferCore

extension IdentityService {
    /// A domain by id (IAM login may name the user's domain by id), nil when unknown.
    package func domain(id: String) async throws -> Domain? {
        try await self.store.domain(id: id)
    }

    /// A project by id, nil when unknown.
    package func project(id: String) async throws -> Project? {
        try await self.store.project(id: id)
    }
}
