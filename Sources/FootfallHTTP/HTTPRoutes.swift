import FootfallCluster
import FootfallCrypto
import FootfallIngest
import FootfallModel
import FootfallNode
import FootfallProtocols
import FootfallRuntime
import FootfallStorage
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import NIOCore

/// The node's HTTP interface: tracker, collect endpoint and pixel, opt-out page, the authenticated
/// JSON API (described in `/openapi.json`), `/metrics` and `/health`.
public enum HTTPRoutes {
    /// - Parameter clusterOverview: the operator's view of the cluster (`GET /api/cluster`); nil
    ///   where the node runs without its cluster service (tests).
    public static func router(for node: Node, clusterOverview: (@Sendable () async -> ClusterOverview)? = nil) -> Router<FootfallRequestContext> {
        let router = Router(context: FootfallRequestContext.self)
        router.add(middleware: SecurityHeadersMiddleware(servesHTTPS: node.configuration.tlsCertificate != nil))
        addIngest(router, node)
        addSessionRoutes(router, node)
        addSiteRoutes(router, node)
        addTokenRoutes(router, node)
        addReportRoutes(router, node)
        addVisitorRoutes(router, node)
        addErasureRoutes(router, node)
        addOperations(router, node, clusterOverview: clusterOverview)
        addDashboard(router)
        return router
    }

    /// The bench's ingest baseline (`footfall-bench discard`): this HTTP stack answering
    /// `POST /api/event` by reading and decoding the batch exactly as a node does, then dropping
    /// it. What HTTP ingest would reach if the privacy pipeline and storage cost nothing.
    public static func discardingRouter(limits: IngestPipeline.Limits = .init()) -> Router<FootfallRequestContext> {
        let router = Router(context: FootfallRequestContext.self)
        router.add(middleware: SecurityHeadersMiddleware(servesHTTPS: false))
        router.post("/api/event") { request, context -> Response in
            let hits = try decodeHits(try await collectBody(request, context, limit: limits.bodyBytesMax), limit: limits.hitsPerBatchMax)
            var result = Node.IngestResult()
            result.accepted = hits.count
            return try json(result, status: .accepted)
        }
        return router
    }

    // MARK: Ingest

    static func addIngest(_ router: Router<FootfallRequestContext>, _ node: Node) {
        router.get("/t.js") { request, _ -> Response in
            // An opted-out browser gets a tracker that does nothing.
            guard let tracker = Static.tracker else {
                throw FootfallError.unavailable("the tracker resource is missing; install footfall_FootfallNode.resources beside the binary")
            }
            let body = isOptedOut(request) ? "/* footfall: this browser opted out */\n" : tracker
            return Response(status: .ok, headers: [.contentType: "application/javascript; charset=utf-8", .cacheControl: "no-cache"],
                            body: .init(byteBuffer: ByteBuffer(string: body)))
        }

        router.post("/api/event") { request, context -> Response in
            let body = try await collectBody(request, context, limit: node.pipeline.limits.bodyBytesMax)
            let hits = try decodeHits(body, limit: node.pipeline.limits.hitsPerBatchMax)
            var response = try await ingest(hits, request, context, node, respond: { result in try json(result, status: .accepted) })
            allowCrossOrigin(request, &response)
            return response
        }
        // Preflight for clients that send application/json; the tracker sends text/plain and needs none.
        router.on("/api/event", method: .options) { request, _ -> Response in
            var response = Response(status: .noContent)
            allowCrossOrigin(request, &response)
            response.headers[HTTPField.Name("Access-Control-Allow-Methods")!] = "POST"
            response.headers[HTTPField.Name("Access-Control-Allow-Headers")!] = "Content-Type"
            response.headers[HTTPField.Name("Access-Control-Max-Age")!] = "86400"
            return response
        }

        router.get("/p.gif") { request, context -> Response in
            let hit = try pixelHit(request.uri.queryParameters)
            return try await ingest([hit], request, context, node, respond: { _ in
                Response(status: .ok, headers: [.contentType: "image/gif", .cacheControl: "no-store"],
                         body: .init(byteBuffer: ByteBuffer(bytes: Static.transparentGIF)))
            })
        }

        router.get("/optout") { request, _ -> Response in
            html(Static.optOutPage(optedOut: isOptedOut(request)))
        }
        router.post("/optout") { request, _ -> Response in
            // Only the visitor, on this page, may change their choice: another site must not be
            // able to submit the form for them.
            guard isSameOriginPost(request) else {
                throw FootfallError(.forbidden, "the opt-out choice can only be changed from the opt-out page itself")
            }
            let form = String(buffer: try await request.body.collect(upTo: 1024))
            let optIn = form.contains("action=optin")
            var response = html(Static.optOutPage(optedOut: !optIn))
            let secure = cookiesSecure(request, node)
            response.setCookie(Cookie(name: "footfall_optout", value: optIn ? "" : "1", maxAge: optIn ? 0 : 5 * 365 * 86_400,
                                      path: "/", secure: secure, httpOnly: true, sameSite: secure ? .none : .lax))
            return response
        }
    }

    /// Whether a form post came from this node's own page. Browsers say where a request came
    /// from in `Sec-Fetch-Site`; one too old to send it still sends `Origin` with a POST, which
    /// must then name this node. A post with neither cannot show where it came from: refused.
    static func isSameOriginPost(_ request: Request) -> Bool {
        if let site = request.headers[HTTPField.Name("Sec-Fetch-Site")!] { return site == "same-origin" || site == "none" }
        guard let origin = request.headers[HTTPField.Name("Origin")!], let authority = request.head.authority else { return false }
        return origin == "https://\(authority)" || origin == "http://\(authority)"
    }

    /// Lets the tracker on the site's own origin read the collect answer (so it does not retry a
    /// stored hit), with credentials so the opt-out cookie travels. The answer holds no data.
    static func allowCrossOrigin(_ request: Request, _ response: inout Response) {
        guard let origin = request.headers[HTTPField.Name("Origin")!] else { return }
        response.headers[HTTPField.Name("Access-Control-Allow-Origin")!] = origin
        response.headers[HTTPField.Name("Access-Control-Allow-Credentials")!] = "true"
        response.headers[HTTPField.Name("Vary")!] = "Origin"
    }

    /// This node's address as the request named it; https when the node or its proxy holds TLS.
    static func origin(_ request: Request, _ node: Node) -> String {
        // Only what a host and port are made of: the value goes into HTML the owner copies.
        let named = request.head.authority?.prefix(260).filter { $0.isASCII && ($0.isLetter || $0.isNumber || ".-:[]".contains($0)) }
        let host = named.flatMap { $0.isEmpty ? nil : String($0) } ?? "\(node.configuration.httpHost):\(node.configuration.httpPort)"
        return (cookiesSecure(request, node) ? "https://" : "http://") + host
    }

    /// Whether cookies go out with Secure (and so may be SameSite=None): under our own TLS, or
    /// behind a proxy that terminates it.
    static func cookiesSecure(_ request: Request, _ node: Node) -> Bool {
        request.uri.scheme == .https || node.configuration.tlsCertificate != nil || node.configuration.allowPlainHTTP
    }

    static func ingest(_ hits: [Hit], _ request: Request, _ context: FootfallRequestContext, _ node: Node,
                       respond: (Node.IngestResult) throws -> Response) async throws -> Response {
        let now = node.clock.nowMs
        // The global opt-out, Do-Not-Track and Global Privacy Control (promise 10): dropped before
        // anything is looked at, and answered like a success so the page learns nothing.
        if isOptedOut(request) || request.headers[HTTPField.Name("DNT")!] == "1" || request.headers[HTTPField.Name("Sec-GPC")!] == "1" {
            node.metrics.increment("footfall_ingest_rejects_total", by: Double(hits.count), labels: ["reason": "opted_out"])
            // The reply reads as a stored hit's: the collect answer is readable by any origin
            // (the tracker runs on every site), and must not tell one whether this browser opted out.
            return try respond(Node.IngestResult(accepted: hits.count))
        }
        let ip = clientIP(request, context, trusted: node.configuration.trustedProxies)
        if let ip, !node.rateLimiter.allow(ip.rateLimitClient, cost: Double(hits.count), nowMs: now) {
            node.metrics.increment("footfall_ingest_rejects_total", by: Double(hits.count), labels: ["reason": "rate_limited"])
            throw APIError(.tooManyRequests, "too many hits from this client; retry later with the same hit ids")
        }
        let userAgent = request.headers[.userAgent] ?? ""
        // `?consistency=one|quorum|all` overrides the node's default for this request.
        var consistency: Replication.Consistency?
        if let raw = request.uri.queryParameters["consistency"] {
            guard let level = Replication.Consistency(rawValue: String(raw)) else {
                throw FootfallError.invalid("consistency is one, quorum or all")
            }
            consistency = level
        }
        let result = try await node.ingest(hits, context: HitContext(ip: ip, userAgent: String(userAgent.prefix(512)), nowMs: now),
                                           consistency: consistency)
        return try respond(result)
    }

    /// The pageview a no-script pixel (`/p.gif?site=…&url=…&ref=…`) reports.
    static func pixelHit(_ query: FlatDictionary<Substring, Substring>) throws -> Hit {
        guard let site = query["site"].map(String.init), let url = query["url"].map(String.init) else {
            throw FootfallError.invalid("the pixel needs site and url query parameters")
        }
        return Hit(site: site, id: nil, ts: nil, kind: "pageview", url: url, referrer: query["ref"].map(String.init),
                   title: nil, name: nil, target: nil, props: nil, engagementMs: nil, consent: nil, vid: nil, pii: nil)
    }

    static func decodeHits(_ body: ByteBuffer, limit: Int) throws -> [Hit] {
        let data = Data(buffer: body)
        let trimmed = data.first { !($0 == 0x20 || $0 == 0x0a || $0 == 0x0d || $0 == 0x09) }
        do {
            let hits: [Hit]
            if trimmed == UInt8(ascii: "[") {
                hits = try JSONDecoder().decode([Hit].self, from: data)
            } else if trimmed == UInt8(ascii: "{"), let batch = try? JSONDecoder().decode(HitBatch.self, from: data) {
                hits = batch.events
            } else {
                hits = [try JSONDecoder().decode(Hit.self, from: data)]
            }
            guard !hits.isEmpty else { throw FootfallError.invalid("the batch has no hits") }
            guard hits.count <= limit else { throw FootfallError.invalid("a batch holds at most \(limit) hits") }
            return hits
        } catch let error as DecodingError {
            throw FootfallError.invalid("malformed hit: \(describe(error))")
        }
    }

    struct HitBatch: Decodable { var events: [Hit] }

    static func describe(_ error: DecodingError) -> String {
        func path(_ context: DecodingError.Context) -> String {
            context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
        }
        switch error {
        case .keyNotFound(let key, let context): return "missing field \((path(context).isEmpty ? "" : path(context) + ".") + key.stringValue)"
        case .typeMismatch(_, let context), .valueNotFound(_, let context): return "wrong type at \(path(context))"
        case .dataCorrupted(let context): return context.codingPath.isEmpty ? "not valid JSON" : "bad value at \(path(context))"
        @unknown default: return "not valid JSON"
        }
    }

    static func isOptedOut(_ request: Request) -> Bool { request.cookies["footfall_optout"]?.value == "1" }

    /// The client's address: the TCP peer, or — only when the peer is a trusted proxy — the
    /// nearest untrusted address in `X-Forwarded-For`.
    static func clientIP(_ request: Request, _ context: FootfallRequestContext, trusted: [IPAddress]) -> IPAddress? {
        guard let peerText = context.remoteAddress?.ipAddress, let peer = IPAddress(peerText) else { return nil }
        guard trusted.contains(peer), let forwarded = request.headers[HTTPField.Name("X-Forwarded-For")!] else { return peer }
        for entry in forwarded.split(separator: ",").reversed() {
            guard let address = IPAddress(entry) else { return peer }
            if !trusted.contains(address) { return address }
        }
        return peer
    }

    static func collectBody(_ request: Request, _ context: FootfallRequestContext, limit: Int) async throws -> ByteBuffer {
        do {
            return try await request.body.collect(upTo: limit)
        } catch {
            throw APIError(.contentTooLarge, "the body is larger than \(limit) bytes")
        }
    }

    // MARK: Accounts, sites, tokens

    struct LoginInput: Decodable { var email: String; var password: String }
    struct PasswordInput: Decodable {
        var current: String
        var new: String
    }
    struct SiteInput: Decodable {
        var domain: String
        var timezone: String?
        var retentionDays: Int?
        enum CodingKeys: String, CodingKey { case domain, timezone; case retentionDays = "retention_days" }
    }
    struct SitePatch: Decodable {
        var timezone: String?
        var retentionDays: Int?
        enum CodingKeys: String, CodingKey { case timezone; case retentionDays = "retention_days" }
    }
    struct TokenInput: Decodable { var name: String; var sites: [String]?; var rights: [SiteRight] }

    /// Signing in and out, the password, and who is signed in.
    static func addSessionRoutes(_ router: Router<FootfallRequestContext>, _ node: Node) {
        router.post("/api/login") { request, context -> Response in
            // JSON only: a cross-site form can send text/plain or form data without a preflight,
            // but not application/json, so another site cannot sign a browser in to its account.
            try requireJSON(request)
            try limitPasswordGuesses(request, context, node)
            let input = try await decode(LoginInput.self, request, context)
            let system = node.system
            guard let account = try await node.hashingPasswords({ try system.authenticate(email: input.email, password: input.password) }) else {
                throw FootfallError(.unauthorized, "wrong email or password")
            }
            let (secret, session) = try node.system.createSession(accountID: account.id, nowMs: node.clock.nowMs)
            try node.system.touch(accountID: account.id, nowMs: node.clock.nowMs)
            var response = try json(["email": account.email, "csrf_token": session.csrfToken])
            let secure = cookiesSecure(request, node)
            response.setCookie(Cookie(name: Node.sessionCookie, value: secret, maxAge: 14 * 86_400, path: "/",
                                      secure: secure, httpOnly: true, sameSite: .strict))
            return response
        }
        router.post("/api/logout") { request, _ -> Response in
            _ = try node.principal(request)
            if let secret = request.cookies[Node.sessionCookie]?.value { try node.system.deleteSession(secret: secret) }
            var response = try json(["status": "signed out"])
            response.setCookie(Cookie(name: Node.sessionCookie, value: "", maxAge: 0, path: "/", httpOnly: true, sameSite: .strict))
            return response
        }
        // Credentials are changed from a signed-in session only, never with an API token (a
        // token handed to a reporting script must not reach the account), with the current
        // password, and guessed no faster than a sign-in.
        router.post("/api/password") { request, context -> Response in
            let principal = try node.principal(request)
            guard principal.token == nil, principal.session != nil else {
                throw FootfallError(.forbidden, "the password is changed from a signed-in dashboard session, not with an API token")
            }
            try requireJSON(request)
            try limitPasswordGuesses(request, context, node)
            let account = principal.account
            guard node.passwordChangeLimiter.allow(account.id, nowMs: node.clock.nowMs) else {
                throw APIError(.tooManyRequests, "too many password changes for this account; wait a few minutes")
            }
            let input = try await decode(PasswordInput.self, request, context)
            let system = node.system
            try await node.hashingPasswords {
                guard try system.authenticate(email: account.email, password: input.current) != nil else {
                    throw FootfallError(.forbidden, "the current password is wrong")
                }
                try system.changePassword(accountID: account.id, newPassword: input.new)
            }
            return try json(["status": "password changed; other sessions were signed out"])
        }
        router.get("/api/me") { request, _ -> Response in
            let principal = try node.principal(request)
            var me = ["email": principal.account.email, "operator": principal.account.isOperator ? "true" : "false"]
            // A reloaded dashboard recovers its session's CSRF token here (it keeps it in memory only).
            if let session = principal.session { me["csrf_token"] = session.csrfToken }
            return try json(me)
        }
    }

    /// An account's sites: listed, created, read and changed (time zone, retention).
    static func addSiteRoutes(_ router: Router<FootfallRequestContext>, _ node: Node) {
        router.get("/api/sites") { request, _ -> Response in
            let principal = try node.principal(request)
            return try json(try node.system.sites(ownedBy: principal.account.id).filter(principal.sees).map { SiteView($0, origin: origin(request, node)) })
        }
        router.post("/api/sites") { request, context -> Response in
            let principal = try node.principal(request)
            guard principal.token == nil || principal.token!.rights.contains(.admin) && principal.token!.sites == nil else { throw FootfallError.forbidden }
            let input = try await decode(SiteInput.self, request, context)
            guard let id = SiteID(input.domain) else { throw FootfallError.invalid("domain must be a host name like example.com") }
            guard let retention = RetentionPlan(days: input.retentionDays ?? RetentionPlan.default.days) else {
                throw FootfallError.invalid("retention_days must be 30 to 360")
            }
            let site = try await node.createSite(id, ownerID: principal.account.id, timeZone: input.timezone ?? "UTC", retention: retention)
            return try json(SiteView(site, origin: origin(request, node)), status: .created)
        }
        router.get("/api/sites/:site") { request, context -> Response in
            let (_, site) = try node.authorizedSite(request, context, right: .read)
            return try json(SiteView(site, origin: origin(request, node)))
        }
        router.patch("/api/sites/:site") { request, context -> Response in
            var (_, site) = try node.authorizedSite(request, context, right: .admin)
            let patch = try await decode(SitePatch.self, request, context)
            if let zone = patch.timezone {
                guard TimeZone(identifier: zone) != nil else { throw FootfallError.invalid("unknown time zone \(zone)") }
                site.timeZone = zone
            }
            if let days = patch.retentionDays {
                guard let plan = RetentionPlan(days: days) else { throw FootfallError.invalid("retention_days must be 30 to 360") }
                site.retention = plan
            }
            try node.system.updateSite(site)
            return try json(SiteView(site, origin: origin(request, node)))
        }
    }

    /// API tokens, managed from a dashboard session only.
    static func addTokenRoutes(_ router: Router<FootfallRequestContext>, _ node: Node) {
        router.get("/api/tokens") { request, _ -> Response in
            let principal = try node.principal(request)
            guard principal.token == nil else { throw FootfallError(.forbidden, "tokens are managed from a dashboard session") }
            return try json(try node.system.tokens(accountID: principal.account.id).map(TokenView.init))
        }
        router.post("/api/tokens") { request, context -> Response in
            let principal = try node.principal(request)
            guard principal.token == nil else { throw FootfallError(.forbidden, "tokens are managed from a dashboard session") }
            let input = try await decode(TokenInput.self, request, context)
            let owned = Set(try node.system.sites(ownedBy: principal.account.id).map(\.id))
            let sites = try input.sites.map { names in
                try names.map { name -> SiteID in
                    guard let id = SiteID(name), owned.contains(id) else { throw FootfallError.notFound("no site \(String(name.prefix(64)).debugDescription) for this credential") }
                    return id
                }
            }
            guard !input.rights.isEmpty else { throw FootfallError.invalid("a token needs at least one right") }
            let (token, secret) = try node.system.createToken(name: input.name, accountID: principal.account.id, sites: sites,
                                                              rights: input.rights, nowMs: node.clock.nowMs)
            return try json(CreatedToken(token: TokenView(token), secret: secret), status: .created)
        }
        router.delete("/api/tokens/:token") { request, context -> Response in
            let principal = try node.principal(request)
            guard principal.token == nil else { throw FootfallError(.forbidden, "tokens are managed from a dashboard session") }
            guard try node.system.revokeToken(id: context.parameters.get("token") ?? "", accountID: principal.account.id) else {
                throw FootfallError.notFound("no such token")
            }
            return try json(["status": "revoked"])
        }
    }

    /// Refuses a request whose body is not declared as JSON (415).
    static func requireJSON(_ request: Request) throws {
        let type = request.headers[.contentType]?.split(separator: ";").first?.trimmingCharacters(in: .whitespaces).lowercased()
        guard type == "application/json" else { throw APIError(.unsupportedMediaType, "send the body as application/json") }
    }

    /// Sign-ins and password changes share one budget per client address.
    static func limitPasswordGuesses(_ request: Request, _ context: FootfallRequestContext, _ node: Node) throws {
        if let ip = clientIP(request, context, trusted: node.configuration.trustedProxies),
           !node.loginLimiter.allow(ip.rateLimitClient, nowMs: node.clock.nowMs) {
            throw APIError(.tooManyRequests, "too many password attempts from this address; wait a minute")
        }
    }

    struct SiteView: Encodable {
        var domain: String
        var timezone: String
        var retentionDays: Int
        var trackerSnippet: String
        /// - Parameter origin: this node as the request reached it (`https://analytics.example`):
        ///   the snippet goes on the owner's pages, where a relative src would name their server.
        init(_ site: Site, origin: String) {
            domain = site.id.rawValue
            timezone = site.timeZone
            retentionDays = site.retention.days
            trackerSnippet = "<script defer data-site=\"\(site.id.rawValue)\" src=\"\(origin)/t.js\"></script>"
        }
        enum CodingKeys: String, CodingKey {
            case domain, timezone
            case retentionDays = "retention_days"
            case trackerSnippet = "tracker_snippet"
        }
    }

    struct TokenView: Encodable {
        var id: String
        var name: String
        var sites: [String]?
        var rights: [SiteRight]
        var createdMs: Int64
        init(_ token: APIToken) {
            id = token.id
            name = token.name
            sites = token.sites?.map(\.rawValue)
            rights = token.rights
            createdMs = token.createdMs
        }
        enum CodingKeys: String, CodingKey { case id, name, sites, rights; case createdMs = "created_ms" }
    }

    struct CreatedToken: Encodable { var token: TokenView; var secret: String }

    // MARK: Reports

    /// A site query from the request's parameters (from, to, filter.*, limit, interval) and `extra`.
    static func siteQuery(_ kind: SiteQuery.Kind, _ uri: URI, _ site: Site, _ extra: [String: String] = [:]) -> SiteQuery {
        var parameters = [String: String]()
        for (key, value) in uri.queryParameters
        where ["from", "to", "limit", "interval", "consistency", "client_id", "email"].contains(String(key)) || key.hasPrefix("filter.") {
            parameters[String(key)] = String(value)
        }
        return SiteQuery(site: site.id, kind: kind, parameters: parameters.merging(extra) { _, new in new })
    }

    static func addReportRoutes(_ router: Router<FootfallRequestContext>, _ node: Node) {
        router.get("/api/sites/:site/summary") { request, context -> Response in
            let (_, site) = try node.authorizedSite(request, context, right: .read)
            return try await answered(node, siteQuery(.summary, request.uri, site))
        }
        router.get("/api/sites/:site/breakdown/:dimension") { request, context -> Response in
            let (_, site) = try node.authorizedSite(request, context, right: .read)
            return try await answered(node, siteQuery(.breakdown, request.uri, site, ["dimension": context.parameters.get("dimension") ?? ""]))
        }
        router.get("/api/sites/:site/timeseries") { request, context -> Response in
            let (_, site) = try node.authorizedSite(request, context, right: .read)
            return try await answered(node, siteQuery(.timeseries, request.uri, site))
        }
        router.get("/api/sites/:site/realtime") { request, context -> Response in
            let (principal, site) = try node.authorizedSite(request, context, right: .read)
            let show = principal.may(.visitors, on: site) ? "1" : "0"
            return try await answered(node, siteQuery(.realtime, request.uri, site, ["show_visitors": show]))
        }
        router.get("/api/sites/:site/live") { request, context -> Response in
            let (principal, _) = try node.authorizedSite(request, context, right: .read)
            return liveStream(node, request, context, credential: principal.credentialKey)
        }
    }

    /// `GET /api/sites/{site}/live`: server-sent events, one `snapshot` a second holding what
    /// `/realtime` answers. Every tick checks the credential again, so a signed-out session or a
    /// revoked token stops its stream; after `liveStreamLimit` the stream ends and the browser's
    /// EventSource reconnects. A credential holds at most `Node.liveStreams` streams at once;
    /// one more gets a `busy` event and a reconnection delay instead.
    static let liveStreamLimit: Duration = .seconds(300)

    static func liveStream(_ node: Node, _ request: Request, _ context: FootfallRequestContext, credential: String) -> Response {
        let body = ResponseBody { writer in
            // The slot is taken where it is given back: in the body, which runs only once the
            // response is being written, so no path can take a slot and never return it.
            guard node.liveStreams.acquire(credential) else {
                try await writer.write(ByteBuffer(string: "retry: 30000\nevent: busy\ndata: {\"error\":\"this credential has "
                                                  + "\(node.liveStreams.perKeyMax) live streams open already\"}\n\n"))
                try await writer.finish(nil)
                return
            }
            defer { node.liveStreams.release(credential) }
            let started = ContinuousClock.now
            while !Task.isCancelled, ContinuousClock.now - started < liveStreamLimit {
                let message: String
                do {
                    let (principal, site) = try node.authorizedSite(request, context, right: .read)
                    let show = principal.may(.visitors, on: site) ? "1" : "0"
                    let json = try await node.answer(SiteQuery(site: site.id, kind: .realtime, parameters: ["show_visitors": show]))
                    message = "event: snapshot\ndata: \(String(decoding: json, as: UTF8.self))\n\n"
                } catch let error as FootfallError where [.unauthorized, .forbidden, .notFound].contains(error.kind) {
                    try await writer.write(ByteBuffer(string: "event: denied\ndata: {}\n\n"))
                    break
                } catch {
                    // A replica that does not answer for a moment: say so and keep the stream.
                    message = "event: unavailable\ndata: {}\n\n"
                }
                try await writer.write(ByteBuffer(string: message))
                try await Task.sleep(for: .seconds(1))
            }
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-store"], body: body)
    }

    // MARK: Visitors, CRM, GDPR

    struct NoteInput: Decodable { var text: String }
    struct TagsInput: Decodable { var tags: [String] }
    struct RectifyInput: Decodable { var name: String?; var email: String?; var phone: String? }
    struct ErasureInput: Decodable {
        var visitor: String?
        var clientID: String?
        var email: String?
        enum CodingKeys: String, CodingKey { case visitor, email; case clientID = "client_id" }
    }

    static func visitorParameter(_ context: FootfallRequestContext) throws -> VisitorID {
        guard let visitor = VisitorID(hex: context.parameters.get("visitor") ?? "") else {
            throw FootfallError.invalid("a visitor id is 16 hex digits")
        }
        return visitor
    }

    /// The visitor CRM: the list, a profile and its export, notes, tags and rectification.
    static func addVisitorRoutes(_ router: Router<FootfallRequestContext>, _ node: Node) {
        router.get("/api/sites/:site/visitors") { request, context -> Response in
            let (_, site) = try node.authorizedSite(request, context, right: .visitors)
            return try await answered(node, siteQuery(.visitors, request.uri, site))
        }
        router.get("/api/sites/:site/visitors/:visitor") { request, context -> Response in
            let (_, site) = try node.authorizedSite(request, context, right: .visitors)
            let visitor = try visitorParameter(context)
            return try await answered(node, siteQuery(.visitor, request.uri, site, ["visitor": visitor.description]))
        }
        router.get("/api/sites/:site/visitors/:visitor/export") { request, context -> Response in
            let (_, site) = try node.authorizedSite(request, context, right: .visitors)
            let visitor = try visitorParameter(context)
            var response = try await answered(node, siteQuery(.export, request.uri, site, ["visitor": visitor.description]))
            response.headers[.contentDisposition] = "attachment; filename=\"footfall-\(site.id.rawValue)-\(visitor).json\""
            return response
        }
        router.post("/api/sites/:site/visitors/:visitor/notes") { request, context -> Response in
            let (_, site) = try node.authorizedSite(request, context, right: .visitors)
            let visitor = try visitorParameter(context)
            let input = try await decode(NoteInput.self, request, context)
            let text = input.text.trimmingCharacters(in: .whitespacesAndNewlines)
            let change = VisitorEdit.Change.addNote(id: Hex.encode(Crypto.randomBytes(6)), text: text)
            return try json(try await node.editVisitor(site: site.id, visitor: visitor, change), status: .created)
        }
        router.delete("/api/sites/:site/visitors/:visitor/notes/:note") { request, context -> Response in
            let (_, site) = try node.authorizedSite(request, context, right: .visitors)
            let visitor = try visitorParameter(context)
            let change = VisitorEdit.Change.removeNote(id: context.parameters.get("note") ?? "")
            return try json(try await node.editVisitor(site: site.id, visitor: visitor, change))
        }
        router.put("/api/sites/:site/visitors/:visitor/tags") { request, context -> Response in
            let (_, site) = try node.authorizedSite(request, context, right: .visitors)
            let visitor = try visitorParameter(context)
            let input = try await decode(TagsInput.self, request, context)
            let tags = Array(Set(input.tags.map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty })).sorted()
            return try json(try await node.editVisitor(site: site.id, visitor: visitor, .setTags(tags)))
        }
        // Right to rectification: the owner corrects the personal data a visitor gave.
        router.patch("/api/sites/:site/visitors/:visitor") { request, context -> Response in
            let (_, site) = try node.authorizedSite(request, context, right: .visitors)
            let visitor = try visitorParameter(context)
            let input = try await decode(RectifyInput.self, request, context)
            return try json(try await node.editVisitor(site: site.id, visitor: visitor,
                                                       .rectify(name: input.name, email: input.email, phone: input.phone)))
        }
    }

    /// A visitor's erasure, named by id, consented client id or email, and its receipt.
    static func addErasureRoutes(_ router: Router<FootfallRequestContext>, _ node: Node) {
        router.post("/api/sites/:site/erasures") { request, context -> Response in
            let (_, site) = try node.authorizedSite(request, context, right: .erase)
            let input = try await decode(ErasureInput.self, request, context)
            let visitors: [VisitorID]
            if let hex = input.visitor {
                guard let id = VisitorID(hex: hex) else { throw FootfallError.invalid("visitor is 16 hex digits") }
                visitors = [id]
            } else if let clientID = input.clientID {
                visitors = [VisitorID.consented(site: site.id, clientID: clientID)]
            } else if let email = input.email?.lowercased(), !email.isEmpty {
                // One person may have identified on several devices: every match is erased.
                let matches = try await node.answer(SiteQuery(site: site.id, kind: .visitorsByEmail, parameters: ["email": email]))
                visitors = try JSONDecoder().decode([String].self, from: matches).compactMap(VisitorID.init(hex:))
                guard !visitors.isEmpty else { return try json(ErasureReceipt.notFound(site: site.id), status: .ok) }
            } else {
                throw FootfallError.invalid("name the visitor by visitor id, client_id (the tracker's consented id) or email; a cookieless visitor cannot be singled out")
            }
            var receipts = [ErasureReceipt]()
            for visitor in visitors { receipts.append(try await node.erase(site: site.id, visitor: visitor)) }
            return try json(receipts.count == 1 ? receipts[0] : ErasureReceipt(combining: receipts, site: site.id), status: .ok)
        }
        router.get("/api/sites/:site/erasures/:visitor") { request, context -> Response in
            let (_, site) = try node.authorizedSite(request, context, right: .erase)
            return try json(try await node.erasureStatus(site: site.id, visitor: try visitorParameter(context)))
        }
    }

    // MARK: Operations

    static func addOperations(_ router: Router<FootfallRequestContext>, _ node: Node,
                              clusterOverview: (@Sendable () async -> ClusterOverview)?) {
        router.get("/health") { _, _ -> Response in
            try json(["status": "ok", "node": node.configuration.nodeName, "salt": node.salts.hasSeed ? "ready" : "missing"])
        }
        router.get("/metrics") { request, context -> Response in
            // Scrapes from the node's own machine need no credential; others need the operator
            // principal. Behind a trusted proxy the forwarded client counts, not the proxy.
            let client = clientIP(request, context, trusted: node.configuration.trustedProxies)
            let isLoopback = client.map { $0.bytes.first == 127 || $0.bytes == [UInt8](repeating: 0, count: 15) + [1] } ?? false
            if !isLoopback { try requireOperator(node, request) }
            let cache = node.store.segmentCacheUse
            node.metrics.set("footfall_segment_cache_bytes", to: Double(cache.bytes))
            node.metrics.set("footfall_segment_cache_reads_total", to: Double(cache.hits), labels: ["result": "hit"])
            node.metrics.set("footfall_segment_cache_reads_total", to: Double(cache.misses), labels: ["result": "miss"])
            node.metrics.set("footfall_hot_day_builds_total", to: Double(node.store.hotDayBuilds))
            node.metrics.set("footfall_hot_day_bytes", to: Double(node.store.hotDayBytes))
            let sites = node.system.cachedSites
            node.metrics.set("footfall_site_cache_entries", to: Double(sites.known), labels: ["kind": "site"])
            node.metrics.set("footfall_site_cache_entries", to: Double(sites.unknown), labels: ["kind": "no site"])
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                            body: .init(byteBuffer: ByteBuffer(string: node.metrics.render())))
        }
        router.get("/api/cluster") { request, _ -> Response in
            try requireOperator(node, request)
            guard let clusterOverview else { throw FootfallError.unavailable("this node runs without its cluster service") }
            return try json(await clusterOverview())
        }
        router.get("/openapi.json") { _, _ -> Response in
            guard let document = Static.openAPI else { throw FootfallError.internal("the API document did not serialise") }
            return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: document)))
        }
    }

    /// The cluster operator principal: the operator account's session, or its token with the admin right.
    static func requireOperator(_ node: Node, _ request: Request) throws {
        let principal = try node.principal(request)
        guard principal.account.isOperator, principal.token?.rights.contains(.admin) ?? true else { throw FootfallError.forbidden }
    }

    // MARK: Dashboard

    static func addDashboard(_ router: Router<FootfallRequestContext>) {
        router.get("/") { _, _ -> Response in
            var response = try asset(Static.dashboardPage, type: "text/html; charset=utf-8")
            // The app loads only its own script and style and talks only to this node.
            response.headers[HTTPField.Name("Content-Security-Policy")!] =
                "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                + "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
            return response
        }
        router.get("/assets/:file") { _, context -> Response in
            guard let name = context.parameters.get("file"), let file = Static.dashboardAssets[name] else {
                // Only the dashboard's own files: the name is a key of the bundle's listing, never a path.
                throw Static.dashboardAssets.isEmpty ? FootfallError.unavailable(missingResources) : FootfallError.notFound("no such asset")
            }
            return try asset(file.text, type: file.contentType)
        }
    }

    static let missingResources = "the dashboard resources are missing; install footfall_FootfallNode.resources beside the binary"

    static func asset(_ text: String?, type: String) throws -> Response {
        guard let text else { throw FootfallError.unavailable(missingResources) }
        return Response(status: .ok, headers: [.contentType: type, .cacheControl: "no-cache"], body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    // MARK: Helpers

    static func decode<T: Decodable>(_ type: T.Type, _ request: Request, _ context: FootfallRequestContext) async throws -> T {
        let body = try await collectBody(request, context, limit: 64 * 1024)
        do {
            return try JSONDecoder().decode(T.self, from: Data(buffer: body))
        } catch let error as DecodingError {
            throw FootfallError.invalid("malformed request body: \(describe(error))")
        }
    }

    static func json(_ value: some Encodable, status: HTTPResponse.Status = .ok) throws -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return Response(status: status, headers: [.contentType: "application/json; charset=utf-8", .cacheControl: "no-store"],
                        body: .init(byteBuffer: ByteBuffer(bytes: try encoder.encode(value))))
    }

    /// A site query's JSON as the replica that answered encoded it, naming that replica in
    /// `X-Footfall-Replica` (operators see where reads go; tests check a node answered itself).
    static func answered(_ node: Node, _ query: SiteQuery) async throws -> Response {
        let (json, replica) = try await node.answerNamingReplica(query)
        return Response(status: .ok, headers: [.contentType: "application/json; charset=utf-8", .cacheControl: "no-store",
                                               HTTPField.Name("X-Footfall-Replica")!: replica],
                        body: .init(byteBuffer: ByteBuffer(bytes: json)))
    }

    static func html(_ text: String) -> Response {
        Response(status: .ok, headers: [.contentType: "text/html; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: text)))
    }
}

/// Headers every response carries: no sniffing, no framing by other sites, no referrer leaks;
/// under HTTPS, HSTS, so a browser never again asks this host over plain HTTP (where a network
/// attacker could strip TLS before the redirect).
struct SecurityHeadersMiddleware: RouterMiddleware {
    typealias Context = FootfallRequestContext
    /// True when this router is served only over the node's own TLS (plain HTTP then redirects).
    let servesHTTPS: Bool

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response = try await next(request, context)
        if servesHTTPS { response.headers[HTTPField.Name("Strict-Transport-Security")!] = "max-age=31536000" }
        response.headers[HTTPField.Name("X-Content-Type-Options")!] = "nosniff"
        response.headers[HTTPField.Name("Referrer-Policy")!] = "no-referrer"
        response.headers[HTTPField.Name("X-Frame-Options")!] = "DENY"
        return response
    }
}
