@testable import FootfallModel
import Testing

/// The columnar engine against the row-by-row reference: random days of traffic (visits across
/// midnight, late engagement pings, identify calls, clicks whose names hold a colon), random ranges
/// and random filter combinations, identical answers.
@Suite struct SegmentAnalysisTests {
    static let site = SiteID("shop.example")!
    static let firstDay = Day(containing: 1_781_524_800_000)

    static func traffic(seed: UInt64) -> [Event] {
        var random = SplitMix64(seed: seed)
        func pick<T>(_ values: [T]) -> T { values[Int(random.next() % UInt64(values.count))] }
        var events = [Event]()
        for visitorIndex in 0..<60 {
            let visitor = VisitorID(rawValue: random.next())
            // Visits cluster around the two midnights so many of them span one.
            var ts = firstDay.startMs + Int64(random.next() % UInt64(3 * TimeUnits.dayMs))
            if visitorIndex % 3 == 0 { ts = firstDay.advanced(by: 1).startMs - Int64(random.next() % 3_600_000) }
            for n in 0..<Int(1 + random.next() % 12) {
                ts += Int64(random.next() % 50) * 60_000 // gaps of 0–49 minutes: some split visits
                guard ts < firstDay.advanced(by: 3).startMs else { break }
                let kind = pick([Event.Kind.pageview, .pageview, .pageview, .click, .custom, .engagement, .identify])
                var event = Event(id: EventID.forHit(site: site, hitID: "h\(seed)-\(visitorIndex)-\(n)", timestampMs: ts),
                                  site: site, visitor: visitor, timestampMs: ts, kind: kind, path: pick(["/", "/a", "/b", "/c:d"]))
                event.referrerHost = pick(["", "t.co", "google.com"])
                event.utm = UTM(source: pick(["", "news"]))
                event.geo = Geo(country: pick(["DE", "FR", ""]))
                event.device = Device(browser: pick(["Chrome", "Firefox"]), deviceClass: pick([.desktop, .mobile, .tablet]))
                if kind == .click { event.name = pick(["click", "a:b"]); event.target = pick(["x", "b:x", ""]) }
                if kind == .custom { event.name = pick(["signup", "buy"]) }
                events.append(event)
            }
        }
        return events
    }

    static func segments(_ events: [Event]) -> [EventSegment] {
        Dictionary(grouping: events, by: \.day).sorted { $0.key < $1.key }.map { EventSegment(site: site, day: $0.key, events: $0.value) }
    }

    static let filterChoices: [(RollupMetric, [String])] = [
        (.page, ["/", "/a", "/c:d", "/none"]), (.referrer, ["t.co", "", "bing.com"]), (.country, ["DE", ""]),
        (.device, ["mobile", "desktop", "watch"]), (.customEvent, ["signup", "buy"]), (.click, ["click:x", "a:b:x", "a:b", "click:"]),
        (.entryPage, ["/", "/a", "/c:d"]), (.exitPage, ["/b", "/"]), (.utmSource, ["news"]), (.browser, ["Firefox"]),
    ]

    @Test(arguments: 0..<40)
    func answersEqualTheRowReference(seed: Int) {
        var random = SplitMix64(seed: UInt64(seed) &* 7919)
        let events = Self.traffic(seed: UInt64(seed))
        let segments = Self.segments(events)
        for _ in 0..<8 {
            let start = Self.firstDay.startMs + Int64(random.next() % UInt64(2 * TimeUnits.dayMs))
            let end = start + Int64(1 + random.next() % UInt64(2 * TimeUnits.dayMs))
            var filters = [ReportFilter]()
            for _ in 0..<Int(random.next() % 3) {
                let (metric, values) = Self.filterChoices[Int(random.next() % UInt64(Self.filterChoices.count))]
                filters.append(ReportFilter(metric: metric, value: values[Int(random.next() % UInt64(values.count))]))
            }
            let rows = RowAnalysis(events.filter { (start..<end).contains($0.timestampMs) }, filters: filters)
            let columns = SegmentAnalysis(segments, range: start..<end, filters: filters)
            let scope = "seed \(seed), \(start)..<\(end), \(filters.map { "\($0.metric.name)=\($0.value)" })"
            #expect(columns.summary == rows.summary, "\(scope)")
            for metric in [RollupMetric.page, .referrer, .device, .click, .customEvent, .entryPage, .exitPage] {
                #expect(columns.breakdown(metric).sorted { $0.value < $1.value } == rows.breakdown(metric).sorted { $0.value < $1.value },
                        "\(scope), breakdown by \(metric.name)")
            }
            let starts = Array(stride(from: start, to: end, by: Int(TimeUnits.hourMs)))
            #expect(columns.timeseries(starts: starts, endMs: end) == rows.timeseries(starts: starts, endMs: end), "\(scope)")
        }
    }

    /// The reference is not vacuous: the random filters leave some events and some visits, and some
    /// visits span midnight.
    @Test func theTrafficExercisesTheRules() {
        let events = Self.traffic(seed: 1)
        let all = RowAnalysis(events, filters: [])
        #expect(all.matching.count == events.count)
        #expect(all.matchingVisits.contains { Day(containing: $0.startMs) != Day(containing: $0.endMs) })
        #expect(RowAnalysis(events, filters: [ReportFilter(metric: .entryPage, value: "/a")]).matchingVisits.count > 0)
        #expect(RowAnalysis(events, filters: [ReportFilter(metric: .click, value: "a:b:x")]).matching.count > 0)
    }
}
