import Foundation
import FootfallModel
import FootfallNode
import FootfallStorage
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing

/// Reports in the site's time zone, filters, and retention: raw events expire, aggregates stay.
@Suite struct ReportTests {
    static func utc(_ text: String) -> Int64 {
        let formatter = ISO8601DateFormatter()
        return Int64(formatter.date(from: text)!.timeIntervalSince1970 * 1000)
    }

    func store(_ t: TestNode, _ site: Site, _ times: [Int64], path: String = "/", title: String = "", visitorBase: UInt64 = 1) throws {
        let events = times.enumerated().map { i, ms -> Event in
            var event = Event(id: EventID.forHit(site: site.id, hitID: "h\(i)-\(ms)-\(path)", timestampMs: ms), site: site.id,
                              visitor: VisitorID(rawValue: visitorBase + UInt64(i)), timestampMs: ms, kind: .pageview, path: path)
            event.title = title
            event.geo = Geo(country: "NP")
            return event
        }
        _ = try t.node.store.apply(events, nowMs: t.clock.nowMs) { _ in site.retention }
    }

    func summary(_ client: some TestClientProtocol, _ owner: TestNode.Owner, _ query: String) async throws -> [String: Any] {
        let response = try await client.execute(uri: "/api/sites/\(owner.site.id)/summary?\(query)", method: .get, headers: owner.auth)
        return jsonObject(response)
    }

    /// A breakdown's rows as value → count; `query` is "dimension?parameters".
    func breakdownCounts(_ client: some TestClientProtocol, _ owner: TestNode.Owner, _ query: String) async throws -> [String: Int] {
        let response = try await client.execute(uri: "/api/sites/\(owner.site.id)/breakdown/\(query)", method: .get, headers: owner.auth)
        return Dictionary(jsonArray(response).map { ($0["value"] as? String ?? "?", $0["count"] as? Int ?? -1) }, uniquingKeysWith: +)
    }

    @Test(arguments: [("Asia/Kolkata", "2026-06-14T18:29:00Z", "2026-06-14T18:31:00Z"),     // +5:30
                      ("Asia/Kathmandu", "2026-06-14T18:14:00Z", "2026-06-14T18:16:00Z"),   // +5:45
                      ("America/St_Johns", "2026-06-15T02:29:00Z", "2026-06-15T02:31:00Z")] // -2:30
    )
    func localDay_isExact_inHalfAndQuarterHourZones(zone: String, before: String, after: String) async throws {
        let t = try TestNode(nowMs: ReportTests.utc("2026-06-15T12:00:00Z"))
        let owner = try t.makeOwner("ann", site: "zone.example", timeZone: zone)
        try store(t, owner.site, [ReportTests.utc(before), ReportTests.utc(after)])
        try await t.app().test(.router) { client in
            let day14 = try await summary(client, owner, "from=2026-06-14&to=2026-06-14")
            let day15 = try await summary(client, owner, "from=2026-06-15&to=2026-06-15")
            #expect(day14["pageviews"] as? Int == 1, "\(zone): the event just before local midnight")
            #expect(day15["pageviews"] as? Int == 1, "\(zone): the event just after local midnight")
            let countries = jsonArray(try await client.execute(uri: "/api/sites/zone.example/breakdown/country?from=2026-06-14&to=2026-06-14",
                                                               method: .get, headers: owner.auth))
            #expect(countries.map { $0["count"] as? Int } == [1], "\(zone): a breakdown counts the same local day")
            let days = jsonArray(try await client.execute(uri: "/api/sites/zone.example/timeseries?interval=day&from=2026-06-13&to=2026-06-16",
                                                          method: .get, headers: owner.auth))
            #expect(days.map { $0["pageviews"] as? Int } == [0, 1, 1, 0])
        }
    }

    /// A zone change applies to the dates built from then on: a date already built keeps the
    /// boundaries it was counted with (its packs are per local date, not re-cut); a date not built
    /// yet is cut in the new zone.
    @Test func zoneChange_keepsBuiltDates_andCutsTheRestInTheNewZone() async throws {
        let t = try TestNode(nowMs: ReportTests.utc("2026-06-15T00:00:00Z"))
        var owner = try t.makeOwner("ann", site: "moved.example", timeZone: "UTC")
        try store(t, owner.site, [ReportTests.utc("2026-06-14T23:30:00Z")], path: "/built")
        // A week on, the maintenance pass has built the 14th (in UTC).
        t.clock.advance(byMs: 7 * TimeUnits.dayMs)
        try t.node.runMaintenance()
        owner.site.timeZone = "Asia/Kolkata"
        try t.node.system.updateSite(owner.site)
        // 23:40 UTC on the 21st is 05:10 on the 22nd in Kolkata.
        try store(t, owner.site, [ReportTests.utc("2026-06-21T23:40:00Z")], path: "/recent")
        let auth = owner.auth
        try await t.app().test(.router) { client in
            for (day, pages) in [("2026-06-14", ["/built"]), ("2026-06-15", []), ("2026-06-21", []), ("2026-06-22", ["/recent"])] {
                let rows = jsonArray(try await client.execute(uri: "/api/sites/moved.example/breakdown/page?from=\(day)&to=\(day)",
                                                              method: .get, headers: auth))
                #expect(rows.map { $0["value"] as? String } == pages, "\(day)")
            }
        }
    }

    @Test(arguments: [("2026-03-08", 23, "2026-03-09T12:00:00Z"), ("2026-11-01", 25, "2026-11-02T12:00:00Z")])
    func dstDays_have23or25Hours(day: String, hours: Int, now: String) async throws {
        let t = try TestNode(nowMs: ReportTests.utc(now))
        let owner = try t.makeOwner("ann", site: "dst.example", timeZone: "America/New_York")
        // One pageview in each UTC hour from 03:00 UTC of the day to 06:00 UTC of the next.
        let start = ReportTests.utc("\(day)T03:00:00Z")
        try store(t, owner.site, (0..<27).map { start + Int64($0) * TimeUnits.hourMs + 60_000 })
        try await t.app().test(.router) { client in
            let response = try await client.execute(uri: "/api/sites/dst.example/timeseries?interval=hour&from=\(day)&to=\(day)",
                                                    method: .get, headers: owner.auth)
            let points = jsonArray(response)
            #expect(points.count == hours)
            let total = points.compactMap { $0["pageviews"] as? Int }.reduce(0, +)
            #expect(total == hours, "every hour of the local day holds exactly its own pageview")
            let daily = try await summary(client, owner, "from=\(day)&to=\(day)")
            #expect(daily["pageviews"] as? Int == hours)
        }
    }

    @Test func dailyPoints_equalTheSumOfTheirHours() async throws {
        let t = try TestNode()
        let owner = try t.makeOwner("ann", site: "series.example")
        var generator = SplitMix64(seed: 7)
        let times = (0..<500).map { _ in TestNode.noon - Int64.random(in: 0..<(3 * TimeUnits.dayMs), using: &generator) }
        try store(t, owner.site, times)
        try await t.app().test(.router) { client in
            let range = "from=2026-06-12&to=2026-06-15"
            let days = jsonArray(try await client.execute(uri: "/api/sites/series.example/timeseries?interval=day&\(range)", method: .get, headers: owner.auth))
            let hours = jsonArray(try await client.execute(uri: "/api/sites/series.example/timeseries?interval=hour&\(range)", method: .get, headers: owner.auth))
            #expect(days.count == 4 && hours.count == 96)
            for (d, day) in days.enumerated() {
                let hourly = hours[(d * 24)..<(d * 24 + 24)].compactMap { $0["pageviews"] as? Int }.reduce(0, +)
                #expect(day["pageviews"] as? Int == hourly, "day \(d)")
            }
            #expect(days.compactMap { $0["pageviews"] as? Int }.reduce(0, +) == 500)
        }
    }

    @Test func filters_narrowEveryReport_fromRawEvents() async throws {
        let t = try TestNode()
        let owner = try t.makeOwner("ann", site: "filter.example")
        let now = t.clock.nowMs
        try store(t, owner.site, [now - 3_600_000, now - 3_500_000], path: "/pricing", visitorBase: 10)
        try store(t, owner.site, [now - 3_400_000], path: "/blog", visitorBase: 20)
        try await t.app().test(.router) { client in
            let all = try await summary(client, owner, "")
            #expect(all["pageviews"] as? Int == 3)
            let pricing = try await summary(client, owner, "filter.page=/pricing")
            #expect(pricing["pageviews"] as? Int == 2)
            #expect(pricing["visitors"] as? Int == 2)
            let countries = try await client.execute(uri: "/api/sites/filter.example/breakdown/page?filter.country=NP", method: .get, headers: owner.auth)
            #expect(jsonArray(countries).map { $0["value"] as? String } == ["/pricing", "/blog"])
            let none = try await summary(client, owner, "filter.country=FR")
            #expect(none["pageviews"] as? Int == 0)
        }
    }

    /// Entry and exit page filter visits: a visit that merely passes through the page is not one
    /// that entered (or left) there.
    @Test func entryAndExitFilters_keepWholeVisitsThatBeganOrEndedThere() async throws {
        let t = try TestNode()
        let owner = try t.makeOwner("ann", site: "entry.example")
        let start = t.clock.nowMs - 3_600_000
        // Visitor 1: /blog then /pricing. Visitor 2: /pricing then /blog. Visitor 3: /pricing only.
        let visits: [(UInt64, [String])] = [(1, ["/blog", "/pricing"]), (2, ["/pricing", "/blog"]), (3, ["/pricing"])]
        let events = visits.flatMap { visitor, paths in
            paths.enumerated().map { step, path in
                let ms = start + Int64(visitor) * 1_000 + Int64(step) * 60_000
                return Event(id: EventID.forHit(site: owner.site.id, hitID: "v\(visitor)-\(step)", timestampMs: ms), site: owner.site.id,
                             visitor: VisitorID(rawValue: visitor), timestampMs: ms, kind: .pageview, path: path)
            }
        }
        _ = try t.node.store.apply(events, nowMs: t.clock.nowMs) { _ in owner.site.retention }
        try await t.app().test(.router) { client in
            let enteredOnBlog = try await summary(client, owner, "filter.entry_page=/blog")
            #expect(enteredOnBlog["visits"] as? Int == 1)
            #expect(enteredOnBlog["visitors"] as? Int == 1)
            #expect(enteredOnBlog["pageviews"] as? Int == 2, "both pageviews of the visit that entered on /blog")
            let pagesAfterBlog = try await breakdownCounts(client, owner, "page?filter.entry_page=/blog")
            #expect(pagesAfterBlog == ["/blog": 1, "/pricing": 1])
            let leftFromBlog = try await summary(client, owner, "filter.exit_page=/blog")
            #expect(leftFromBlog["visits"] as? Int == 1)
            #expect(leftFromBlog["pageviews"] as? Int == 2)
            // Visit and event filters together: /blog pageviews of visits that entered on /pricing.
            let both = try await summary(client, owner, "filter.entry_page=/pricing&filter.page=/blog")
            #expect(both["pageviews"] as? Int == 1)
            #expect(both["visits"] as? Int == 1)
            let entriesOfVisitsLeavingFromPricing = try await breakdownCounts(client, owner, "entry_page?filter.exit_page=/pricing")
            #expect(entriesOfVisitsLeavingFromPricing == ["/blog": 1, "/pricing": 1])
            let exitsOfVisitsSeeingBlog = try await breakdownCounts(client, owner, "exit_page?filter.page=/blog")
            #expect(exitsOfVisitsSeeingBlog == ["/pricing": 1, "/blog": 1])
            let nobody = try await summary(client, owner, "filter.entry_page=/nowhere")
            #expect(nobody["visits"] as? Int == 0)
            #expect(nobody["pageviews"] as? Int == 0)
        }
    }

    @Test func retention_expiresRawEvents_keepsAggregatesIdentical() async throws {
        let t = try TestNode()
        let owner = try t.makeOwner("ann", site: "keep.example", retentionDays: 30)
        let now = t.clock.nowMs
        let marker = "retention-marker-\(UUID().uuidString.prefix(8))"
        try store(t, owner.site, (0..<40).map { now - Int64($0) * 1_800_000 }, path: "/a", title: marker, visitorBase: 100)
        try store(t, owner.site, (0..<10).map { now - Int64($0) * 3_600_000 }, path: "/b", title: marker, visitorBase: 200)
        let range = "from=2026-06-13&to=2026-06-15"
        let reports = ["summary?\(range)", "breakdown/page?\(range)", "breakdown/entry_page?\(range)", "breakdown/country?\(range)",
                       "timeseries?interval=hour&\(range)", "timeseries?interval=day&\(range)"]
        try await t.app().test(.router) { client in
            var snapshot = [String: String]()
            for report in reports {
                snapshot[report] = String(buffer: try await client.execute(uri: "/api/sites/keep.example/\(report)", method: .get, headers: owner.auth).body)
            }
            #expect(try t.contains(Array(marker.utf8)), "positive control: raw events are on disk")
            let filtered = try await summary(client, owner, "\(range)&filter.page=/a")
            #expect(filtered["pageviews"] as? Int == 40)

            t.clock.advance(byMs: 31 * TimeUnits.dayMs)
            // Reads hide expired events even before anything is deleted.
            let hidden = try await summary(client, owner, "\(range)&filter.page=/a")
            #expect(hidden["pageviews"] as? Int == 0)
            try t.node.runMaintenance()
            for report in reports {
                let now = String(buffer: try await client.execute(uri: "/api/sites/keep.example/\(report)", method: .get, headers: owner.auth).body)
                #expect(now == snapshot[report], "\(report) changed after retention")
            }
            #expect(t.node.metrics.value("footfall_retention_oldest_event_age_seconds", labels: ["site": "keep.example"]) == 0)
        }
        #expect(try t.node.store.oldestEventMs(site: owner.site.id) == nil)
        let files = try t.filesContaining(Array(marker.utf8))
        #expect(files == [], "expired raw events must be physically gone")
    }
}
