import CofferCore
import Hummingbird

/// One API operation: method, Huawei-style path template (`/v2/{project_id}/instances/{instance_id}`),
/// whether it needs authentication, and its handler.
///
/// The route table is the single list of what the server serves; a test compares it with
/// `docs/openapi.yaml`, so the contract and the code cannot drift apart.
package struct Route: Sendable {
    package enum Access: Sendable {
        /// No credentials (health, metrics, the spec, IAM login).
        case open
        /// X-Auth-Token or AK/SK; the caller's project must be the path's `{project_id}` when the path has one.
        case authenticated
    }

    package typealias Handler = @Sendable (APIRequest) async throws -> Response

    package var method: HTTPRequest.Method
    package var template: String
    package var access: Access
    package var handler: Handler
    /// The template split in segments; `{name}` segments capture.
    let segments: [Segment]

    enum Segment: Sendable, Equatable {
        case literal(String)
        case parameter(String)
    }

    package init(_ method: HTTPRequest.Method, _ template: String, access: Access = .authenticated, handler: @escaping Handler) {
        self.method = method
        self.template = template
        self.access = access
        self.handler = handler
        self.segments = template.split(separator: "/").map { part in
            part.hasPrefix("{") && part.hasSuffix("}") ? .parameter(String(part.dropFirst().dropLast())) : .literal(String(part))
        }
    }

    /// The path parameters when `pathSegments` (already percent-decoded) match this template.
    func match(_ pathSegments: [String]) -> [String: String]? {
        guard pathSegments.count == self.segments.count else { return nil }
        var parameters: [String: String] = [:]
        for (segment, value) in zip(self.segments, pathSegments) {
            switch segment {
            case .literal(let literal): guard literal == value else { return nil }
            case .parameter(let name):
                guard !value.isEmpty else { return nil }
                parameters[name] = value
            }
        }
        return parameters
    }
}

/// Route lookup, with the 404/405 distinction.
package struct RouteTable: Sendable {
    package let routes: [Route]

    package init(_ routes: [Route]) {
        self.routes = routes
    }

    package enum Lookup {
        case found(Route, [String: String])
        case methodNotAllowed
        case notFound
    }

    /// Literal segments win over parameters when two templates match (`/v3/auth/tokens` vs `/v3/{project_id}/…`).
    /// - Parameter segments: the path split on `/`, each segment percent-decoded (so `%2F` stays inside an id).
    package func lookup(method: HTTPRequest.Method, segments: [String]) -> Lookup {
        let candidates = self.routes.compactMap { route in route.match(segments).map { (route, $0) } }
        guard !candidates.isEmpty else { return .notFound }
        let forMethod = candidates.filter { $0.0.method == method || (method == .head && $0.0.method == .get) }
        guard
            let best = forMethod.max(by: {
                $0.0.segments.filter { if case .literal = $0 { true } else { false } }.count
                    < $1.0.segments.filter { if case .literal = $0 { true } else { false } }.count
            })
        else { return .methodNotAllowed }
        return .found(best.0, best.1)
    }
}
