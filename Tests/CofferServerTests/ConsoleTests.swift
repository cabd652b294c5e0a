import CofferCore
import CofferServer
import CofferStorage
import Foundation
import HTTPTypes
import NIOCore
import Testing

/// The web console's server side (the browser flows are in tests/sdk/test_console.py): the session cookie, CSRF,
/// logout, escaping, and that every page and asset is served.
@Suite("Web console", .timeLimit(.minutes(1)))
struct ConsoleTests {
    static let form: HTTPFields = [.contentType: "application/x-www-form-urlencoded"]

    /// Signs in as the admin; returns the cookie header value and the page's CSRF token.
    static func signIn(_ server: TestServer) async throws -> (cookie: String, csrf: String) {
        let login = try await server.raw(.post, "/console/login", headers: Self.form, body: "domain=coffer&user=admin&password=" + TestServer.password)
        #expect(login.status == .seeOther)
        #expect(login.headers[.location] == "/console/instances")
        let setCookie = try #require(login.headers[.setCookie])
        let cookie = try #require(setCookie.split(separator: ";").first.map(String.init))
        let page = try await server.raw(.get, "/console/instances", headers: [.cookie: cookie])
        #expect(page.status == .ok)
        let html = String(buffer: page.body)
        let csrf = try #require(Self.meta(html))
        return (cookie, csrf)
    }

    static func meta(_ html: String) -> String? {
        guard let start = html.range(of: "<meta name=\"csrf-token\" content=\"") else { return nil }
        let rest = html[start.upperBound...]
        return rest.firstIndex(of: "\"").map { String(rest[..<$0]) }
    }

    @Test("Sign-in sets an HttpOnly, SameSite=Strict cookie on /console (Secure only behind TLS); pages carry a strict CSP")
    func cookie() async throws {
        try await TestServer.run { server in
            let login = try await server.raw(.post, "/console/login", headers: Self.form, body: "domain=coffer&user=admin&password=" + TestServer.password)
            let setCookie = try #require(login.headers[.setCookie])
            #expect(setCookie.hasPrefix("coffer_console=MII"))
            for attribute in ["Path=/console", "HttpOnly", "SameSite=Strict", "Max-Age=86400"] { #expect(setCookie.contains(attribute), "\(setCookie)") }
            #expect(!setCookie.contains("Secure"))
            var proxied = Self.form
            proxied[HTTPField.Name("X-Forwarded-Proto")!] = "https"
            let behindTLS = try await server.raw(.post, "/console/login", headers: proxied, body: "domain=coffer&user=admin&password=" + TestServer.password)
            #expect(behindTLS.headers[.setCookie]?.hasSuffix("; Secure") == true)

            let (cookie, _) = try await Self.signIn(server)
            let page = try await server.raw(.get, "/console/instances", headers: [.cookie: cookie])
            #expect(page.headers[.contentType] == "text/html; charset=utf-8")
            #expect(page.headers[HTTPField.Name("Content-Security-Policy")!]?.contains("script-src 'self'") == true)
            #expect(page.headers[.cacheControl] == "no-store")
            // Signed out, pages send the browser to the login page and the state endpoint answers 401.
            let anonymous = try await server.raw(.get, "/console/instances")
            #expect(anonymous.status == .seeOther && anonymous.headers[.location] == "/console/login")
        }
    }

    @Test("A wrong password or an unknown user reads the same, answers 401 and sets no cookie")
    func wrongPassword() async throws {
        try await TestServer.run { server in
            for body in ["domain=coffer&user=admin&password=wrong", "domain=coffer&user=nobody&password=wrong", "domain=nowhere&user=admin&password=x"] {
                let reply = try await server.raw(.post, "/console/login", headers: Self.form, body: body)
                #expect(reply.status == .unauthorized)
                #expect(reply.headers[.setCookie] == nil)
                #expect(String(buffer: reply.body).contains("The account name, user name or password is incorrect."))
            }
        }
    }

    @Test("What a user typed is escaped inside attributes too (quotes included), not only in text")
    func escaping() async throws {
        try await TestServer.run { server in
            let reply = try await server.raw(
                .post, "/console/login", headers: Self.form, body: "domain=coffer&user=x%22+autofocus+onfocus%3D%22alert(1)%22%3E%3Cscript%3E&password=wrong")
            let html = String(buffer: reply.body)
            #expect(html.contains("value=\"x&quot; autofocus onfocus=&quot;alert(1)&quot;&gt;&lt;script&gt;\""), "\(html)")
            #expect(!html.contains("<script>"))
        }
    }

    @Test("A POST needs the session's CSRF token and a same-origin Origin; logout revokes the token for the console")
    func csrfAndLogout() async throws {
        try await TestServer.run { server in
            let (cookie, csrf) = try await Self.signIn(server)
            var headers = Self.form
            headers[.cookie] = cookie
            for body in ["", "csrf_token=forged", "csrf_token=" + csrf.dropLast() + (csrf.hasSuffix("A") ? "B" : "A")] {
                #expect(try await server.raw(.post, "/console/logout", headers: headers, body: body).status == .forbidden, "\(body)")
            }
            var crossSite = headers
            crossSite[HTTPField.Name("Origin")!] = "http://evil.example"
            #expect(try await server.raw(.post, "/console/logout", headers: crossSite, body: "csrf_token=" + csrf).status == .forbidden)
            // Still signed in: nothing above ended the session.
            #expect(try await server.raw(.get, "/console/instances", headers: [.cookie: cookie]).status == .ok)

            // The token from the header works as well as the form field (for scripts).
            var withHeader = headers
            withHeader[HTTPField.Name("X-CSRF-Token")!] = csrf
            let logout = try await server.raw(.post, "/console/logout", headers: withHeader, body: "")
            #expect(logout.status == .seeOther && logout.headers[.location] == "/console/login")
            #expect(logout.headers[.setCookie]?.hasPrefix("coffer_console=; Path=/console; Max-Age=0") == true)
            let after = try await server.raw(.get, "/console/instances", headers: [.cookie: cookie])
            #expect(after.status == .seeOther && after.headers[.location] == "/console/login")
            let unknown = UUID().uuidString.lowercased()
            #expect(try await server.raw(.get, "/console/dcs/\(unknown)/state", headers: [.cookie: cookie]).status == .unauthorized)
        }
    }

    @Test("Every page and asset is served; an unknown instance is a 404 page, as in the API")
    func pages() async throws {
        try await TestServer.run { server in
            let (cookie, _) = try await Self.signIn(server)
            for (path, marker) in [("/console/instances", "DCS · Redis"), ("/console/ddm/jobs", "No DDM jobs yet."), ("/console/login", "Sign in")] {
                let reply = try await server.raw(.get, path, headers: [.cookie: cookie])
                let expected: HTTPResponse.Status = path == "/console/login" ? .seeOther : .ok
                #expect(reply.status == expected, "\(path)")
                if expected == .ok { #expect(String(buffer: reply.body).contains(marker), "\(path)") }
            }
            #expect(try await server.raw(.get, "/console/login").status == .ok)
            #expect(try await server.raw(.get, "/console", headers: [.cookie: cookie]).headers[.location] == "/console/instances")
            let missing = try await server.raw(.get, "/console/dcs/\(UUID().uuidString.lowercased())", headers: [.cookie: cookie])
            #expect(missing.status == .notFound)
            #expect(String(buffer: missing.body).contains("This DCS instance does not exist."))
            let state = try await server.raw(.get, "/console/dcs/not-an-id/state", headers: [.cookie: cookie])
            #expect(state.status == .notFound && state.errorCode == "DCS.3022")
            for (asset, type) in [("console.css", "text/css; charset=utf-8"), ("console.js", "text/javascript; charset=utf-8")] {
                let reply = try await server.raw(.get, "/console/assets/" + asset)
                #expect(reply.status == .ok && reply.headers[.contentType] == type && reply.body.readableBytes > 1000, "\(asset)")
            }
            #expect(try await server.raw(.get, "/console/assets/header.mustache").status == .notFound)
        }
    }

    @Test("DDM jobs of the project are listed with DDM's names and statuses; another project's are not")
    func ddmJobs() async throws {
        try await TestServer.run { server in
            let ours = Job.new(kind: JobKind.ddmBackup.rawValue, projectID: server.projectID, resourceID: UUID().uuidString.lowercased(), now: Date())
            let theirs = Job.new(kind: JobKind.ddmBackup.rawValue, projectID: String(repeating: "f", count: 32), resourceID: "x", now: Date())
            try await server.parts.store.jobs.enqueue(ours)
            try await server.parts.store.jobs.enqueue(theirs)
            let (cookie, _) = try await Self.signIn(server)
            let html = String(buffer: try await server.raw(.get, "/console/ddm/jobs", headers: [.cookie: cookie]).body)
            #expect(html.contains("data-id=\"\(ours.id)\""))
            #expect(html.contains("createConsistentBackup"))
            #expect(html.contains("<span class=\"badge busy\">Running</span>"), "\(html)")
            #expect(!html.contains(theirs.id))
            #expect(!html.contains("<div class=\"sub err\"></div>"), "an empty failure reason is not shown")
        }
    }

    @Test("The instances state endpoint answers both tables' rows for console.js")
    func instancesState() async throws {
        try await TestServer.run { server in
            let (cookie, _) = try await Self.signIn(server)
            let reply = try await server.raw(.get, "/console/instances/state", headers: [.cookie: cookie])
            #expect(reply.status == .ok)
            let html = try #require(reply.json["html"] as? [String: String])
            #expect(html["dcs-rows"]?.contains("No DCS instances in this project.") == true)
            #expect(html["ddm-rows"]?.contains("No DDM instances in this project.") == true)
            #expect(reply.json["running"] as? Bool == false)
        }
    }
}
