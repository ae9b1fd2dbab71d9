import FootfallModel
import FootfallStorage
import Testing

/// Rollups built at once from a span's events (`RollupBuild`) against the rollups `apply` merges
/// batch by batch from the same events: random traffic over three days (visits across midnight,
/// engagement pings, identify calls, clicks, custom events), sent in random batches, in random
/// order and partly twice, in zones with quarter-hour offsets and a daylight-saving change.
@Suite struct RollupBuildTests {
    /// 2026-10-31 00:00 UTC: New York leaves daylight-saving time the next night.
    static let firstDay = Day(containing: 1_793_404_800_000)
    static let zones = ["UTC", "Asia/Kolkata", "America/New_York", "Australia/Lord_Howe", "Asia/Kathmandu"]

    static func traffic(seed: UInt64) -> [Event] {
        var random = SplitMix64(seed: seed)
        func pick<T>(_ values: [T]) -> T { values[Int(random.next() % UInt64(values.count))] }
        var events = [Event]()
        for visitorIndex in 0..<40 {
            let visitor = VisitorID(rawValue: random.next())
            var ts = firstDay.startMs + Int64(random.next() % UInt64(3 * TimeUnits.dayMs))
            // Some visits start just before a UTC midnight, so they span it.
            if visitorIndex % 4 == 0 { ts = firstDay.advanced(by: 1).startMs - Int64(random.next() % 3_600_000) }
            for n in 0..<Int(1 + random.next() % 10) {
                ts += Int64(random.next() % 50) * 60_000 // gaps of 0–49 minutes: some split visits
                guard ts < firstDay.advanced(by: 3).startMs else { break }
                let kind = pick([Event.Kind.pageview, .pageview, .pageview, .click, .custom, .engagement, .identify])
                var event = Event(id: EventID.forHit(site: site, hitID: "h\(seed)-\(visitorIndex)-\(n)", timestampMs: ts),
                                  site: site, visitor: visitor, timestampMs: ts, kind: kind, path: pick(["/", "/a", "/b"]))
                event.referrerHost = pick(["", "t.co", "google.com"])
                event.utm = UTM(source: pick(["", "news"]), campaign: pick(["", "spring"]))
                event.geo = Geo(country: pick(["DE", "FR", ""]), region: pick(["", "BE"]))
                event.device = Device(browser: pick(["Chrome", "Firefox"]), os: pick(["Linux", "iOS"]), deviceClass: pick([.desktop, .mobile]))
                if kind == .click { event.name = "click"; event.target = pick(["https://out.example/", ""]) }
                if kind == .custom { event.name = pick(["signup", "buy"]) }
                events.append(event)
            }
        }
        return events
    }

    /// The site's stored packs by tier: (metric, tier, index) → cells without the empty ones
    /// (a count of zero and no sketch, which merging a subtraction can leave).
    static func storedPacks(_ kv: any KeyValueStore) throws -> (packs: [RollupBuild.PackID: [String: RollupCell]], weeks: [RollupBuild.PackID: [String: RollupCell]]) {
        var packs = [RollupBuild.PackID: [String: RollupCell]](), weeks = packs
        let prefixCount = StorageKeys.sitePrefix(site).count
        try kv.scan(.rollups, prefix: StorageKeys.sitePrefix(site)) { key, value in
            let code = key[prefixCount]
            let metric = try #require(RollupMetric(rawValue: code & 0x3f))
            let index = try #require(StorageKeys.rollupIndex(key: key, prefixCount: prefixCount + 1))
            let cells = try #require(RollupPack.decode(value)).filter(isFilled)
            guard !cells.isEmpty else { return true }
            if code & 0x40 != 0 {
                weeks[RollupBuild.PackID(metric: metric, tier: .day, index: index)] = cells
            } else {
                packs[RollupBuild.PackID(metric: metric, tier: code & 0x80 != 0 ? .day : .quarterHour, index: index)] = cells
            }
            return true
        }
        return (packs, weeks)
    }

    /// The packs whose filled cells differ between `built` and `stored` (a report of what, not a
    /// dump of every pack).
    static func differing(_ built: [RollupBuild.PackID: [String: RollupCell]], _ stored: [RollupBuild.PackID: [String: RollupCell]]) -> [RollupBuild.PackID] {
        let filled = built.mapValues { $0.filter(isFilled) }.filter { !$0.value.isEmpty }
        return Set(filled.keys).union(stored.keys).filter { filled[$0] != stored[$0] }.sorted { ($0.metric.rawValue, $0.index) < ($1.metric.rawValue, $1.index) }
    }

    static func isFilled(_ entry: (key: String, value: RollupCell)) -> Bool { entry.value.count != 0 || entry.value.visitors != nil }

    @Test(arguments: 0..<20)
    func builtRollups_equalWhatApplyMergedBatchByBatch(seed: Int) throws {
        let zone = RollupBuildTests.zones[seed % RollupBuildTests.zones.count]
        let calendar = SiteCalendar(identifier: zone)
        let kv = InMemoryStore()
        let store = try EventStore(kv: kv, calendars: { _ in calendar })
        let events = RollupBuildTests.traffic(seed: UInt64(seed))
        var random = SplitMix64(seed: UInt64(seed) ^ 0xB1D)
        // Out of order, a fifth of them sent twice, in batches of 1–30.
        var sent = events + events.filter { _ in random.next() % 5 == 0 }
        sent.shuffle(using: &random)
        let nowMs = RollupBuildTests.firstDay.advanced(by: 3).startMs + TimeUnits.hourMs
        while !sent.isEmpty {
            let batch = Array(sent.prefix(Int(1 + random.next() % 30)))
            sent.removeFirst(batch.count)
            let outcomes = try store.apply(batch, nowMs: nowMs, retention: { _ in RetentionPlan(days: 30)! })
            #expect(outcomes.allSatisfy { $0 == .stored || $0 == .duplicate })
        }

        let days = calendar.day(containing: RollupBuildTests.firstDay.startMs)...calendar.day(containing: nowMs)
        let built = RollupBuild(events: events, days: days, calendar: calendar)
        let stored = try RollupBuildTests.storedPacks(kv)
        #expect(RollupBuildTests.differing(built.packs, stored.packs).isEmpty, "zone \(zone)")
        // Each week's pack is the sum of its days'.
        var weeks = [RollupBuild.PackID: [String: RollupCell]]()
        for (id, cells) in built.packs where id.tier == .day {
            for (dimension, cell) in cells {
                weeks[RollupBuild.PackID(metric: id.metric, tier: .day, index: id.index / 7), default: [:]][dimension, default: RollupCell(count: 0)].merge(cell)
            }
        }
        #expect(RollupBuildTests.differing(weeks, stored.weeks).isEmpty, "zone \(zone)")
        // The traffic reaches what the comparison is about.
        let visits = built.packs.filter { $0.key.metric == .visits && $0.key.tier == .day }.values.compactMap { $0[""]?.count }.reduce(0, +)
        #expect(visits > 20)
        #expect(built.packs.keys.contains { $0.metric == .bounces })
    }

    /// Days outside the span are context only: a visit that starts before it is not counted, and
    /// one that starts in it is counted whole, its end after the span included.
    @Test func eventsOutsideTheDays_onlyShapeTheVisitsInside() {
        let day = RollupBuildTests.firstDay
        let lateEvening = day.advanced(by: 1).startMs - 10 * 60_000
        let events = [
            makeEvent("before", visitor: 1, at: day.startMs - 5 * 60_000, path: "/x"),
            makeEvent("after-midnight", visitor: 1, at: day.startMs + 5 * 60_000, path: "/y"),
            makeEvent("evening", visitor: 2, at: lateEvening, path: "/in"),
            makeEvent("next-day", visitor: 2, at: lateEvening + 20 * 60_000, path: "/out"),
        ]
        let built = RollupBuild(events: events, days: day...day, calendar: .utc)
        let cells = { (metric: RollupMetric) in built.packs[RollupBuild.PackID(metric: metric, tier: .day, index: day.index)] ?? [:] }
        #expect(cells(.total)[""]?.count == 2)
        #expect(cells(.visits)[""]?.count == 1)
        #expect(cells(.visitDuration) == ["": RollupCell(count: 20 * 60_000)])
        #expect(cells(.exitPage) == ["/out": RollupCell(count: 1)])
        #expect(built.packs.keys.allSatisfy { $0.tier == .quarterHour || $0.index == day.index })
    }
}
