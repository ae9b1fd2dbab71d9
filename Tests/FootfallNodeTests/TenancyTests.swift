import Foundation
import FootfallModel
import FootfallNode
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing

/// Promise 5 and 6: one owner can never read, count, change or erase another owner's data, and
/// visitor data is shown only to an authenticated owner.
@Suite struct TenancyTests {
    /// Fills a path template from the OpenAPI document with the victim's ids.
    static func concrete(_ template: String, site: String, visitor: String) -> String {
        template.replacingOccurrences(of: "{site}", with: site).replacingOccurrences(of: "{visitor}", with: visitor)
            .replacingOccurrences(of: "{dimension}", with: "page").replacingOccurrences(of: "{note}", with: "n1")
            .replacingOccurrences(of: "{token}", with: "t1")
    }

    static func operations(_ document: [String: Any]) -> [(method: String, path: String, right: String?)] {
        let paths = document["paths"] as? [String: [String: Any]] ?? [:]
        return paths.flatMap { path, methods in
            methods.map { method, operation in (method, path, (operation as? [String: Any])?["x-footfall-right"] as? String) }
        }.sorted { ($0.path, $0.method) < ($1.path, $1.method) }
    }

    @Test func crossOwnerMatrix_everySiteRouteRefusesAnotherOwner() async throws {
        let t = try TestNode()
        let victim = try t.makeOwner("victim", site: "victim.example")
        let attacker = try t.makeOwner("attacker", site: "attacker.example")
        try await t.app().test(.router) { client in
            // The victim has a consented visitor with a note, so every visitor route has a target.
            let hit = hitJSON(site: "victim.example", id: "victim-hit-1", ts: t.clock.nowMs,
                              extra: "\"consent\":true,\"vid\":\"victimvisitor0001\",\"kind\":\"pageview\"")
            _ = try await client.hit(hit)
            let visitor = VisitorID.consented(site: SiteID("victim.example")!, clientID: "victimvisitor0001").description
            let noted = try await client.execute(uri: "/api/sites/victim.example/visitors/\(visitor)/notes", method: .post,
                                                 headers: victim.auth, body: ByteBuffer(string: "{\"text\":\"victim note\"}"))
            #expect(noted.status == .created)

            let documentResponse = try await client.execute(uri: "/openapi.json", method: .get)
            let document = try #require(try JSONSerialization.jsonObject(with: Data(buffer: documentResponse.body)) as? [String: Any])
            let siteRoutes = TenancyTests.operations(document).filter { $0.path.contains("{site}") }
            #expect(siteRoutes.count >= 14, "the matrix walks every site route in the document")

            let bodies = ["{\"text\":\"x\"}", "{\"tags\":[\"x\"]}", "{\"visitor\":\"\(visitor)\"}", "{\"retention_days\":30}", "{\"email\":\"x@y.z\"}"]
            for route in siteRoutes {
                let uri = TenancyTests.concrete(route.path, site: "victim.example", visitor: visitor)
                for body in route.method == "get" || route.method == "delete" ? [String?.none] : bodies.map(Optional.some) {
                    let response = try await client.execute(uri: uri, method: HTTPRequest.Method(route.method.uppercased())!,
                                                            headers: attacker.auth.merging([.contentType: "application/json"]),
                                                            body: body.map { ByteBuffer(string: $0) })
                    #expect(response.status == .notFound, "\(route.method) \(uri) answered \(response.status) to another owner")
                    let text = String(buffer: response.body)
                    #expect(!text.contains("victim note") && !text.contains(visitor), "\(route.method) \(uri) leaked data")
                }
                // Without any credential: 401.
                let anonymous = try await client.execute(uri: uri, method: HTTPRequest.Method(route.method.uppercased())!)
                #expect(anonymous.status == .unauthorized, "\(route.method) \(uri) without credential")
            }
            // The victim's data is intact: nothing was erased or changed by the attempts.
            let profile = try await client.execute(uri: "/api/sites/victim.example/visitors/\(visitor)", method: .get, headers: victim.auth)
            #expect(profile.status == .ok)
            #expect(String(buffer: profile.body).contains("victim note"))
            // Listing shows each owner only their own sites.
            let (_, sites) = try await client.getJSON("/api/sites", attacker.auth)
            #expect((sites as? [[String: Any]])?.map { $0["domain"] as? String } == ["attacker.example"])
        }
    }

    @Test func tokenScopes_limitSitesAndRights() async throws {
        let t = try TestNode()
        let owner = try t.makeOwner("ann", site: "one.example")
        _ = try t.node.system.createSite(SiteID("two.example")!, ownerID: owner.account.id, timeZone: "UTC",
                                         retention: .default, nowMs: t.clock.nowMs)
        let (_, readOne) = try t.node.system.createToken(name: "r", accountID: owner.account.id, sites: [SiteID("one.example")!],
                                                         rights: [.read], nowMs: t.clock.nowMs)
        let auth: HTTPFields = [.authorization: "Bearer \(readOne)", .contentType: "application/json"]
        try await t.app().test(.router) { client in
            #expect(try await client.execute(uri: "/api/sites/one.example/summary", method: .get, headers: auth).status == .ok)
            #expect(try await client.execute(uri: "/api/sites/two.example/summary", method: .get, headers: auth).status == .notFound)
            #expect(try await client.execute(uri: "/api/sites/one.example/visitors", method: .get, headers: auth).status == .forbidden)
            #expect(try await client.execute(uri: "/api/sites/one.example/erasures", method: .post, headers: auth,
                                             body: ByteBuffer(string: "{\"visitor\":\"0123456789abcdef\"}")).status == .forbidden)
            #expect(try await client.execute(uri: "/api/tokens", method: .get, headers: auth).status == .forbidden)
            let (_, sites) = try await client.getJSON("/api/sites", auth)
            #expect((sites as? [[String: Any]])?.count == 1)
            #expect(try await client.execute(uri: "/api/sites/one.example/summary", method: .get,
                                             headers: [.authorization: "Bearer fft_forged"]).status == .unauthorized)
        }
    }

    @Test func sessionLogin_needsCSRFForChanges_andRevokedTokensStopWorking() async throws {
        let t = try TestNode()
        let owner = try t.makeOwner("ann", site: "one.example")
        try await t.app().test(.router) { client in
            let login = try await client.execute(uri: "/api/login", method: .post, headers: [.contentType: "application/json"],
                                                 body: ByteBuffer(string: "{\"email\":\"\(owner.email)\",\"password\":\"\(owner.password)\"}"))
            #expect(login.status == .ok)
            let setCookie = try #require(login.headers[.setCookie])
            #expect(setCookie.contains("HttpOnly") && setCookie.contains("SameSite=Strict"))
            let cookie = String(setCookie.split(separator: ";")[0])
            let csrf = try #require(jsonObject(login)["csrf_token"] as? String)
            let session: HTTPFields = [.cookie: cookie, .contentType: "application/json"]
            #expect(try await client.execute(uri: "/api/sites/one.example/summary", method: .get, headers: session).status == .ok)
            // A change without the CSRF header is refused (another site cannot forge it).
            let forged = try await client.execute(uri: "/api/tokens", method: .post, headers: session,
                                                  body: ByteBuffer(string: "{\"name\":\"x\",\"rights\":[\"read\"]}"))
            #expect(forged.status == .forbidden)
            var withCSRF = session
            withCSRF[HTTPField.Name("X-CSRF-Token")!] = csrf
            // Bad token requests are refused and create nothing.
            for (body, status) in [("{\"name\":\"x\",\"rights\":[\"root\"]}", HTTPResponse.Status.badRequest),
                                   ("{\"name\":\"x\",\"rights\":[]}", .badRequest),
                                   ("{\"name\":\"x\",\"rights\":[\"read\"],\"sites\":[\"someone-else.example\"]}", .notFound),
                                   ("{\"rights\":[\"read\"]}", .badRequest)] {
                let refused = try await client.execute(uri: "/api/tokens", method: .post, headers: withCSRF, body: ByteBuffer(string: body))
                #expect(refused.status == status, "\(body)")
            }
            #expect(try t.node.system.tokens(accountID: owner.account.id).count == 1, "only the owner's first token exists")
            let created = try await client.execute(uri: "/api/tokens", method: .post, headers: withCSRF,
                                                   body: ByteBuffer(string: "{\"name\":\"ci\",\"rights\":[\"read\"]}"))
            #expect(created.status == .created)
            let body = jsonObject(created)
            let secret = try #require(body["secret"] as? String)
            let id = try #require((body["token"] as? [String: Any])?["id"] as? String)
            let bearer: HTTPFields = [.authorization: "Bearer \(secret)"]
            #expect(try await client.execute(uri: "/api/sites/one.example/summary", method: .get, headers: bearer).status == .ok)
            #expect(try await client.execute(uri: "/api/tokens/\(id)", method: .delete, headers: withCSRF).status == .ok)
            #expect(try await client.execute(uri: "/api/sites/one.example/summary", method: .get, headers: bearer).status == .unauthorized)
            // A password change signs the session out everywhere.
            let changed = try await client.execute(uri: "/api/password", method: .post, headers: withCSRF,
                                                   body: ByteBuffer(string: "{\"current\":\"\(owner.password)\",\"new\":\"a brand new password\"}"))
            #expect(changed.status == .ok)
            #expect(try await client.execute(uri: "/api/sites/one.example/summary", method: .get, headers: session).status == .unauthorized)
        }
    }
}

extension HTTPFields {
    func merging(_ other: HTTPFields) -> HTTPFields {
        var out = self
        for field in other { out[field.name] = field.value }
        return out
    }
}
