@testable import FootfallModel
import FootfallTestSupport
import Testing

/// The columnar engine against the row-by-row reference: random days of traffic (visits across
/// midnight, late engagement pings, identify calls, clicks whose names hold a colon), random ranges
/// and random filter combinations, identical answers.
@Suite struct SegmentAnalysisTests {
    static let site = SiteID("shop.example")!
    static let firstDay = Day(containing: 1_781_524_800_000)

    static func traffic(seed: UInt64) -> [Event] {
        RandomTraffic.events(site: site, from: firstDay, seed: seed, visitors: 60)
    }

    /// Each day's events in (visitor, time) order, cut into up to four parts as the store cuts a
    /// big day (a visitor at a cut continues in the next part); on some days a random tenth of the
    /// events is held apart as one more segment, as a day not sealed holds the events stored since
    /// its base was built, with the visitors in both kept in every segment of the day.
    static func segments(_ events: [Event], random: inout SplitMix64) -> [IndexedSegment] {
        Dictionary(grouping: events, by: \.day).sorted { $0.key < $1.key }.flatMap { day, events in
            var rows = events.sorted(by: EventSegment.rowOrder)
            var since = [Event]()
            if random.next() % 2 == 0 {
                let apart = rows.indices.filter { _ in random.next() % 10 == 0 }
                since = apart.map { rows[$0] }
                rows = rows.indices.filter { !Set(apart).contains($0) }.map { rows[$0] }
            }
            let cuts = ([0, rows.count] + (0..<Int(random.next() % 4)).map { _ in Int(random.next() % UInt64(rows.count + 1)) }).sorted()
            var parts = zip(cuts, cuts.dropFirst()).filter { $0 < $1 }.map { IndexedSegment(EventSegment(site: site, day: day, events: Array(rows[$0..<$1]))) }
            if !since.isEmpty {
                let visitors = Set(since.map(\.visitor))
                parts = (parts + [IndexedSegment(EventSegment(site: site, day: day, events: since))]).map { $0.keeping(visitors) }
            }
            return parts
        }
    }

    /// The engine's answer, with the visitors split into `shards`, counted on as many threads
    /// once segments of `batchRows` rows are pending (0: segment by segment; `.max`: all on this
    /// thread at the end).
    static func answer<Tally: ReportTally>(_ segments: [IndexedSegment], _ range: Range<Int64>, _ filters: [ReportFilter],
                                           shards: Int = 1, batchRows: Int = .max, _ tally: @escaping () -> Tally) -> Tally.Answer {
        let analysis = ShardedAnalysis(range: range, filters: filters, shards: shards, parallelRowsMin: batchRows, tally: tally)
        for segment in segments { analysis.add(segment) }
        return analysis.finish()
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
        let segments = Self.segments(events, random: &random)
        for attempt in 0..<8 {
            // Half the ranges are whole days (the engine then uses the visits indexed with each
            // segment), half cut days anywhere.
            var start = Self.firstDay.startMs + Int64(random.next() % UInt64(2 * TimeUnits.dayMs))
            var end = start + Int64(1 + random.next() % UInt64(2 * TimeUnits.dayMs))
            if attempt % 2 == 0 {
                start = Self.firstDay.advanced(by: Int(random.next() % 2)).startMs
                end = Day(containing: start).advanced(by: 1 + Int(random.next() % 2)).startMs
            }
            var filters = [ReportFilter]()
            for _ in 0..<Int(random.next() % 3) {
                let (metric, values) = Self.filterChoices[Int(random.next() % UInt64(Self.filterChoices.count))]
                filters.append(ReportFilter(metric: metric, value: values[Int(random.next() % UInt64(values.count))]))
            }
            // One analysis, or the visitors split in two or three shards, counted one after the
            // other, on as many threads segment by segment, or in batches of a few segments.
            let shards = 1 + attempt % 3, batchRows = [Int.max, 50, 0][(attempt / 2) % 3]
            let rows = RowAnalysis(events.filter { (start..<end).contains($0.timestampMs) }, filters: filters)
            let scope = "seed \(seed), \(start)..<\(end), \(filters.map { "\($0.metric.name)=\($0.value)" }), \(shards) shards, batches of \(batchRows) rows"
            #expect(Self.answer(segments, start..<end, filters, shards: shards, batchRows: batchRows, SummaryTally.init) == rows.summary, "\(scope)")
            for metric in [RollupMetric.page, .referrer, .device, .click, .customEvent, .entryPage, .exitPage] {
                #expect(Self.answer(segments, start..<end, filters, shards: shards, batchRows: batchRows) { BreakdownTally(metric) }
                        .sorted { $0.value < $1.value } == rows.breakdown(metric).sorted { $0.value < $1.value }, "\(scope), breakdown by \(metric.name)")
            }
            let starts = Array(stride(from: start, to: end, by: Int(TimeUnits.hourMs)))
            #expect(Self.answer(segments, start..<end, filters, shards: shards, batchRows: batchRows) { TimeseriesTally(starts: starts, endMs: end) }
                    == rows.timeseries(starts: starts, endMs: end), "\(scope)")
        }
    }

    /// However the ranges are cut (few visitors, repeated ids, id 0, the last id), each visitor
    /// of every segment is in exactly one range, and the ranges' runs are the segment's runs.
    @Test(arguments: 1...4)
    func visitorRanges_holdEveryVisitorOnce(count: Int) {
        var random = SplitMix64(seed: UInt64(count))
        for attempt in 0..<50 {
            let ids = [0, .max] + (0..<Int(random.next() % 40)).map { _ in attempt % 2 == 0 ? random.next() % 8 : random.next() }
            let sample = ids.sorted().map { VisitorID(rawValue: $0) }
            let ranges = VisitorRange.split(count, like: attempt % 5 == 0 ? [] : sample)
            #expect((1...count).contains(ranges.count))
            let events = Set(ids).enumerated().map { n, id in
                Event(id: EventID.forHit(site: Self.site, hitID: "r\(n)", timestampMs: Self.firstDay.startMs + Int64(n)), site: Self.site,
                      visitor: VisitorID(rawValue: id), timestampMs: Self.firstDay.startMs + Int64(n), kind: .pageview, path: "/")
            }
            let segment = EventSegment(site: Self.site, day: Self.firstDay, events: events)
            #expect(ranges.flatMap { $0.runs(in: segment) } == Array(segment.visitors.indices), "\(ranges)")
        }
    }

    /// A range with no segments at all (a site with no events yet) answers zeros.
    @Test func noSegments_answerNothing() {
        let range = Self.firstDay.startMs..<Self.firstDay.advanced(by: 1).startMs
        #expect(Self.answer([], range, [ReportFilter(metric: .page, value: "/")], SummaryTally.init)
                == Summary(pageviews: 0, visitors: 0, visits: 0, bounces: 0, visitDurationMs: 0, events: 0))
        #expect(Self.answer([], range, [], shards: 2, batchRows: 0) { BreakdownTally(.entryPage) }.isEmpty)
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
        // Both of the engine's ways to visits are taken: runs whose indexed visits are whole, and
        // runs derived again across segments.
        var random = SplitMix64(seed: 1)
        let runs = Self.segments(events, random: &random).flatMap(\.runIsWhole)
        #expect(runs.contains(true) && runs.contains(false))
    }
}
