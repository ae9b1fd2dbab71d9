import Foundation
import FootfallModel
import FootfallNode
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing

/// Regression tests for the findings of the first security and privacy review.
@Suite struct HardeningTests {
    @Test func collect_answersTheTrackersOrigin_soItDoesNotRetryStoredHits() async throws {
        let t = try TestNode()
        _ = try t.makeOwner("ann", site: "example.com")
        try await t.app().test(.live) { client in
            let response = try await client.hit(hitJSON(site: "example.com", id: "cors-hit-1", ts: t.clock.nowMs),
                                                headers: [HTTPField.Name("Origin")!: "https://example.com"])
            #expect(response.headers[HTTPField.Name("Access-Control-Allow-Origin")!] == "https://example.com")
            #expect(response.headers[HTTPField.Name("Access-Control-Allow-Credentials")!] == "true")
            let preflight = try await client.execute(uri: "/api/event", method: .options, headers: [HTTPField.Name("Origin")!: "https://example.com"])
            #expect(preflight.status == .noContent)
        }
    }

    @Test func hitWithIDButNoTimestamp_isStillCountedOnceOnRetry() async throws {
        let t = try TestNode()
        let owner = try t.makeOwner("ann", site: "example.com")
        try await t.app().test(.live) { client in
            let hit = "{\"site\":\"example.com\",\"id\":\"no-ts-hit-1\",\"url\":\"/\"}"
            _ = try await client.hit(hit)
            t.clock.advance(byMs: 2000)
            let retry = try await client.hit(hit)
            #expect(jsonObject(retry)["duplicates"] as? Int == 1)
            let (_, summary) = try await client.getJSON("/api/sites/example.com/summary", owner.auth)
            #expect((summary as? [String: Any])?["pageviews"] as? Int == 1)
        }
    }

    @Test func emailsNeverBecomeDimensions() async throws {
        let t = try TestNode()
        let owner = try t.makeOwner("ann", site: "example.com")
        try await t.app().test(.live) { client in
            _ = try await client.hit(hitJSON(site: "example.com", id: "utm-mail-1", ts: t.clock.nowMs,
                                             url: "/unsubscribe/ann%40example.org?utm_term=ann@example.org&utm_source=newsletter"))
            _ = try await client.hit(hitJSON(site: "example.com", id: "event-mail", ts: t.clock.nowMs,
                                             extra: "\"kind\":\"custom\",\"name\":\"bob@example.org\""))
            for (dimension, expected) in [("utm_term", "(redacted)"), ("page", "/unsubscribe/(redacted)"), ("utm_source", "newsletter"), ("event", "(redacted)")] {
                let (_, rows) = try await client.getJSON("/api/sites/example.com/breakdown/\(dimension)", owner.auth)
                #expect((rows as? [[String: Any]])?.first?["value"] as? String == expected, "\(dimension)")
            }
        }
        #expect(try !t.contains(Array("ann@example.org".utf8)) && !t.contains(Array("ann%40example.org".utf8)))
        #expect(try !t.contains(Array("bob@example.org".utf8)))
    }

    @Test func erasureByEmail_erasesEveryDeviceOfThatPerson() async throws {
        let t = try TestNode()
        let owner = try t.makeOwner("ann", site: "example.com")
        try await t.app().test(.router) { client in
            for device in ["phonedevice000001", "laptopdevice00001"] {
                _ = try await client.hit(hitJSON(site: "example.com", id: "id-\(device)", ts: t.clock.nowMs,
                    extra: "\"kind\":\"identify\",\"consent\":true,\"vid\":\"\(device)\",\"pii\":{\"email\":\"Two.Devices@example.org\"}"))
            }
            let erased = try await client.execute(uri: "/api/sites/example.com/erasures", method: .post, headers: owner.auth,
                                                  body: ByteBuffer(string: "{\"email\":\"two.devices@example.org\"}"))
            #expect(jsonObject(erased)["status"] as? String == "complete")
            #expect(jsonObject(erased)["deleted_events"] as? Int == 2)
            let (_, visitors) = try await client.getJSON("/api/sites/example.com/visitors", owner.auth)
            #expect((visitors as? [[String: Any]])?.isEmpty == true)
        }
    }

    @Test func optOutChoice_cannotBeChangedByAnotherSite() async throws {
        let t = try TestNode()
        try await t.app().test(.router) { client in
            let forged = try await client.execute(uri: "/optout", method: .post,
                                                  headers: [HTTPField.Name("Sec-Fetch-Site")!: "cross-site", .cookie: "footfall_optout=1"],
                                                  body: ByteBuffer(string: "action=optin"))
            #expect(forged.status == .forbidden)
            #expect(forged.headers[.setCookie] == nil)
            let own = try await client.execute(uri: "/optout", method: .post, headers: [HTTPField.Name("Sec-Fetch-Site")!: "same-origin"],
                                               body: ByteBuffer(string: "action=optout"))
            #expect(own.headers[.setCookie]?.hasPrefix("footfall_optout=1") == true)
        }
    }

    @Test func metrics_needTheOperatorForRemoteClients() async throws {
        let t = try TestNode(trustedProxies: [IPAddress("127.0.0.1")!])
        let owner = try t.makeOwner("ann", site: "example.com")
        try await t.app().test(.live) { client in
            let local = try await client.execute(uri: "/metrics", method: .get)
            #expect(local.status == .ok)
            let remote: HTTPFields = [HTTPField.Name("X-Forwarded-For")!: "203.0.113.7"]
            #expect(try await client.execute(uri: "/metrics", method: .get, headers: remote).status == .unauthorized)
            #expect(try await client.execute(uri: "/metrics", method: .get, headers: remote.merging(owner.auth)).status == .forbidden)
        }
    }

    @Test func login_isRateLimitedPerClient() async throws {
        let t = try TestNode()
        let owner = try t.makeOwner("ann", site: "example.com")
        try await t.app().test(.live) { client in
            var statuses = [HTTPResponse.Status]()
            for _ in 0..<12 {
                let response = try await client.execute(uri: "/api/login", method: .post, headers: [.contentType: "application/json"],
                                                        body: ByteBuffer(string: "{\"email\":\"\(owner.email)\",\"password\":\"guess guess guess\"}"))
                statuses.append(response.status)
            }
            #expect(statuses.prefix(10).allSatisfy { $0 == .unauthorized })
            #expect(statuses.last == .tooManyRequests)
        }
    }

    @Test func rawEventsHoldNoPersonalData_theCRMRecordDoes() async throws {
        let t = try TestNode()
        let owner = try t.makeOwner("ann", site: "example.com")
        let visitor = VisitorID.consented(site: SiteID("example.com")!, clientID: "rectifyvisitor001")
        try await t.app().test(.router) { client in
            _ = try await client.hit(hitJSON(site: "example.com", id: "ident-01", ts: t.clock.nowMs,
                extra: "\"kind\":\"identify\",\"consent\":true,\"vid\":\"rectifyvisitor001\",\"pii\":{\"phone\":\"+49 30 1234567\"}"))
            let export = try await client.execute(uri: "/api/sites/example.com/visitors/\(visitor)/export", method: .get, headers: owner.auth)
            #expect((jsonObject(export)["visitor"] as? [String: Any])?["phone"] as? String == "+49 30 1234567")
        }
        let events = try t.node.store.visitorEvents(site: SiteID("example.com")!, visitor: visitor, nowMs: t.clock.nowMs, retention: owner.site.retention)
        #expect(events.count == 1)
        #expect(events.allSatisfy { $0.pii == nil })
    }
}
