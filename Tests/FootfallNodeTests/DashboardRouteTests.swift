import Foundation
import FootfallModel
import FootfallNode
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing

/// What the node serves the dashboard: the app itself, the session's CSRF token after a reload,
/// the live stream, and the operator's cluster view.
@Suite struct DashboardRouteTests {
    static func login(_ client: some TestClientProtocol, _ owner: TestNode.Owner) async throws -> (cookie: String, csrf: String) {
        let login = try await client.execute(uri: "/api/login", method: .post, headers: [.contentType: "application/json"],
                                             body: ByteBuffer(string: "{\"email\":\"\(owner.email)\",\"password\":\"\(owner.password)\"}"))
        #expect(login.status == .ok)
        let cookie = String(try #require(login.headers[.setCookie]).split(separator: ";")[0])
        return (cookie, try #require(jsonObject(login)["csrf_token"] as? String))
    }

    @Test func theAppIsServed_withAPolicyThatKeepsItToThisNode() async throws {
        let t = try TestNode()
        try await t.app().test(.router) { client in
            let page = try await client.execute(uri: "/", method: .get)
            #expect(page.status == .ok)
            #expect(String(buffer: page.body).contains("/assets/app.js"))
            let policy = try #require(page.headers[HTTPField.Name("Content-Security-Policy")!])
            #expect(policy.contains("script-src 'self'") && policy.contains("connect-src 'self'") && policy.contains("frame-ancestors 'none'"))
            // The entry module, the modules it imports, and the style sheet.
            let entry = try await client.execute(uri: "/assets/app.js", method: .get)
            let imported = String(buffer: entry.body).matches(of: /from "\.\/([a-z]+\.js)"/).map { "/assets/" + $0.output.1 }
            #expect(imported.count >= 3, "app.js imports its modules: \(imported)")
            for (asset, type) in [("/assets/app.js", "text/javascript"), ("/assets/app.css", "text/css")] + imported.map({ ($0, "text/javascript") }) {
                let response = try await client.execute(uri: asset, method: .get)
                #expect(response.status == .ok, "\(asset)")
                #expect(response.headers[.contentType]?.hasPrefix(type) == true, "\(asset)")
                #expect(response.body.readableBytes > 500, "\(asset) has content")
            }
        }
    }

    /// `/assets/` serves the dashboard's own files by name, nothing else of the bundle or the disk.
    @Test func assets_areTheDashboardsFilesOnly() async throws {
        let t = try TestNode()
        try await t.app().test(.router) { client in
            for path in ["/assets/index.html", "/assets/t.js", "/assets/nothing.js", "/assets/..%2Ft.js", "/assets/%2E%2E%2F%2E%2E%2FPackage.swift"] {
                let response = try await client.execute(uri: path, method: .get)
                #expect(response.status == .notFound, "\(path)")
            }
        }
    }

    /// A reloaded page holds no CSRF token (it is never stored); `/api/me` gives the session's
    /// own back, and nothing to a bearer token, which needs none.
    @Test func me_returnsTheSessionsCSRFToken_toThatSessionOnly() async throws {
        let t = try TestNode()
        let owner = try t.makeOwner("ann", site: "one.example")
        try await t.app().test(.router) { client in
            let (cookie, csrf) = try await DashboardRouteTests.login(client, owner)
            let me = try await client.execute(uri: "/api/me", method: .get, headers: [.cookie: cookie])
            #expect(jsonObject(me)["csrf_token"] as? String == csrf)
            let viaToken = try await client.execute(uri: "/api/me", method: .get, headers: owner.auth)
            #expect(viaToken.status == .ok)
            #expect(jsonObject(viaToken)["csrf_token"] == nil)
        }
    }

    /// The live feed streams what `/realtime` answers, a new hit included, and stops as soon as
    /// its session signs out (each tick checks the credential again).
    @Test func liveStream_showsANewHit_andEndsWhenTheSessionSignsOut() async throws {
        let t = try TestNode()
        let owner = try t.makeOwner("ann", site: "one.example")
        try await t.app().test(.live) { client in
            let port = try #require(client.port)
            let (cookie, csrf) = try await DashboardRouteTests.login(client, owner)
            let stream = Task {
                try await RawHTTP.request(port: port, source: "127.0.0.1", method: "GET", path: "/api/sites/one.example/live", body: "",
                                          headers: ["Cookie": cookie])
            }
            try await Task.sleep(for: .milliseconds(500))
            let hit = hitJSON(site: "one.example", id: "live-hit-0001", ts: t.clock.nowMs, url: "https://one.example/live-page")
            #expect(try await client.hit(hit).status == .accepted)
            try await Task.sleep(for: .milliseconds(2500))
            let signedOut = try await client.execute(uri: "/api/logout", method: .post,
                                                     headers: [.cookie: cookie, HTTPField.Name("X-CSRF-Token")!: csrf])
            #expect(signedOut.status == .ok)
            let (status, body) = try await stream.value
            #expect(status == 200)
            #expect(body.components(separatedBy: "event: snapshot").count >= 3, "a snapshot a second")
            #expect(body.contains("/live-page"), "the new hit shows in the stream")
            #expect(body.contains("event: denied"), "the stream ends with its session")
        }
    }

    @Test func liveStream_refusesAnotherOwner_andAnonymousClients() async throws {
        let t = try TestNode()
        _ = try t.makeOwner("ann", site: "one.example")
        let other = try t.makeOwner("bob", site: "two.example")
        try await t.app().test(.router) { client in
            let another = try await client.execute(uri: "/api/sites/one.example/live", method: .get, headers: other.auth)
            #expect(another.status == .notFound)
            let anonymous = try await client.execute(uri: "/api/sites/one.example/live", method: .get)
            #expect(anonymous.status == .unauthorized)
        }
    }

    /// The GDPR tools find a data subject by what they can tell the owner: the id their browser
    /// holds (the tracker's consented client id) or the email they gave.
    @Test func visitors_canBeFoundByClientIDOrEmail() async throws {
        let t = try TestNode()
        let owner = try t.makeOwner("ann", site: "one.example")
        try await t.app().test(.router) { client in
            let hit = hitJSON(site: "one.example", id: "lookup-hit-01", ts: t.clock.nowMs,
                              extra: "\"consent\":true,\"vid\":\"lookupclient0001\"")
            #expect(try await client.hit(hit).status == .accepted)
            let visitor = VisitorID.consented(site: SiteID("one.example")!, clientID: "lookupclient0001").description
            let rectified = try await client.execute(uri: "/api/sites/one.example/visitors/\(visitor)", method: .patch,
                                                     headers: owner.auth.merging([.contentType: "application/json"]),
                                                     body: ByteBuffer(string: "{\"email\":\"ann.visitor@example.org\"}"))
            #expect(rectified.status == .ok)
            for (query, expected) in [("client_id=lookupclient0001", [visitor]), ("email=Ann.Visitor@Example.org", [visitor]),
                                      ("client_id=someoneelse00001", []), ("email=nobody@example.org", [])] {
                let found = try await client.execute(uri: "/api/sites/one.example/visitors?\(query)", method: .get, headers: owner.auth)
                #expect(found.status == .ok, "\(query)")
                #expect(jsonArray(found).compactMap { $0["visitor"] as? String } == expected, "\(query)")
            }
        }
    }

    /// The snippet goes on the owner's own pages, so it names this node in full, as it was reached.
    @Test func trackerSnippet_namesThisNodesAddress() async throws {
        let t = try TestNode()
        let owner = try t.makeOwner("ann", site: "one.example")
        try await t.app().test(.live) { client in
            let port = try #require(client.port)
            for (host, expected) in [("analytics.example:8443", "src=\"http://analytics.example:8443/t.js\""),
                                     ("evil\"><script>.example", "src=\"http://evilscript.example/t.js\"")] {
                let (status, body) = try await RawHTTP.request(port: port, source: "127.0.0.1", method: "GET", path: "/api/sites/one.example",
                                                               body: "", headers: ["Host": host, "Authorization": "Bearer \(owner.token)"])
                #expect(status == 200)
                let site = try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any]
                let snippet = try #require(site?["tracker_snippet"] as? String)
                #expect(snippet.contains(expected), "\(snippet)")
            }
        }
    }

    @Test func clusterView_isForTheOperatorOnly() async throws {
        let t = try TestNode()
        let owner = try t.makeOwner("ann", site: "one.example")
        let operatorAccount = try t.node.system.createAccount(email: "ops@example.net", password: "operator password 1",
                                                              isOperator: true, nowMs: t.clock.nowMs)
        let (_, operatorToken) = try t.node.system.createToken(name: "ops", accountID: operatorAccount.id, sites: nil,
                                                               rights: [.admin], nowMs: t.clock.nowMs)
        try await t.app().test(.router) { client in
            #expect(try await client.execute(uri: "/api/cluster", method: .get).status == .unauthorized)
            #expect(try await client.execute(uri: "/api/cluster", method: .get, headers: owner.auth).status == .forbidden)
            // The operator passes the check; this test node runs without a cluster service.
            let answer = try await client.execute(uri: "/api/cluster", method: .get, headers: [.authorization: "Bearer \(operatorToken)"])
            #expect(answer.status == .serviceUnavailable)
        }
    }
}
