import FootfallModel
import FootfallNode
import FootfallRuntime
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing

/// Regression tests for the findings of the second security review (issue 14) that a stranger,
/// a token or a browser can reach over HTTP.
@Suite struct SecondReviewTests {
    // MARK: 1. A token never reaches the account's credentials

    @Test func passwordChange_isRefusedToEveryToken_evenOneWithEveryRight() async throws {
        let t = try TestNode()
        let owner = try t.makeOwner("ann", site: "example.com")
        try await t.app().test(.router) { client in
            let change = "{\"current\":\"\(owner.password)\",\"new\":\"taken over by a script\"}"
            let response = try await client.execute(uri: "/api/password", method: .post,
                                                    headers: owner.auth.merging([.contentType: "application/json"]),
                                                    body: ByteBuffer(string: change))
            #expect(response.status == .forbidden)
        }
        #expect(try t.node.system.authenticate(email: owner.email, password: owner.password) != nil, "the old password still works")
        #expect(try t.node.system.authenticate(email: owner.email, password: "taken over by a script") == nil)
    }

    @Test func passwordChange_fromASession_isRateLimitedLikeSignIn() async throws {
        let t = try TestNode()
        let owner = try t.makeOwner("ann", site: "example.com")
        try await t.app().test(.router) { client in
            let (cookie, csrf) = try await DashboardRouteTests.login(client, owner)
            let session: HTTPFields = [.cookie: cookie, HTTPField.Name("X-CSRF-Token")!: csrf, .contentType: "application/json"]
            var statuses = [HTTPResponse.Status]()
            for guess in 0..<12 {
                let response = try await client.execute(uri: "/api/password", method: .post, headers: session,
                                                        body: ByteBuffer(string: "{\"current\":\"guess \(guess)\",\"new\":\"a brand new password\"}"))
                statuses.append(response.status)
            }
            #expect(statuses.first == .forbidden, "a wrong current password is refused")
            #expect(statuses.suffix(3).allSatisfy { $0 == .tooManyRequests }, "\(statuses)")
        }
    }

    @Test func passwordWork_isRefusedBeyondItsSlots_notQueued() async throws {
        let limit = ConcurrencyLimit<String>(perKeyMax: 2, keysMax: 2)
        #expect(limit.acquire("scrypt") && limit.acquire("scrypt"))
        #expect(!limit.acquire("scrypt"), "a third job waits for nothing: it is refused")
        limit.release("scrypt")
        #expect(limit.acquire("scrypt"), "a finished job frees its slot")
        #expect(limit.acquire("other"))
        #expect(!limit.acquire("third key"), "the table of keys is bounded too")
        struct Busy: Error {}
        await #expect(throws: Busy.self) { try await limit.run("scrypt", refusal: Busy()) { 1 } }
    }

    @Test func signIn_acceptsOnlyJSON_soNoOtherSiteCanPostIt() async throws {
        let t = try TestNode()
        let owner = try t.makeOwner("ann", site: "example.com")
        try await t.app().test(.router) { client in
            let body = "{\"email\":\"\(owner.email)\",\"password\":\"\(owner.password)\"}"
            for type in ["text/plain", "application/x-www-form-urlencoded", ""] {
                let response = try await client.execute(uri: "/api/login", method: .post, headers: type.isEmpty ? [:] : [.contentType: type],
                                                        body: ByteBuffer(string: body))
                #expect(response.status == .unsupportedMediaType, "\(type)")
                #expect(response.headers[.setCookie] == nil)
            }
            let json = try await client.execute(uri: "/api/login", method: .post, headers: [.contentType: "application/json; charset=utf-8"],
                                                body: ByteBuffer(string: body))
            #expect(json.status == .ok, "control: the same sign-in as JSON works")
        }
    }

    // MARK: 2. No personal data from a visitor who never consented

    @Test func personalDataInEveryFreeTextField_neverReachesDisk() async throws {
        let t = try TestNode()
        let owner = try t.makeOwner("ann", site: "example.com")
        let fields = [
            "title": "\"title\":\"Inbox – title.mail@example.org\"",
            "prop key": "\"kind\":\"custom\",\"name\":\"signup\",\"props\":{\"key.mail@example.org\":\"yes\"}",
            "prop value": "\"kind\":\"custom\",\"name\":\"signup\",\"props\":{\"who\":\"Value.Mail@example.org\"}",
            "event name": "\"kind\":\"custom\",\"name\":\"welcome name.mail@example.org\"",
            "click target": "\"kind\":\"click\",\"name\":\"button\",\"target\":\"Write to target.mail@example.org\"",
            "phone in title": "\"title\":\"Call +49 (30) 123-45678 now\"",
        ]
        try await t.app().test(.live) { client in
            for (index, (field, extra)) in fields.sorted(by: { $0.key < $1.key }).enumerated() {
                let response = try await client.hit(hitJSON(site: "example.com", id: "pii-field-\(index)", ts: t.clock.nowMs, extra: extra))
                #expect(jsonObject(response)["accepted"] as? Int == 1, "\(field): the hit is kept, its personal data is not")
            }
            for url in ["/path/path.mail%40example.org/x", "/?utm_campaign=utm.mail@example.org", "/call/%2B4930123456789"] {
                let response = try await client.hit(hitJSON(site: "example.com", id: "pii-url-\(url.count)", ts: t.clock.nowMs, url: url))
                #expect(jsonObject(response)["accepted"] as? Int == 1, "\(url)")
            }
            let (_, pages) = try await client.getJSON("/api/sites/example.com/breakdown/page", owner.auth)
            let paths = Set(((pages as? [[String: Any]]) ?? []).compactMap { $0["value"] as? String })
            #expect(paths.contains("/path/(redacted)/x") && paths.contains("/call/(redacted)"), "\(paths)")
        }
        var stored = [Event]()
        try t.node.store.events(site: owner.site.id, in: TimeRange(startMs: t.clock.nowMs - TimeUnits.dayMs, endMs: t.clock.nowMs + 1),
                                nowMs: t.clock.nowMs, retention: owner.site.retention) { stored.append($0); return true }
        #expect(stored.contains { $0.title == "Inbox – (redacted)" }, "the rest of a title is kept")
        for needle in ["title.mail", "key.mail", "Value.Mail", "name.mail", "target.mail", "path.mail", "utm.mail", "123-45678", "4930123456789"] {
            #expect(try t.filesContaining(Array(needle.utf8)) == [], "\(needle) is on disk or in a log")
        }
    }

    // MARK: 8. An erased consented id stays erased (the tracker's side: Tests/Browser)

    @Test func erasedClientID_isRefusedForGood_andTheTrackerIsToldToForgetIt() async throws {
        let t = try TestNode()
        let owner = try t.makeOwner("ann", site: "example.com")
        let consented = "\"consent\":true,\"vid\":\"erasedbrowser0001\""
        try await t.app().test(.live) { client in
            _ = try await client.hit(hitJSON(site: "example.com", id: "before-erasure", ts: t.clock.nowMs, extra: consented))
            let erased = try await client.execute(uri: "/api/sites/example.com/erasures", method: .post,
                                                  headers: owner.auth.merging([.contentType: "application/json"]),
                                                  body: ByteBuffer(string: "{\"client_id\":\"erasedbrowser0001\"}"))
            #expect(jsonObject(erased)["status"] as? String == "complete")
            // A day later the same browser sends its old id again: refused, and told to forget it.
            t.clock.advance(byMs: TimeUnits.dayMs)
            let later = try await client.hit(hitJSON(site: "example.com", id: "after-erasure", ts: t.clock.nowMs, extra: consented))
            #expect(jsonObject(later)["accepted"] as? Int == 0)
            #expect(jsonObject(later)["renew_vid"] as? Bool == true)
            let (_, visitors) = try await client.getJSON("/api/sites/example.com/visitors", owner.auth)
            #expect((visitors as? [[String: Any]])?.isEmpty == true, "the erased visitor did not come back")
            // Control: another consented browser, and the same browser without consent, are counted.
            let other = try await client.hit(hitJSON(site: "example.com", id: "other-browser", ts: t.clock.nowMs,
                                                     extra: "\"consent\":true,\"vid\":\"anotherbrowser001\""))
            #expect(jsonObject(other)["accepted"] as? Int == 1 && jsonObject(other)["renew_vid"] == nil)
            let cookieless = try await client.hit(hitJSON(site: "example.com", id: "no-consent-now", ts: t.clock.nowMs))
            #expect(jsonObject(cookieless)["accepted"] as? Int == 1)
        }
    }

    // MARK: 10. Smaller findings

    @Test func optOutForm_refusesPostsThatCannotShowTheyCameFromItsPage() async throws {
        let t = try TestNode()
        try await t.app().test(.router) { client in
            let form: HTTPFields = [.contentType: "application/x-www-form-urlencoded"]
            let foreign = try await client.execute(uri: "/optout", method: .post,
                                                   headers: form.merging([HTTPField.Name("Origin")!: "https://tracker.example"]),
                                                   body: ByteBuffer(string: "action=optin"))
            #expect(foreign.status == .forbidden && foreign.headers[.setCookie] == nil)
            let unknown = try await client.execute(uri: "/optout", method: .post, headers: form, body: ByteBuffer(string: "action=optin"))
            #expect(unknown.status == .forbidden && unknown.headers[.setCookie] == nil)
            let own = try await client.execute(uri: "/optout", method: .post,
                                               headers: form.merging([HTTPField.Name("Origin")!: "http://localhost"]),
                                               body: ByteBuffer(string: "action=optout"))
            #expect(own.headers[.setCookie]?.hasPrefix("footfall_optout=1") == true, "an older browser on the page itself (Origin only) may")
        }
    }

    @Test func personalDataGivenLongerAgoThanThePlan_isRemoved_evenForAVisitorWhoKeepsReturning() async throws {
        let t = try TestNode()
        let owner = try t.makeOwner("ann", site: "example.com", retentionDays: 30)
        let visitor = VisitorID.consented(site: owner.site.id, clientID: "returningvisitor01")
        let consented = "\"consent\":true,\"vid\":\"returningvisitor01\""
        try await t.app().test(.router) { client in
            _ = try await client.hit(hitJSON(site: "example.com", id: "identify-day-0", ts: t.clock.nowMs,
                extra: consented + ",\"kind\":\"identify\",\"pii\":{\"email\":\"returning.visitor@example.org\",\"name\":\"Ann Returning\"}"))
            // Back every ten days or so: the record stays, and on day 31 the email is 31 days old.
            for daysLater in [10, 10, 11] {
                t.clock.advance(byMs: Int64(daysLater) * TimeUnits.dayMs)
                _ = try await client.hit(hitJSON(site: "example.com", id: "visit-after-\(t.clock.nowMs)", ts: t.clock.nowMs, extra: consented))
            }
        }
        #expect(try t.node.store.visitorRecord(site: owner.site.id, visitor: visitor)?.pii.email == "returning.visitor@example.org",
                "control: before maintenance the record holds the email")
        try t.node.runMaintenance()
        let record = try #require(try t.node.store.visitorRecord(site: owner.site.id, visitor: visitor), "the returning visitor keeps a record")
        #expect(record.pii.isEmpty)
        #expect(try t.filesContaining(Array("returning.visitor@example.org".utf8)) == [])
        #expect(try t.filesContaining(Array("Ann Returning".utf8)) == [])
    }

    @Test func rateLimiter_whenFull_neverHandsOutFreshBudgets() {
        let limiter = RateLimiter<Int>(ratePerSecond: 1, burst: 2, clientsMax: 3)
        let now: Int64 = 1_000_000
        #expect(limiter.allow(0, cost: 2, nowMs: now))
        #expect(!limiter.allow(0, nowMs: now), "client 0 spent its burst")
        for flood in 1...50 { _ = limiter.allow(flood, cost: 2, nowMs: now) }
        #expect(!limiter.allow(0, nowMs: now), "a flood of new clients did not reset client 0's budget")
        #expect(limiter.clientCount <= 3)
        #expect(!limiter.allow(99, nowMs: now), "new clients share the drained overflow bucket")
        #expect(limiter.allow(0, nowMs: now + 1000), "control: client 0's bucket refills with time")
    }

    @Test func liveStreams_areLimitedPerCredential() async throws {
        let t = try TestNode()
        let owner = try t.makeOwner("ann", site: "example.com")
        let token = try #require(try t.node.system.tokens(accountID: owner.account.id).first)
        let key = "token:" + token.id
        for _ in 0..<t.node.liveStreams.perKeyMax { #expect(t.node.liveStreams.acquire(key)) }
        try await t.app().test(.router) { client in
            let response = try await client.execute(uri: "/api/sites/example.com/live", method: .get, headers: owner.auth)
            let body = String(buffer: response.body)
            #expect(body.contains("event: busy") && !body.contains("event: snapshot"), "\(body)")
        }
        #expect(t.node.liveStreams.inUse(key) == t.node.liveStreams.perKeyMax, "the refused stream took no slot")
    }
}
