import Foundation
import FootfallModel
import FootfallNode
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing

/// The realtime view (`/api/sites/{site}/realtime`), read from the days held in memory as columns:
/// its figures are those of the hits themselves, worked out here row by row.
@Suite struct RealtimeTests {
    struct Sent: Sendable {
        let id: String, visitor: Int, ts: Int64, kind: String, path: String, referrer: String
    }

    @Test func snapshot_equalsTheHitsOfTheLastHalfHour() async throws {
        let t = try TestNode()
        let owner = try t.makeOwner("ann", site: "example.com")
        let now = t.clock.nowMs, minute = TimeUnits.minuteMs
        var sent = [Sent]()
        for visitor in 0..<6 {
            sent.append(Sent(id: "old-\(visitor)-0000", visitor: visitor, ts: now - 40 * minute, kind: "pageview", path: "/old", referrer: ""))
            sent.append(Sent(id: "page-\(visitor)-000", visitor: visitor, ts: now - Int64(20 + visitor) * minute, kind: "pageview",
                             path: "/p\(visitor % 3)", referrer: visitor % 2 == 0 ? "t.co" : ""))
        }
        // Visitor 2 reads on: more rows than the feed shows, and than the snapshot holds before it
        // first trims its feed (four times the feed), so rows older than the feed are skipped.
        for n in 0..<260 {
            sent.append(Sent(id: "read-\(n)-0000", visitor: 2, ts: now - 10 * minute + Int64(n) * 2_000, kind: "pageview",
                             path: "/long/\(n % 4)", referrer: ""))
        }
        sent.append(Sent(id: "click-1-0000", visitor: 1, ts: now - 2 * minute, kind: "click", path: "/p1", referrer: ""))
        sent.append(Sent(id: "ping-0-00000", visitor: 0, ts: now - 30_000, kind: "engagement", path: "/p0", referrer: ""))
        let hits = sent
        try await t.app().test(.router) { client in
            for hit in hits {
                let referrer = hit.referrer.isEmpty ? "" : ",\"referrer\":\"https://\(hit.referrer)/x\""
                let engagement = hit.kind == "engagement" ? ",\"engagement_ms\":5000" : ""
                let response = try await client.hit(hitJSON(site: "example.com", id: hit.id, ts: hit.ts, url: "https://example.com\(hit.path)",
                    extra: "\"kind\":\"\(hit.kind)\",\"consent\":true,\"vid\":\"realtime-visitor-\(hit.visitor)-0000\"\(referrer)\(engagement)"))
                #expect(response.status == .accepted)
            }
            let (status, body) = try await client.getJSON("/api/sites/example.com/realtime", owner.auth)
            #expect(status == .ok)
            let snapshot = try #require(body as? [String: Any])

            let window = hits.filter { $0.ts >= now - 30 * minute }
            let online = Set(window.filter { $0.ts >= now - 5 * minute }.map(\.visitor))
            let active = Set(window.filter { $0.ts >= now - minute }.map(\.visitor))
            #expect(snapshot["online_visitors"] as? Int == online.count)
            #expect(snapshot["active_visitors"] as? Int == active.count)
            let feed = try #require(snapshot["feed"] as? [[String: Any]])
            let expectedFeed = window.filter { $0.kind != "engagement" }.sorted { $0.ts > $1.ts }.prefix(50)
            #expect(feed.map { $0["path"] as? String } == expectedFeed.map(\.path))
            #expect(feed.map { ($0["timestamp_ms"] as? NSNumber)?.int64Value } == expectedFeed.map(\.ts))
            let pageviews = window.filter { $0.kind == "pageview" }
            func top(_ key: (Sent) -> String) -> [String] {
                let counts = Dictionary(grouping: pageviews.filter { !key($0).isEmpty }, by: key).mapValues(\.count)
                return counts.sorted { ($0.value, $1.key) > ($1.value, $0.key) }.prefix(10).map { "\($0.key) \($0.value)" }
            }
            let pages = try #require(snapshot["top_pages"] as? [[String: Any]])
            #expect(pages.map { "\($0["value"] as? String ?? "") \($0["count"] as? Int ?? -1)" } == top(\.path))
            let sources = try #require(snapshot["top_sources"] as? [[String: Any]])
            #expect(sources.map { "\($0["value"] as? String ?? "") \($0["count"] as? Int ?? -1)" } == top(\.referrer))
            let p0 = try #require(pages.first { $0["value"] as? String == "/p0" })
            #expect(p0["visitors"] as? Int == Set(pageviews.filter { $0.path == "/p0" }.map(\.visitor)).count)
        }
    }
}
