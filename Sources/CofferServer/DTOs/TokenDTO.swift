/// The body of `POST/GET /v3/auth/tokens` (reference 4): a project-scoped token with IAM times and, unless
/// `nocatalog` is given, a catalog that points every service at Coffer itself.
struct TokenDTO: Encodable {
    struct Named: Encodable {
        var id: String
        var name: String
    }

    struct Project: Encodable {
        var id: String
        var name: String
        var domain: Named
    }

    struct User: Encodable {
        var id: String
        var name: String
        var passwordExpiresAt = ""
        var domain: Named

        enum CodingKeys: String, CodingKey {
            case id, name, domain
            case passwordExpiresAt = "password_expires_at"
        }
    }

    struct Endpoint: Encodable {
        var id: String
        var interface = "public"
        var region: String
        var regionID: String
        var url: String

        enum CodingKeys: String, CodingKey {
            case id, interface, region, url
            case regionID = "region_id"
        }
    }

    struct Service: Encodable {
        var id: String
        var name: String
        var type: String
        var endpoints: [Endpoint]
    }

    struct Token: Encodable {
        var expiresAt: String
        var issuedAt: String
        var methods = ["password"]
        var project: Project
        var roles = [Named(id: "0", name: "te_admin")]
        var user: User
        /// Left out (not null) with `nocatalog`.
        var catalog: [Service]?

        enum CodingKeys: String, CodingKey {
            case methods, project, roles, user, catalog
            case expiresAt = "expires_at"
            case issuedAt = "issued_at"
        }
    }

    var token: Token
}
