import FootfallHTTP
import FootfallModel
import FootfallNode
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing

@Suite struct IngestTests {
    @Test func trackerHit_isVisibleInSummaryBreakdownsAndRealtime() async throws {
        let t = try TestNode()
        let owner = try t.makeOwner("ann", site: "example.com")
        try await t.app().test(.live) { client in
            let now = t.clock.nowMs
            let stored = try await client.hit(hitJSON(site: "example.com", id: "hit-000001", ts: now,
                url: "https://example.com/pricing?utm_source=news&utm_campaign=launch&email=ann%40example.com#top",
                extra: "\"referrer\":\"https://www.google.com/search?q=secret\",\"title\":\"Pricing\""))
            #expect(stored.status == .accepted)
            #expect(jsonObject(stored)["accepted"] as? Int == 1)

            let (_, summary) = try await client.getJSON("/api/sites/example.com/summary", owner.auth)
            #expect((summary as? [String: Any])?["pageviews"] as? Int == 1)
            #expect((summary as? [String: Any])?["visitors"] as? Int == 1)
            let (_, pages) = try await client.getJSON("/api/sites/example.com/breakdown/page", owner.auth)
            #expect((pages as? [[String: Any]])?.first?["value"] as? String == "/pricing")
            let (_, sources) = try await client.getJSON("/api/sites/example.com/breakdown/referrer", owner.auth)
            #expect((sources as? [[String: Any]])?.first?["value"] as? String == "www.google.com")
            let (_, campaigns) = try await client.getJSON("/api/sites/example.com/breakdown/utm_campaign", owner.auth)
            #expect((campaigns as? [[String: Any]])?.first?["value"] as? String == "launch")
            let (_, countries) = try await client.getJSON("/api/sites/example.com/breakdown/country", owner.auth)
            #expect((countries as? [[String: Any]])?.first?["value"] as? String == "DE")
            let (_, realtime) = try await client.getJSON("/api/sites/example.com/realtime", owner.auth)
            let snapshot = try #require(realtime as? [String: Any])
            #expect(snapshot["online_visitors"] as? Int == 1)
            #expect((snapshot["feed"] as? [[String: Any]])?.first?["path"] as? String == "/pricing")
        }
        // The query string beyond UTM and the referrer's path never reach the disk.
        #expect(try !t.contains(Array("ann%40example.com".utf8)))
        #expect(try !t.contains(Array("q=secret".utf8)))
        #expect(try t.contains(Array("/pricing".utf8)), "positive control: the stored path is found")
    }

    @Test func retriedHit_isCountedOnce() async throws {
        let t = try TestNode()
        let owner = try t.makeOwner("ann", site: "example.com")
        try await t.app().test(.live) { client in
            let hit = hitJSON(site: "example.com", id: "retry-me-1", ts: t.clock.nowMs - 5000)
            let first = try await client.hit(hit)
            #expect(jsonObject(first)["accepted"] as? Int == 1)
            t.clock.advance(byMs: 4000) // the retry comes later, with the same id and timestamp
            let again = try await client.hit(hit)
            #expect(jsonObject(again)["duplicates"] as? Int == 1)
            let (_, summary) = try await client.getJSON("/api/sites/example.com/summary", owner.auth)
            #expect((summary as? [String: Any])?["pageviews"] as? Int == 1)
        }
    }

    @Test func batchForms_areAllAccepted() async throws {
        let t = try TestNode()
        _ = try t.makeOwner("ann", site: "example.com")
        try await t.app().test(.live) { client in
            let now = t.clock.nowMs
            let array = "[\(hitJSON(site: "example.com", id: "batch-a-1", ts: now)),\(hitJSON(site: "example.com", id: "batch-a-2", ts: now))]"
            let first = try await client.hit(array)
            #expect(jsonObject(first)["accepted"] as? Int == 2)
            let object = "{\"events\":[\(hitJSON(site: "example.com", id: "batch-b-1", ts: now))]}"
            let second = try await client.hit(object)
            #expect(jsonObject(second)["accepted"] as? Int == 1)
        }
    }

    @Test func bots_areNotCounted() async throws {
        let t = try TestNode()
        let owner = try t.makeOwner("ann", site: "example.com")
        try await t.app().test(.router) { client in
            for (i, agent) in ["Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", "curl/8.5.0",
                               "Mozilla/5.0 HeadlessChrome/120.0", ""].enumerated() {
                let response = try await client.hit(hitJSON(site: "example.com", id: "bot-hit-\(i)", ts: t.clock.nowMs),
                                                    headers: [.userAgent: agent])
                #expect(response.status == .accepted)
                #expect(jsonObject(response)["dropped"] as? Int == 1)
            }
            let (_, summary) = try await client.getJSON("/api/sites/example.com/summary", owner.auth)
            #expect((summary as? [String: Any])?["pageviews"] as? Int == 0)
        }
    }

    @Test func pixel_countsAPageviewAndReturnsAGIF() async throws {
        let t = try TestNode()
        let owner = try t.makeOwner("ann", site: "example.com")
        try await t.app().test(.live) { client in
            let response = try await client.execute(uri: "/p.gif?site=example.com&url=%2Fnojs", method: .get, headers: [.userAgent: chromeUA])
            #expect(response.status == .ok)
            #expect(response.headers[.contentType] == "image/gif")
            #expect(Array(response.body.readableBytesView.prefix(6)) == Array("GIF89a".utf8))
            let (_, pages) = try await client.getJSON("/api/sites/example.com/breakdown/page", owner.auth)
            #expect((pages as? [[String: Any]])?.first?["value"] as? String == "/nojs")
        }
    }

    @Test func trackerScript_isServedSmallAndWithoutDependencies() async throws {
        let t = try TestNode()
        try await t.app().test(.router) { client in
            let response = try await client.execute(uri: "/t.js", method: .get)
            #expect(response.status == .ok)
            let script = String(buffer: response.body)
            #expect(script.utf8.count < 8 * 1024)
            #expect(script.contains("/api/event"))
            #expect(!script.contains("import "), "no module imports")
            #expect(!script.contains("http://") && !script.contains("https://"), "no third-party fetches")
        }
    }

    @Test func clientIP_comesFromForwardedFor_onlyBehindATrustedProxy() async throws {
        // 127.0.0.1 (the test client) is the trusted proxy; the forwarded address is outside 127/8,
        // which FixedGeo maps to no country.
        let trusted = try TestNode(trustedProxies: [IPAddress("127.0.0.1")!])
        let owner = try trusted.makeOwner("ann", site: "example.com")
        try await trusted.app().test(.live) { client in
            _ = try await client.hit(hitJSON(site: "example.com", id: "proxied-01", ts: trusted.clock.nowMs),
                                     headers: [HTTPField.Name("X-Forwarded-For")!: "203.0.113.9"])
            let (_, countries) = try await client.getJSON("/api/sites/example.com/breakdown/country", owner.auth)
            #expect((countries as? [[String: Any]])?.isEmpty == true)
        }
        let untrusted = try TestNode()
        let other = try untrusted.makeOwner("bob", site: "example.com")
        try await untrusted.app().test(.live) { client in
            _ = try await client.hit(hitJSON(site: "example.com", id: "spoofed-01", ts: untrusted.clock.nowMs),
                                     headers: [HTTPField.Name("X-Forwarded-For")!: "203.0.113.9"])
            let (_, countries) = try await client.getJSON("/api/sites/example.com/breakdown/country", other.auth)
            #expect((countries as? [[String: Any]])?.first?["value"] as? String == "DE", "the peer address is used, not the header")
        }
    }

    @Test func nodeWithoutSalt_refusesCookielessHits() async throws {
        let t = try TestNode()
        _ = try t.makeOwner("ann", site: "example.com")
        try FileManager.default.removeItem(atPath: t.directory + "/salt.seed")
        let fresh = try Node(configuration: { var c = t.node.configuration; c.dataDirectory = t.directory + "-nosalt"; return c }(),
                             clock: t.clock, kv: t.node.kv, geo: FixedGeo())
        defer { try? FileManager.default.removeItem(atPath: t.directory + "-nosalt") }
        let app = Application(router: HTTPRoutes.router(for: fresh))
        try await app.test(.router) { client in
            let response = try await client.hit(hitJSON(site: "example.com", id: "nosalt-01", ts: t.clock.nowMs))
            #expect(response.status == .serviceUnavailable)
        }
    }
}

@Suite struct MidnightTests {
    @Test func cookielessVisitAcrossUTCMidnight_staysOneVisitOfOneVisitor() async throws {
        let beforeMidnight = TestNode.noon + 11 * TimeUnits.hourMs + 55 * TimeUnits.minuteMs // 23:55 UTC
        let t = try TestNode(nowMs: beforeMidnight)
        let owner = try t.makeOwner("ann", site: "example.com")
        try await t.app().test(.live) { client in
            _ = try await client.hit(hitJSON(site: "example.com", id: "night-hit-1", ts: t.clock.nowMs, url: "/late"))
            t.clock.advance(byMs: 10 * TimeUnits.minuteMs) // 00:05, a new salt
            _ = try await client.hit(hitJSON(site: "example.com", id: "night-hit-2", ts: t.clock.nowMs, url: "/early"))
            let (_, summary) = try await client.getJSON("/api/sites/example.com/summary?from=2026-06-15&to=2026-06-16", owner.auth)
            #expect((summary as? [String: Any])?["visits"] as? Int == 1)
            #expect((summary as? [String: Any])?["visitors"] as? Int == 1)
            #expect((summary as? [String: Any])?["bounce_rate"] as? Double == 0)
            // Past the visit gap, yesterday's salt is gone: a later hit is a new visitor.
            t.clock.advance(byMs: 40 * TimeUnits.minuteMs)
            _ = try await client.hit(hitJSON(site: "example.com", id: "night-hit-3", ts: t.clock.nowMs, url: "/later"))
            let (_, after) = try await client.getJSON("/api/sites/example.com/summary?from=2026-06-15&to=2026-06-16", owner.auth)
            #expect((after as? [String: Any])?["visitors"] as? Int == 2)
        }
    }
}
