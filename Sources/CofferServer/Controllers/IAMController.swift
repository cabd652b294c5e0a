import CofferCore
import CofferIAM
import Foundation
import HTTPTypes
import Hummingbird

/// The IAM subset the SDKs need (reference section 4): password tokens, token validation, project lookup.
struct IAMController: Sendable {
    let service: IdentityService
    let tokens: TokenService
    let authenticator: Authenticator
    let clock: @Sendable () -> Date

    var routes: [Route] {
        [
            Route(.post, "/v3/auth/tokens", access: .open, handler: self.createToken),
            Route(.get, "/v3/auth/tokens", access: .open, handler: self.validateToken),
            Route(.get, "/v3/projects", handler: self.listProjects),
        ]
    }

    /// `POST /v3/auth/tokens`: password method, scoped to the user's project (by id or name).
    @Sendable func createToken(_ request: APIRequest) async throws -> Response {
        guard let body = try request.jsonObject(), let auth = try body.object("auth"), let identity = try auth.object("identity") else {
            throw IAMError.invalidParameter("auth.identity")
        }
        let methods = try identity.array("methods") ?? []
        guard methods.contains(.string("password")), let password = try identity.object("password"), let user = try password.object("user")
        else { throw IAMError.invalidParameter("auth.identity.methods") }
        let userName = try user.requiredString("name")
        let secret = try user.requiredString("password")
        guard let domain = try user.object("domain") else { throw IAMError.invalidParameter("auth.identity.password.user.domain") }
        var domainName = try domain.string("name")
        if domainName == nil, let domainID = try domain.string("id") {
            domainName = try await self.service.domain(id: domainID)?.name
        }
        guard let domainName else { throw IAMError.wrongPassword }
        let account = try await self.service.login(domainName: domainName, userName: userName, password: secret, now: self.clock())
        guard let project = try await self.service.project(id: account.projectID) else { throw IAMError.projectNotFound }
        if let scope = try auth.object("scope") {
            if let wanted = try scope.object("project") {
                let id = try wanted.string("id")
                let name = try wanted.string("name")
                guard id != nil || name != nil, id == nil || id == project.id, name == nil || name == project.name else {
                    throw IAMError.projectNotFound
                }
            } else if scope.has("domain") {
                throw IAMError.domainScopeRefused
            }
        }
        let issued = try self.tokens.issue(userID: account.id, projectID: project.id, now: self.clock())
        var headers = HTTPFields()
        headers[HTTPField.Name("X-Subject-Token")!] = issued.token
        let includeCatalog = (request.query["nocatalog"] ?? "").isEmpty
        return try JSONCoding.response(
            try await self.tokenBody(claims: issued.claims, user: account, project: project, catalog: includeCatalog, baseURL: request.baseURL),
            status: .created, headers: headers)
    }

    /// `GET /v3/auth/tokens`: the caller's `X-Auth-Token` must be valid; `X-Subject-Token` is the token checked.
    @Sendable func validateToken(_ request: APIRequest) async throws -> Response {
        guard let callerToken = request.headers[HTTPField.Name("X-Auth-Token")!] else { throw GatewayError.missingCredentials }
        _ = try await self.authenticator.principal(forToken: callerToken, now: self.clock())
        guard let subject = request.headers[HTTPField.Name("X-Subject-Token")!] else { throw IAMError.invalidParameter("X-Subject-Token") }
        guard let principal = try? await self.authenticator.principal(forToken: subject, now: self.clock()),
            let claims = self.tokens.verify(subject)
        else { throw IAMError.tokenInvalid }
        var headers = HTTPFields()
        headers[HTTPField.Name("X-Subject-Token")!] = subject
        let includeCatalog = (request.query["nocatalog"] ?? "").isEmpty
        return try JSONCoding.response(
            try await self.tokenBody(
                claims: claims, user: principal.user, project: principal.project, catalog: includeCatalog, baseURL: request.baseURL),
            headers: headers)
    }

    /// `GET /v3/projects?name=`: the caller's own project when it matches; a caller never sees other projects.
    @Sendable func listProjects(_ request: APIRequest) async throws -> Response {
        let caller = try request.caller
        let name = request.query["name"]
        let visible = (name == nil || name == caller.project.name) ? [caller.project] : []
        let self_ = request.baseURL + "/v3/projects"
        return try JSONCoding.response(
            ProjectList(
                projects: visible.map {
                    ProjectList.Item(
                        id: $0.id, name: $0.name, domainID: $0.domainID, parentID: $0.domainID, description: "",
                        links: ["self": request.baseURL + "/v3/projects/" + $0.id])
                }, links: ["self": self_, "previous": nil, "next": nil]))
    }

    private struct ProjectList: Encodable {
        struct Item: Encodable {
            var id: String
            var name: String
            var domainID: String
            var isDomain = false
            var parentID: String
            var description: String
            var enabled = true
            var links: [String: String]
            enum CodingKeys: String, CodingKey {
                case id, name, description, enabled, links
                case domainID = "domain_id"
                case isDomain = "is_domain"
                case parentID = "parent_id"
            }
        }
        var projects: [Item]
        var links: [String: String?]
    }

    private func tokenBody(claims: TokenService.Claims, user: User, project: Project, catalog: Bool, baseURL: String) async throws
        -> TokenDTO
    {
        let domain = TokenDTO.Named(id: user.domainID, name: try await self.service.domain(id: user.domainID)?.name ?? "")
        return TokenDTO(
            token: .init(
                expiresAt: WireTime.iam(claims.expiresAt), issuedAt: WireTime.iam(claims.issuedAt),
                project: .init(id: project.id, name: project.name, domain: domain),
                user: .init(id: user.id, name: user.name, domain: domain),
                catalog: catalog
                    ? [("iam", "iam"), ("dcs", "dcsv2"), ("ddm", "ddm")].map { name, type in
                        TokenDTO.Service(
                            id: name, name: name, type: type,
                            endpoints: [.init(id: name + "-" + project.name, region: project.name, regionID: project.name, url: baseURL)])
                    } : nil))
    }
}
