import Foundation
import FootfallModel
@testable import FootfallStorage
import FootfallTestSupport
import Testing

/// The query engine over a real store against the row reference, as a site's life goes: random
/// traffic (visits across midnight, consented and cookieless visitors) sent in random batches, in
/// random order and partly twice, with reports between them (so days are built into memory and
/// fed by later writes), sealing passes (so later hits of a sealed day wait beside its segment),
/// and erasures. After each step random questions — local days of the site's zone or ranges cut
/// anywhere, up to two filters — are answered from the store's segments and, by `RowAnalysis`,
/// from the events the test knows are visible: sent, and not fenced by an erasure.
///
/// `FOOTFALL_DIFF_SEEDS` seeds (12 in `make test`; `make differential` runs 500).
@Suite struct EngineDifferentialTests {
    static let seeds = max(1, ProcessInfo.processInfo.environment["FOOTFALL_DIFF_SEEDS"].flatMap(Int.init) ?? 12)
    /// Half a day after the traffic's third day: the first two days can be sealed, the third is
    /// still written to.
    static let nowMs = RollupBuildTests.firstDay.advanced(by: 3).startMs + 12 * TimeUnits.hourMs
    let plan = RetentionPlan(days: 30)!

    @Test(arguments: 0..<EngineDifferentialTests.seeds)
    func engineAnswers_equalTheRowReference_throughWritesSealingAndErasures(seed: Int) throws {
        var random = SplitMix64(seed: UInt64(seed) &* 0x9E37 ^ 0xD1FF)
        let calendar = SiteCalendar(identifier: RollupBuildTests.zones[seed % RollupBuildTests.zones.count])
        let store = try EventStore(kv: InMemoryStore(), calendars: { _ in calendar })
        var events = RandomTraffic.events(site: site, from: RollupBuildTests.firstDay, seed: UInt64(seed), visitors: 40)
        // A third of the visitors consented (their ids are what an erasure names).
        let consenting = Set(events.map(\.visitor).filter { $0.rawValue % 3 == 0 })
        for i in events.indices where consenting.contains(events[i].visitor) { events[i].consented = true }
        var unsent = events + events.filter { _ in random.next() % 5 == 0 }
        unsent.shuffle(using: &random)

        var sent = [Event](), sentIDs = Set<EventID>(), fences = [VisitorID: Int64]()
        var steps = (sealed: 0, erased: 0, asked: 0)
        // Sealing by half of what is sent and an erasure by two thirds happen surely, more at random.
        let half = unsent.count / 2, third = unsent.count / 3
        while !unsent.isEmpty {
            let batch = Array(unsent.prefix(Int(1 + random.next() % 60)))
            unsent.removeFirst(batch.count)
            _ = try store.apply(batch, nowMs: Self.nowMs, retention: { [plan] _ in plan })
            for event in batch where sentIDs.insert(event.id).inserted { sent.append(event) }
            switch unsent.count <= half && steps.sealed == 0 ? 0 : unsent.count <= third && steps.erased == 0 ? 1 : random.next() % 8 {
            case 0:
                steps.sealed += try store.sealSegments(site: site, plan: plan, nowMs: Self.nowMs).sealed
            case 1:
                let visitor = consenting.randomElement(using: &random)!
                _ = try store.erase(site: site, visitor: visitor, requestID: "er-\(seed)-\(steps.erased)", node: "n1",
                                    nowMs: Self.nowMs, fenceMs: Self.nowMs)
                fences[visitor] = Self.nowMs
                steps.erased += 1
            default:
                break
            }
            // Asked at random between batches, and surely once all is sent.
            guard unsent.isEmpty || random.next() % 3 == 0 else { continue }
            let visible = sent.filter { $0.timestampMs > fences[$0.visitor, default: .min] }
            try expectSameAnswers(store, visible, calendar: calendar, random: &random, "seed \(seed) after \(sent.count) sent")
            steps.asked += 1
        }
        #expect(steps.sealed > 0 && steps.erased > 0 && steps.asked > 0, "every kind of step happened: \(steps)")
    }

    /// Random questions answered by the engine over the store and by the rows of `visible`.
    func expectSameAnswers(_ store: EventStore, _ visible: [Event], calendar: SiteCalendar, random: inout SplitMix64, _ when: String) throws {
        let firstDay = calendar.day(containing: RollupBuildTests.firstDay.startMs)
        for attempt in 0..<3 {
            var start: Int64, end: Int64
            if attempt == 0 {
                // Local days of the site's zone, as a report asks.
                let first = firstDay.advanced(by: Int(random.next() % 3))
                start = calendar.startMs(of: first)
                end = calendar.startMs(of: first.advanced(by: 1 + Int(random.next() % 2)))
            } else {
                start = RollupBuildTests.firstDay.startMs + Int64(random.next() % UInt64(3 * TimeUnits.dayMs))
                end = start + Int64(1 + random.next() % UInt64(2 * TimeUnits.dayMs))
            }
            var filters = [ReportFilter]()
            for _ in 0..<Int(random.next() % 3) {
                let (metric, values) = Self.filterChoices[Int(random.next() % UInt64(Self.filterChoices.count))]
                filters.append(ReportFilter(metric: metric, value: values[Int(random.next() % UInt64(values.count))]))
            }
            var segments = [IndexedSegment]()
            try store.segments(site: site, in: TimeRange(startMs: start, endMs: end), nowMs: Self.nowMs, retention: plan) { segments.append($0) }
            let shards = 1 + attempt
            func answer<Tally: ReportTally>(_ tally: @escaping () -> Tally) -> Tally.Answer {
                let analysis = ShardedAnalysis(range: start..<end, filters: filters, shards: shards, tally: tally)
                for segment in segments { analysis.add(segment) }
                return analysis.finish()
            }
            let rows = RowAnalysis(visible.filter { (start..<end).contains($0.timestampMs) }, filters: filters)
            let question = "\(when): \(start)..<\(end), \(filters.map { "\($0.metric.name)=\($0.value)" })"
            #expect(answer(SummaryTally.init) == rows.summary, "\(question)")
            for metric in [RollupMetric.page, .country, .entryPage, .exitPage, .click] {
                #expect(answer { BreakdownTally(metric) }.sorted { $0.value < $1.value } == rows.breakdown(metric).sorted { $0.value < $1.value },
                        "\(question), by \(metric.name)")
            }
            let starts = Array(stride(from: start, to: end, by: Int(TimeUnits.hourMs)))
            #expect(answer { TimeseriesTally(starts: starts, endMs: end) } == rows.timeseries(starts: starts, endMs: end), "\(question), hourly")
        }
    }

    static let filterChoices: [(RollupMetric, [String])] = [
        (.page, ["/", "/a", "/c:d", "/none"]), (.referrer, ["t.co", ""]), (.country, ["DE", "FR"]), (.device, ["mobile", "desktop"]),
        (.customEvent, ["signup"]), (.click, ["a:b:x", "click:"]), (.entryPage, ["/", "/a"]), (.exitPage, ["/b"]), (.browser, ["Firefox"]),
    ]
}
