import CofferCore
import CofferIAM
import CofferOperations
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore

/// The web console at `/console`: server-rendered pages over the same operations the API controllers call.
///
/// Its routes are `.open` to the responder, because the console authenticates by its own cookie (not
/// `X-Auth-Token` or a signature) and answers HTML, not a service's error body; every handler goes through
/// `page`, `action` or `state`, which find the session first. The console is not part of the Huawei API
/// contract, so its routes are not in `docs/openapi.yaml` (the spec test leaves `/console` out).
struct ConsoleController: Sendable {
    let identities: IdentityService
    let tokens: TokenService
    let authenticator: Authenticator
    let session: ConsoleSession
    let operations: Operations
    let links: DownloadLinks
    let clock: @Sendable () -> Date

    /// Loaded at the first console request, not at start: a binary copied without its resource bundle still
    /// serves the API (`Bundle.module` stops the process when the bundle is missing).
    var templates: ConsoleTemplates { ConsoleTemplates.shared }

    /// How many rows a table shows (the newest).
    static let pageSize = 100
    /// How long a download link from the console is valid.
    static let linkLifetime: Int64 = 300

    var routes: [Route] {
        [
            Route(.get, "/console", access: .open, handler: { _ in Self.redirect("/console/instances") }),
            Route(.get, "/console/assets/{file}", access: .open, handler: self.asset),
            Route(.get, "/console/login", access: .open, handler: self.loginPage),
            Route(.post, "/console/login", access: .open, handler: self.login),
            Route(.post, "/console/logout", access: .open, handler: self.action(self.logout)),
            Route(.get, "/console/instances", access: .open, handler: self.page(self.instances)),
            Route(.get, "/console/instances/state", access: .open, handler: self.state(self.instancesState)),
            Route(.get, "/console/dcs/{instance_id}", access: .open, handler: self.page(self.dcsInstance)),
            Route(.get, "/console/dcs/{instance_id}/state", access: .open, handler: self.state(self.dcsState)),
            Route(.post, "/console/dcs/{instance_id}/backups", access: .open, handler: self.action(self.createBackup)),
            Route(.post, "/console/dcs/{instance_id}/backups/{backup_id}/restore", access: .open, handler: self.action(self.restore)),
            Route(.post, "/console/dcs/{instance_id}/backups/{backup_id}/download", access: .open, handler: self.action(self.download)),
            Route(.get, "/console/ddm/jobs", access: .open, handler: self.page(self.ddmJobs)),
        ]
    }

    /// A signed-in caller: the principal, its token and the session's CSRF token.
    struct Session {
        var principal: Principal
        var token: String
        var csrf: String
    }

    // MARK: - Login and logout

    @Sendable func loginPage(_ request: APIRequest) async throws -> Response {
        if await self.currentSession(request) != nil { return Self.redirect("/console/instances") }
        return try self.html("login", ["title": "Sign in", "domain": "", "user": ""])
    }

    /// Checks the account as `POST /v3/auth/tokens` does and starts a session. Any refusal reads the same
    /// (no telling a wrong user from a wrong password); a locked user is told to wait.
    @Sendable func login(_ request: APIRequest) async throws -> Response {
        guard Self.isSameOrigin(request) else { return try self.forbidden() }
        let form = ConsoleForm(body: request.body)
        let domain = (form["domain"] ?? "").trimmingCharacters(in: .whitespaces)
        let user = (form["user"] ?? "").trimmingCharacters(in: .whitespaces)
        let password = form["password"] ?? ""
        do {
            let account = try await self.identities.login(domainName: domain, userName: user, password: password, now: self.clock())
            let issued = try self.tokens.issue(userID: account.id, projectID: account.projectID, now: self.clock())
            request.logger.info("Console sign-in", metadata: ["user.id": "\(account.id)"])
            var response = Self.redirect("/console/instances")
            response.headers[.setCookie] = ConsoleSession.setCookie(token: issued.token, secure: request.baseURL.hasPrefix("https:"))
            return response
        } catch let error as CofferError where error.status < 500 {
            let message =
                error == IAMError.userLocked
                ? "Too many failed attempts: this user is locked for a while. Try again later."
                : "The account name, user name or password is incorrect."
            return try self.html("login", ["title": "Sign in", "error": message, "domain": domain, "user": user], status: .unauthorized)
        }
    }

    @Sendable func logout(_ request: APIRequest, _ session: Session) async throws -> Response {
        let expiresAt = self.tokens.verify(session.token)?.expiresAt ?? self.clock().addingTimeInterval(TokenService.lifetime)
        self.session.revoke(session.token, expiresAt: expiresAt, now: self.clock())
        var response = Self.redirect("/console/login")
        response.headers[.setCookie] = ConsoleSession.clearCookie(secure: request.baseURL.hasPrefix("https:"))
        return response
    }

    // MARK: - Pages

    /// DCS and DDM instances of the caller's project, with what runs on each.
    @Sendable func instances(_ request: APIRequest, _ session: Session) async throws -> Response {
        let tables = try await self.instanceTables(projectID: session.principal.project.id)
        return try self.html(
            "instances",
            self.context(
                session, title: "Instances", nav: "instances",
                ["dcs": tables.dcs, "dcs_total": tables.dcsTotal, "ddm": tables.ddm, "ddm_total": tables.ddmTotal, "running": tables.busy]))
    }

    private func instanceTables(projectID: String) async throws
        -> (dcs: [[String: Any]], dcsTotal: Int, ddm: [[String: Any]], ddmTotal: Int, busy: Bool)
    {
        let dcs = try await self.operations.dcsInstances.list(projectID: projectID, filter: DCSInstanceFilter(offset: 0, limit: Self.pageSize))
        let ddm = try await self.operations.ddmInstances.list(projectID: projectID, offset: 0, limit: Self.pageSize)
        let busy = dcs.items.contains { $0.activity != nil } || ddm.items.contains { $0.1 != nil }
        return (dcs.items.map(ConsoleViews.dcsInstance), dcs.total, ddm.items.map { ConsoleViews.ddmInstance($0.0, activity: $0.1) }, ddm.total, busy)
    }

    /// One DCS instance: its live facts, its backups and its restore records.
    @Sendable func dcsInstance(_ request: APIRequest, _ session: Session) async throws -> Response {
        let projectID = session.principal.project.id
        let view = try await self.operations.dcsInstances.show(projectID: projectID, id: request.path("instance_id"))
        let tables = try await self.dcsTables(projectID: projectID, instanceID: view.instance.id)
        var instance = ConsoleViews.dcsInstance(view)
        instance["reachable"] = view.facts != nil
        instance["engine_version"] = view.facts?.engineVersion ?? view.instance.requestedEngineVersion ?? "—"
        return try self.html(
            "dcs-instance",
            self.context(
                session, title: view.instance.name, nav: "instances",
                ["instance": instance, "backups": tables.backups, "restores": tables.restores, "running": tables.running]))
    }

    /// DDM jobs of the caller's project, newest first.
    @Sendable func ddmJobs(_ request: APIRequest, _ session: Session) async throws -> Response {
        let page = try await self.operations.ddmJobs.list(
            projectID: session.principal.project.id, from: nil, to: nil, offset: 0, limit: Self.pageSize)
        return try self.html(
            "ddm-jobs", self.context(session, title: "DDM jobs", nav: "jobs", ["jobs": page.items.map(ConsoleViews.ddmJob), "total": page.total]))
    }

    // MARK: - Live state (polled by console.js)

    /// `GET /console/dcs/{id}/state`: the backups and restores (each row's status and progress, and the tables'
    /// bodies rendered by the same partials as the page, by element id), and whether anything still runs.
    @Sendable func dcsState(_ request: APIRequest, _ session: Session) async throws -> Response {
        let tables = try await self.dcsTables(projectID: session.principal.project.id, instanceID: request.path("instance_id"))
        let context: [String: Any] = ["backups": tables.backups, "restores": tables.restores, "csrf": session.csrf]
        let running = { (rows: [[String: Any]]) in rows.contains { $0["running"] as? Bool == true } }
        return try Self.json([
            "running": tables.running,
            // The instance's task while one of its backups or restores runs (the DCS word), else null.
            "task": running(tables.backups) ? DCSInstanceDTO.taskName(.backup) as Any
                : running(tables.restores) ? DCSInstanceDTO.taskName(.restore) as Any : NSNull() as Any,
            "backups": tables.backups.map { ["backup_id": $0["backup_id"] ?? "", "status": $0["status"] ?? "", "progress": $0["progress"] ?? ""] },
            "restores": tables.restores.map { ["restore_id": $0["restore_id"] ?? "", "status": $0["status"] ?? "", "progress": $0["progress"] ?? ""] },
            "html": [
                "backup-rows": self.templates.render("backup-rows", context) ?? "",
                "restore-rows": self.templates.render("restore-rows", context) ?? "",
            ],
        ])
    }

    /// `GET /console/instances/state`: the instance tables' bodies again, so the states on the list stay live.
    @Sendable func instancesState(_ request: APIRequest, _ session: Session) async throws -> Response {
        let tables = try await self.instanceTables(projectID: session.principal.project.id)
        return try Self.json([
            "running": tables.busy,
            "html": [
                "dcs-rows": self.templates.render("dcs-rows", ["dcs": tables.dcs]) ?? "",
                "ddm-rows": self.templates.render("ddm-rows", ["ddm": tables.ddm]) ?? "",
            ],
        ])
    }

    private static func json(_ body: [String: Any]) throws -> Response {
        let data = try JSONSerialization.data(withJSONObject: body, options: [.sortedKeys])
        var headers = HTTPFields()
        headers[.contentType] = "application/json; charset=utf-8"
        headers[.cacheControl] = "no-store"
        return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
    }

    private func dcsTables(projectID: String, instanceID: String) async throws
        -> (backups: [[String: Any]], restores: [[String: Any]], running: Bool)
    {
        let backups = try await self.operations.dcsBackups.list(
            projectID: projectID, instanceID: instanceID, begin: nil, end: nil, offset: 0, limit: Self.pageSize)
        let restores = try await self.operations.dcsRestores.list(
            projectID: projectID, instanceID: instanceID, begin: nil, end: nil, offset: 0, limit: Self.pageSize)
        let backupRows = backups.items.filter { $0.status != .deleted }.map(ConsoleViews.backup)
        let restoreRows = restores.items.map(ConsoleViews.restore)
        let running = (backupRows + restoreRows).contains { $0["running"] as? Bool == true }
        return (backupRows, restoreRows, running)
    }

    // MARK: - Actions (POST, CSRF-checked)

    @Sendable func createBackup(_ request: APIRequest, _ session: Session) async throws -> Response {
        let form = ConsoleForm(body: request.body)
        let remark = form["remark"].flatMap { $0.isEmpty ? nil : $0 }
        if let remark, remark.count > 128 { throw DCSError.remarkTooLong }
        let instanceID = request.path("instance_id")
        _ = try await self.operations.dcsBackups.create(
            projectID: session.principal.project.id, instanceID: instanceID, remark: remark, logger: request.logger)
        return Self.redirect("/console/dcs/" + instanceID)
    }

    @Sendable func restore(_ request: APIRequest, _ session: Session) async throws -> Response {
        let instanceID = request.path("instance_id")
        _ = try await self.operations.dcsRestores.create(
            projectID: session.principal.project.id, instanceID: instanceID, backupID: request.path("backup_id"),
            remark: "restored from the console", logger: request.logger)
        return Self.redirect("/console/dcs/" + instanceID + "#restores")
    }

    /// A short-lived download link (the links operation of `POST …/backups/{id}/links`), then a redirect to it.
    @Sendable func download(_ request: APIRequest, _ session: Session) async throws -> Response {
        let (record, instance) = try await self.operations.dcsBackups.downloadable(
            projectID: session.principal.project.id, instanceID: request.path("instance_id"), backupID: request.path("backup_id"))
        let expires = Int64(self.clock().timeIntervalSince1970) + Self.linkLifetime
        let fileName =
            record.blobKey == nil
            ? ((record.shards ?? []).first?.fileName(createdAt: record.createdAt) ?? "") : DownloadLinks.fileName(record: record, instance: instance)
        return Self.redirect(self.links.url(baseURL: request.baseURL, record: record, fileName: fileName, expires: expires))
    }

    // MARK: - Static files

    @Sendable func asset(_ request: APIRequest) async throws -> Response {
        guard let asset = self.templates.asset(request.path("file")) else { return try self.notFound() }
        var headers = HTTPFields()
        headers[.contentType] = asset.contentType
        headers[.cacheControl] = "no-cache"
        headers[HTTPField.Name("X-Content-Type-Options")!] = "nosniff"
        return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: asset.bytes))
    }

    // MARK: - Sessions and the three kinds of handler

    /// The session of the request's cookie: an authentic, unexpired, not logged-out token whose user and
    /// project still exist (the API's token check).
    private func currentSession(_ request: APIRequest) async -> Session? {
        guard let token = ConsoleSession.token(cookieHeader: request.headers[.cookie]), !self.session.isRevoked(token),
            let principal = try? await self.authenticator.principal(forToken: token, now: self.clock())
        else { return nil }
        return Session(principal: principal, token: token, csrf: self.session.csrfToken(for: token))
    }

    /// A page: signed out → the login page; a refusal (404 for another project's ids) → an error page.
    private func page(_ body: @escaping @Sendable (APIRequest, Session) async throws -> Response) -> Route.Handler {
        { request in
            guard let session = await self.currentSession(request) else { return Self.redirect("/console/login") }
            return try await self.answering(request, session) { try await body(request, session) }
        }
    }

    /// A state-changing POST: same origin, signed in, and the session's CSRF token in the form or `X-CSRF-Token`.
    private func action(_ body: @escaping @Sendable (APIRequest, Session) async throws -> Response) -> Route.Handler {
        { request in
            guard let session = await self.currentSession(request) else { return Self.redirect("/console/login") }
            let candidate = request.headers[HTTPField.Name("X-CSRF-Token")!] ?? ConsoleForm(body: request.body)[ConsoleSession.csrfField]
            guard Self.isSameOrigin(request), self.session.isValidCSRF(candidate, for: session.token) else {
                request.logger.notice("Console request refused: CSRF token or origin")
                return try self.forbidden()
            }
            return try await self.answering(request, session) { try await body(request, session) }
        }
    }

    /// A JSON read for console.js: signed out → 401; errors → their status with `{error_code, error_msg}`.
    private func state(_ body: @escaping @Sendable (APIRequest, Session) async throws -> Response) -> Route.Handler {
        { request in
            guard let session = await self.currentSession(request) else {
                return try JSONCoding.response(["error_code": "CONSOLE.401", "error_msg": "Sign in again."], status: .unauthorized)
            }
            do {
                return try await body(request, session)
            } catch let error as CofferError {
                return try JSONCoding.response(["error_code": error.code, "error_msg": error.message], status: .init(code: error.status))
            }
        }
    }

    /// Runs a signed-in handler; a service error becomes a page with its status and message.
    private func answering(_ request: APIRequest, _ session: Session, _ body: () async throws -> Response) async throws -> Response {
        do {
            return try await body()
        } catch let error as CofferError where error.status < 500 {
            return try self.html(
                "error",
                self.context(
                    session, title: error.status == 404 ? "Not found" : "Refused", nav: "",
                    ["status": error.status, "code": error.code, "message": error.message]),
                status: .init(code: error.status))
        } catch {
            // No detail on the page; the log has it, under the request id.
            request.logger.error("Console request failed", metadata: ["error": "\(String(reflecting: error))"])
            return try self.html(
                "error",
                self.context(
                    session, title: "Something went wrong", nav: "",
                    ["status": 500, "code": "CONSOLE.500", "message": "The server could not answer this page. Try again in a moment."]),
                status: .internalServerError)
        }
    }

    /// Whether a POST comes from a console page: its `Origin`, when the browser sends one, is this server.
    static func isSameOrigin(_ request: APIRequest) -> Bool {
        guard let origin = request.headers[HTTPField.Name("Origin")!] else { return true }
        return origin == request.baseURL
    }

    // MARK: - Rendering

    private func context(_ session: Session, title: String, nav: String, _ values: [String: Any]) -> [String: Any] {
        var context = values
        context["title"] = title
        context["signed_in"] = true
        context["user_name"] = session.principal.user.name
        context["project_name"] = session.principal.project.name
        context["csrf"] = session.csrf
        context["nav_" + nav] = true
        return context
    }

    /// An HTML page with the console's security headers: scripts, styles and forms from this server only.
    private func html(_ template: String, _ context: [String: Any], status: HTTPResponse.Status = .ok) throws -> Response {
        guard let text = self.templates.render(template, context) else { throw APIFamily.operations.internalError }
        var headers = HTTPFields()
        headers[.contentType] = "text/html; charset=utf-8"
        headers[.cacheControl] = "no-store"
        headers[HTTPField.Name("Content-Security-Policy")!] =
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
        headers[HTTPField.Name("X-Content-Type-Options")!] = "nosniff"
        headers[HTTPField.Name("Referrer-Policy")!] = "same-origin"
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
    }

    private func forbidden() throws -> Response {
        try self.html("error", ["title": "Refused", "status": 403, "code": "CONSOLE.403", "message": "This request was refused. Reload the page and try again."], status: .forbidden)
    }

    private func notFound() throws -> Response {
        try self.html("error", ["title": "Not found", "status": 404, "code": "CONSOLE.404", "message": "Nothing here."], status: .notFound)
    }

    /// 303 See Other: after a POST the browser GETs the page.
    static func redirect(_ location: String) -> Response {
        var headers = HTTPFields()
        headers[.location] = location
        headers[.cacheControl] = "no-store"
        return Response(status: .seeOther, headers: headers)
    }
}
