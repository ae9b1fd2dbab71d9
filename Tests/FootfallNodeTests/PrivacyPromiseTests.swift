import FootfallIngest
import FootfallModel
import FootfallNode
import FootfallStorage
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing

/// The promises in DESIGN.md's "promises in scope", one test (or more) named after each. The
/// README's promise table points here.
@Suite struct PrivacyPromiseTests {
    // MARK: 1. No tracking cookie or browser storage without consent

    @Test func promise1_noCookieOrStorageWithoutConsent() async throws {
        let t = try TestNode()
        _ = try t.makeOwner("ann", site: "example.com")
        try await t.app().test(.router) { client in
            let script = try await client.execute(uri: "/t.js", method: .get)
            let hit = try await client.hit(hitJSON(site: "example.com", id: "cookie-chk", ts: t.clock.nowMs))
            let pixel = try await client.execute(uri: "/p.gif?site=example.com&url=/x", method: .get, headers: [.userAgent: chromeUA])
            for response in [script, hit, pixel] { #expect(response.headers[.setCookie] == nil) }
            // The tracker writes storage in exactly one place: the consent command.
            let text = String(buffer: script.body)
            #expect(text.components(separatedBy: "localStorage.setItem").count == 2)
            let consentBranch = try #require(text.range(of: "command === \"consent\""))
            let write = try #require(text.range(of: "localStorage.setItem"))
            #expect(consentBranch.lowerBound < write.lowerBound)
            #expect(!text.contains("document.cookie"))
        }
    }

    @Test func promise1_cookielessVisitorIDs_changeEveryDay() throws {
        let site = SiteID("example.com")!
        var ratchet = DailySaltRatchet(day: Day(containing: TestNode.noon), seed: [UInt8](repeating: 7, count: 32))
        let today = VisitorID.cookieless(salt: ratchet.salt, site: site, ip: [127, 0, 0, 1], userAgent: chromeUA)
        ratchet.advance(to: ratchet.day.advanced(by: 1))
        let tomorrow = VisitorID.cookieless(salt: ratchet.salt, site: site, ip: [127, 0, 0, 1], userAgent: chromeUA)
        #expect(today != tomorrow)
    }

    // MARK: 2. No name, email or phone without consent

    @Test func promise2_noPersonalDataWithoutConsent() async throws {
        let t = try TestNode()
        let owner = try t.makeOwner("ann", site: "example.com")
        try await t.app().test(.router) { client in
            let refused = try await client.hit(hitJSON(site: "example.com", id: "pii-refuse", ts: t.clock.nowMs,
                                                       extra: "\"kind\":\"identify\",\"pii\":{\"email\":\"no-consent@example.org\"}"))
            #expect(refused.status == .badRequest)
            let consented = try await client.hit(hitJSON(site: "example.com", id: "pii-accept", ts: t.clock.nowMs,
                extra: "\"kind\":\"identify\",\"consent\":true,\"vid\":\"consentedvisitor01\",\"pii\":{\"email\":\"yes@example.org\",\"name\":\"Ann\"}"))
            #expect(consented.status == .accepted)
            let (_, visitors) = try await client.getJSON("/api/sites/example.com/visitors", owner.auth)
            #expect((visitors as? [[String: Any]])?.first?["email"] as? String == "yes@example.org")
        }
        #expect(try !t.contains(Array("no-consent@example.org".utf8)))
        #expect(try t.contains(Array("yes@example.org".utf8)), "positive control: consented PII is found on disk")
    }

    // MARK: 3. Raw IPs are never stored, logged or sent

    @Test func promise3_rawIPNeverReachesDiskLogsOrResponses() async throws {
        let t = try TestNode()
        let owner = try t.makeOwner("ann", site: "example.com")
        let sources = (0..<24).map { "127.\(101 + $0).\(37 + $0).\(201 - $0)" }
        try await t.app().test(.live) { client in
            let port = try #require(client.port)
            var responses = ""
            for (i, source) in sources.enumerated() {
                let hit = hitJSON(site: "example.com", id: "ip-probe-\(100 + i)", ts: t.clock.nowMs, url: "https://example.com/ip/\(i)")
                let (status, body) = try await RawHTTP.request(port: port, source: source, path: "/api/event", body: hit,
                                                         headers: ["User-Agent": chromeUA, "Content-Type": "text/plain"])
                #expect(status == 202)
                responses += body
            }
            // Positive control: an address written into a stored field is found by the same scan.
            let control = hitJSON(site: "example.com", id: "ip-control", ts: t.clock.nowMs, extra: "\"title\":\"127.250.250.250\"")
            _ = try await RawHTTP.request(port: port, source: "127.9.9.9", path: "/api/event", body: control, headers: ["User-Agent": chromeUA])
            for uri in ["/api/sites/example.com/realtime", "/api/sites/example.com/summary", "/api/sites/example.com/breakdown/page?limit=100"] {
                responses += String(buffer: try await client.execute(uri: uri, method: .get, headers: owner.auth).body)
            }
            for source in sources { #expect(!responses.contains(source)) }
        }
        // Exact distinct ids from the raw events: the rollup's HyperLogLog may merge two of 25 ids
        // into one register (about a 2 % chance per run), so it cannot be held to 25 exactly.
        var visitorIDs = Set<VisitorID>()
        try t.node.store.events(site: owner.site.id, in: TimeRange(startMs: 0, endMs: t.clock.nowMs + 1), nowMs: t.clock.nowMs,
                                retention: owner.site.retention) { visitorIDs.insert($0.visitor); return true }
        #expect(visitorIDs.count == 25, "every source counted as its own visitor")
        #expect(try t.contains(Array("127.250.250.250".utf8)), "positive control")
        for source in sources {
            #expect(try !t.contains(Array(source.utf8)), "\(source) as text")
            let raw = source.split(separator: ".").map { UInt8($0)! }
            #expect(try !t.contains(raw), "\(source) as 4 raw bytes")
        }
    }

    // MARK: 4. Geography at low accuracy only

    @Test func promise4_geographyIsCountryAndRegionOnly() async throws {
        let path = try #require(ProcessInfo.processInfo.environment["FOOTFALL_TEST_GEO_MMDB"],
                                "make test builds the geo fixture and sets FOOTFALL_TEST_GEO_MMDB")
        let locator = try MaxMindLocator(path: path)
        #expect(locator.locate(IPAddress("127.1.2.3")!) == Geo(country: "DE", region: "DE-BE"))
        #expect(locator.locate(IPAddress("127.2.2.3")!) == Geo(country: "FR", region: ""))
        #expect(locator.locate(IPAddress("2001:db8::1")!) == Geo(country: "JP", region: ""))
        #expect(locator.locate(IPAddress("127.3.0.1")!) == Geo())

        let t = try TestNode(geo: locator)
        let owner = try t.makeOwner("ann", site: "example.com")
        try await t.app().test(.live) { client in
            let port = try #require(client.port)
            _ = try await RawHTTP.request(port: port, source: "127.1.2.3", path: "/api/event",
                                    body: hitJSON(site: "example.com", id: "geo-berlin", ts: t.clock.nowMs), headers: ["User-Agent": chromeUA])
            let (_, regions) = try await client.getJSON("/api/sites/example.com/breakdown/region", owner.auth)
            #expect((regions as? [[String: Any]])?.first?["value"] as? String == "DE-BE")
        }
        #expect(try t.contains(Array("DE-BE".utf8)), "positive control")
        #expect(try !t.contains(Array("Berlin".utf8)), "the city in the database is never stored")
    }

    @Test func promise4_zeroConfigCountryLookup_fromDebianGeoIPDatabase() throws {
        let locator = try #require(LegacyGeoIPLocator(), "Debian's geoip-database is installed by make test")
        #expect(locator.locate(IPAddress("8.8.8.8")!).country == "US")
        #expect(locator.locate(IPAddress("8.8.8.8")!).region == "")
        #expect(locator.locate(IPAddress("127.0.0.1")!) == Geo())
    }

    // MARK: 5. No cross-site tracking

    @Test func promise5_sameBrowserOnTwoSites_getsUnrelatedVisitorIDs() async throws {
        let t = try TestNode()
        _ = try t.makeOwner("ann", site: "one.example")
        _ = try t.makeOwner("bob", site: "two.example")
        try await t.app().test(.live) { client in
            _ = try await client.hit(hitJSON(site: "one.example", id: "xsite-one1", ts: t.clock.nowMs))
            _ = try await client.hit(hitJSON(site: "two.example", id: "xsite-two1", ts: t.clock.nowMs))
        }
        var ids = [VisitorID]()
        for site in ["one.example", "two.example"] {
            let plan = RetentionPlan(days: 30)!
            try t.node.store.events(site: SiteID(site)!, in: TimeRange(startMs: 0, endMs: t.clock.nowMs + 1), nowMs: t.clock.nowMs, retention: plan) {
                ids.append($0.visitor)
                return true
            }
        }
        #expect(ids.count == 2)
        #expect(ids[0] != ids[1])
        #expect(VisitorID.consented(site: SiteID("one.example")!, clientID: "same-first-party-id")
                != VisitorID.consented(site: SiteID("two.example")!, clientID: "same-first-party-id"))
    }

    // MARK: 6. Visitor data only for the authenticated owner

    @Test func promise6_noPublicOrShareByURLViews() async throws {
        let t = try TestNode()
        _ = try t.makeOwner("ann", site: "example.com")
        try await t.app().test(.router) { client in
            let documentResponse = try await client.execute(uri: "/openapi.json", method: .get)
            let document = try #require(try JSONSerialization.jsonObject(with: Data(buffer: documentResponse.body)) as? [String: Any])
            let paths = try #require(document["paths"] as? [String: [String: [String: Any]]])
            for (path, methods) in paths where path != "/api/event" {
                for (method, operation) in methods {
                    #expect(operation["security"] != nil, "\(method) \(path) must require a credential")
                }
            }
            // Credentials only in headers or cookies: a token in the query string is ignored.
            let owner = try t.makeOwner("bob", site: "bob.example")
            let viaQuery = try await client.execute(uri: "/api/sites/bob.example/summary?token=\(owner.token)", method: .get)
            #expect(viaQuery.status == .unauthorized)
        }
    }

    // MARK: 8. Right of access and rectification

    @Test func promise8_visitorExport_andRectification() async throws {
        let t = try TestNode()
        let owner = try t.makeOwner("ann", site: "example.com")
        let visitor = VisitorID.consented(site: SiteID("example.com")!, clientID: "exportvisitor00001").description
        try await t.app().test(.router) { client in
            let consent = "\"consent\":true,\"vid\":\"exportvisitor00001\""
            _ = try await client.hit(hitJSON(site: "example.com", id: "export-01", ts: t.clock.nowMs, url: "/first", extra: consent))
            _ = try await client.hit(hitJSON(site: "example.com", id: "export-02", ts: t.clock.nowMs + 1, url: "/second",
                                             extra: consent + ",\"kind\":\"identify\",\"pii\":{\"email\":\"old@example.org\"}"))
            let export = try await client.execute(uri: "/api/sites/example.com/visitors/\(visitor)/export", method: .get, headers: owner.auth)
            #expect(export.status == .ok)
            let body = jsonObject(export)
            #expect((body["events"] as? [[String: Any]])?.compactMap { $0["path"] as? String } == ["/first", "/second"])
            #expect((body["visitor"] as? [String: Any])?["email"] as? String == "old@example.org")
            let fixed = try await client.execute(uri: "/api/sites/example.com/visitors/\(visitor)", method: .patch,
                                                 headers: owner.auth.merging([.contentType: "application/json"]),
                                                 body: ByteBuffer(string: "{\"email\":\"new@example.org\"}"))
            #expect(jsonObject(fixed)["email"] as? String == "new@example.org")
        }
    }

    // MARK: 9. Right to be forgotten

    @Test func promise9_erasureRemovesVisitorFromEveryFileAndFencesReplays() async throws {
        let t = try TestNode()
        let owner = try t.makeOwner("ann", site: "example.com")
        let marker = "/erase-marker-\(UUID().uuidString.prefix(8))"
        let visitor = VisitorID.consented(site: SiteID("example.com")!, clientID: "erasevisitor000001").description
        let consent = "\"consent\":true,\"vid\":\"erasevisitor000001\""
        // The marker sits in the title, which only the raw event holds (the path is also a rollup
        // dimension, which holds no personal data and stays).
        let replay = hitJSON(site: "example.com", id: "erase-hit1", ts: t.clock.nowMs, url: "/erase", extra: consent + ",\"title\":\"\(marker)\"")
        try await t.app().test(.router) { client in
            _ = try await client.hit(replay)
            _ = try await client.hit(hitJSON(site: "example.com", id: "erase-hit2", ts: t.clock.nowMs, url: "/erase",
                                             extra: consent + ",\"kind\":\"identify\",\"pii\":{\"email\":\"erase.me@example.org\"}"))
            _ = try await client.execute(uri: "/api/sites/example.com/visitors/\(visitor)/notes", method: .post,
                                         headers: owner.auth, body: ByteBuffer(string: "{\"text\":\"note-about-erase-me\"}"))
            #expect(try t.contains(Array(marker.utf8)), "positive control: the marker is on disk before erasure")
            #expect(try t.contains(Array("note-about-erase-me".utf8)))
            let before = try await client.getJSON("/api/sites/example.com/summary", owner.auth)

            let erased = try await client.execute(uri: "/api/sites/example.com/erasures", method: .post, headers: owner.auth,
                                                  body: ByteBuffer(string: "{\"email\":\"erase.me@example.org\"}"))
            let receipt = jsonObject(erased)
            #expect(receipt["status"] as? String == "complete")
            #expect(receipt["visitor"] as? String == visitor)
            #expect(receipt["deleted_events"] as? Int == 2)
            #expect((receipt["replicas"] as? [[String: Any]])?.first?["node"] as? String == t.node.configuration.nodeName)
            let polled = try await client.execute(uri: "/api/sites/example.com/erasures/\(visitor)", method: .get, headers: owner.auth)
            #expect(jsonObject(polled)["request_id"] as? String == receipt["request_id"] as? String)

            // A retried hit from before the erasure is never re-accepted.
            let again = try await client.hit(replay)
            #expect(jsonObject(again)["dropped"] as? Int == 1)
            let profile = try await client.execute(uri: "/api/sites/example.com/visitors/\(visitor)", method: .get, headers: owner.auth)
            #expect(profile.status == .notFound)
            // Today is not built into rollups yet: its counts are its events', the erased pageview
            // no more (a date built before an erasure keeps counting it: `EventStoreTests`).
            let after = try await client.getJSON("/api/sites/example.com/summary", owner.auth)
            let pageviewsBefore = try #require((before.1 as? [String: Any])?["pageviews"] as? Int)
            #expect(pageviewsBefore >= 1)
            #expect((after.1 as? [String: Any])?["pageviews"] as? Int == pageviewsBefore - 1)
        }
        for needle in [marker, "erase.me@example.org", "note-about-erase-me"] {
            let files = try t.filesContaining(Array(needle.utf8))
            #expect(files == [], "\(needle) is still in a file or log after erasure")
        }
    }

    /// A settled day is also held as a columnar segment: erasure takes the visitor out of it too.
    @Test func promise9_erasureRemovesVisitorFromSealedSegments() async throws {
        let t = try TestNode()
        let owner = try t.makeOwner("ann", site: "example.com")
        let site = SiteID("example.com")!
        let marker = "/sealed-marker-\(UUID().uuidString.prefix(8))"
        let day = Day(containing: t.clock.nowMs)
        try await t.app().test(.live) { client in
            let consent = "\"consent\":true,\"vid\":\"sealedvisitor00001\""
            _ = try await client.hit(hitJSON(site: "example.com", id: "sealed-hit1", ts: t.clock.nowMs, url: "/sealed",
                                             extra: consent + ",\"title\":\"\(marker)\""))
            _ = try await client.hit(hitJSON(site: "example.com", id: "sealed-hit2", ts: t.clock.nowMs, url: "/sealed", extra: "\"title\":\"kept\""))
        }
        t.clock.advance(byMs: 3 * TimeUnits.dayMs)
        try t.node.runMaintenance()
        let part = try t.node.kv.get(.segments, StorageKeys.segmentPart(site, day, 0))
        #expect(part.map { $0.firstRange(of: Array(marker.utf8)) != nil } == true, "positive control: the day is sealed with the marker in it")
        try await t.app().test(.live) { client in
            let erased = try await client.execute(uri: "/api/sites/example.com/erasures", method: .post, headers: owner.auth,
                                                  body: ByteBuffer(string: "{\"client_id\":\"sealedvisitor00001\"}"))
            #expect(jsonObject(erased)["deleted_events"] as? Int == 1)
        }
        try t.node.runMaintenance()
        let resealed = try t.node.kv.get(.segments, StorageKeys.segmentPart(site, day, 0))
        #expect(resealed.map { $0.firstRange(of: Array("kept".utf8)) != nil } == true, "the day is sealed again, with the other visitor")
        #expect(try t.filesContaining(Array(marker.utf8)) == [], "the marker is still in a file or log after erasure")
    }

    @Test func promise9_cookielessVisitor_cannotBeSingledOut() async throws {
        let t = try TestNode()
        let owner = try t.makeOwner("ann", site: "example.com")
        try await t.app().test(.router) { client in
            let response = try await client.execute(uri: "/api/sites/example.com/erasures", method: .post, headers: owner.auth,
                                                    body: ByteBuffer(string: "{\"email\":\"never-consented@example.org\"}"))
            #expect(response.status == .ok)
            #expect(jsonObject(response)["status"] as? String == "not_found")
            #expect((jsonObject(response)["note"] as? String)?.contains("cookieless") == true)
        }
    }

    // MARK: 10. Global opt-out, Do-Not-Track, Global Privacy Control

    @Test func promise10_globalOptOut_dntAndGPC_dropHits() async throws {
        let t = try TestNode()
        let owner = try t.makeOwner("ann", site: "one.example")
        _ = try t.node.system.createSite(SiteID("two.example")!, ownerID: owner.account.id, timeZone: "UTC", retention: .default, nowMs: t.clock.nowMs)
        try await t.app().test(.live) { client in
            let page = try await client.execute(uri: "/optout", method: .get)
            #expect(String(buffer: page.body).contains("Opt out on every site"))
            let optOut = try await client.execute(uri: "/optout", method: .post,
                                                  headers: [.contentType: "application/x-www-form-urlencoded", HTTPField.Name("Sec-Fetch-Site")!: "same-origin"],
                                                  body: ByteBuffer(string: "action=optout"))
            let cookie = try #require(optOut.headers[.setCookie])
            #expect(cookie.hasPrefix("footfall_optout=1"))
            let optedOut: HTTPFields = [.cookie: "footfall_optout=1"]
            let control = try await client.hit(hitJSON(site: "one.example", id: "counted-01", ts: t.clock.nowMs))
            #expect(jsonObject(control)["accepted"] as? Int == 1, "control: a hit without opt-out is counted")
            // Each declined hit is dropped, with a reply no origin can tell from a stored hit's.
            var declined = [TestResponse]()
            for site in ["one.example", "two.example"] {
                declined.append(try await client.hit(hitJSON(site: site, id: "optout-\(site.prefix(3))", ts: t.clock.nowMs), headers: optedOut))
            }
            let script = try await client.execute(uri: "/t.js", method: .get, headers: optedOut)
            #expect(!String(buffer: script.body).contains("/api/event"), "an opted-out browser gets a tracker that sends nothing")
            declined.append(try await client.hit(hitJSON(site: "one.example", id: "dnt-hit-01", ts: t.clock.nowMs), headers: [HTTPField.Name("DNT")!: "1"]))
            declined.append(try await client.hit(hitJSON(site: "one.example", id: "gpc-hit-01", ts: t.clock.nowMs), headers: [HTTPField.Name("Sec-GPC")!: "1"]))
            for reply in declined {
                #expect(reply.status == control.status && reply.body == control.body)
            }
            for site in ["one.example", "two.example"] {
                let (_, summary) = try await client.getJSON("/api/sites/\(site)/summary", owner.auth)
                #expect((summary as? [String: Any])?["pageviews"] as? Int == (site == "one.example" ? 1 : 0), "only the control hit is stored")
            }
        }
    }

    // MARK: 11. Accounts inactive for 720 days are deleted with their data

    @Test func promise11_idleAccountsAreDeletedWithTheirData() async throws {
        let t = try TestNode()
        let idle = try t.makeOwner("idle", site: "idle.example")
        let active = try t.makeOwner("active", site: "active.example")
        try await t.app().test(.router) { client in
            _ = try await client.hit(hitJSON(site: "idle.example", id: "idle-hit-1", ts: t.clock.nowMs, url: "/idle-marker-page"))
        }
        t.clock.advance(byMs: 700 * TimeUnits.dayMs)
        try t.node.system.touch(accountID: active.account.id, nowMs: t.clock.nowMs)
        try t.node.runMaintenance()
        #expect(try t.node.system.account(id: idle.account.id) != nil, "700 days idle is not yet 720")
        t.clock.advance(byMs: 21 * TimeUnits.dayMs)
        try t.node.runMaintenance()
        #expect(try t.node.system.account(id: idle.account.id) == nil)
        #expect(try t.node.system.site(idle.site.id) == nil)
        #expect(try t.node.system.token(secret: idle.token) == nil)
        #expect(try t.node.system.account(id: active.account.id) != nil)
        #expect(try t.node.store.dayTotals(site: idle.site.id, metric: .page, days: Day(index: 0)...Day(index: UInt32.max - 1)).isEmpty)
        // Compaction has removed the data; the MANIFEST may still list the deleted files' boundary
        // keys until it rolls over, which a restart forces.
        try t.reopenStorage()
        let files = try t.filesContaining(Array("/idle-marker-page".utf8))
        #expect(files == [])
    }

    // MARK: 12. Passwords salted and hashed; HTTPS by default

    @Test func promise12_passwordsAreSaltedScryptHashes() throws {
        let t = try TestNode()
        let a = try t.node.system.createAccount(email: "a@example.net", password: "the same password", nowMs: t.clock.nowMs)
        let b = try t.node.system.createAccount(email: "b@example.net", password: "the same password", nowMs: t.clock.nowMs)
        #expect(a.passwordHash != b.passwordHash, "per-user salt")
        #expect(try t.node.system.authenticate(email: "a@example.net", password: "the same password")?.id == a.id)
        #expect(try t.node.system.authenticate(email: "a@example.net", password: "the same passwore") == nil)
        #expect(try !t.contains(Array("the same password".utf8)))
    }
}
