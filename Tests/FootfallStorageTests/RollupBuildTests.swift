import FootfallModel
import Foundation
@testable import FootfallStorage
import FootfallTestSupport
import Synchronization
import Testing

/// Rollups as reports read them — dates not built yet from their events in memory, built dates
/// from the packs the maintenance pass writes — against one build of all the events at once:
/// random traffic over three days (visits across midnight, engagement pings, identify calls,
/// clicks, custom events), sent in random batches, in random order and partly twice, in zones
/// with quarter-hour offsets and a daylight-saving change.
@Suite struct RollupBuildTests {
    /// 2026-10-31 00:00 UTC: New York leaves daylight-saving time the next night.
    static let firstDay = Day(containing: 1_793_404_800_000)
    static let zones = ["UTC", "Asia/Kolkata", "America/New_York", "Australia/Lord_Howe", "Asia/Kathmandu"]

    static func traffic(seed: UInt64) -> [Event] {
        RandomTraffic.events(site: site, from: firstDay, seed: seed, visitors: 40)
    }

    /// The site's stored packs by tier: (metric, tier, index) → cells without the empty ones
    /// (a count of zero and no sketch, which merging a subtraction can leave).
    static func storedPacks(_ kv: any KeyValueStore) throws -> (packs: [RollupBuild.PackID: [String: RollupCell]], weeks: [RollupBuild.PackID: [String: RollupCell]]) {
        var packs = [RollupBuild.PackID: [String: RollupCell]](), weeks = packs
        let prefixCount = StorageKeys.sitePrefix(site).count
        try kv.scan(.rollups, prefix: StorageKeys.sitePrefix(site)) { key, value in
            let code = key[prefixCount]
            guard key != StorageKeys.rollupsBuiltThrough(site) else { return true }
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

    let plan = RetentionPlan(days: 30)!

    /// A store holding the seed's traffic, sent as described above, and the zone's calendar.
    func storeWithTraffic(seed: Int, _ events: [Event]) throws -> (InMemoryStore, EventStore, SiteCalendar) {
        let calendar = SiteCalendar(identifier: RollupBuildTests.zones[seed % RollupBuildTests.zones.count])
        let kv = InMemoryStore()
        let store = try EventStore(kv: kv, calendars: { _ in calendar })
        var random = SplitMix64(seed: UInt64(seed) ^ 0xB1D)
        var sent = events + events.filter { _ in random.next() % 5 == 0 }
        sent.shuffle(using: &random)
        while !sent.isEmpty {
            let batch = Array(sent.prefix(Int(1 + random.next() % 30)))
            sent.removeFirst(batch.count)
            let outcomes = try store.apply(batch, nowMs: RollupBuildTests.sentAtMs, retention: { [plan] _ in plan })
            #expect(outcomes.allSatisfy { $0 == .stored || $0 == .duplicate })
        }
        return (kv, store, calendar)
    }

    /// An hour after the traffic's last day.
    static let sentAtMs = firstDay.advanced(by: 3).startMs + TimeUnits.hourMs

    /// Each local date's and quarter hour's totals as reports read them, against the reference.
    func expectReportsRead(_ reference: RollupBuild, from store: EventStore, _ calendar: SiteCalendar, _ when: String) throws {
        for (id, cells) in reference.packs {
            let totals = id.tier == .day
                ? try store.dayTotals(site: site, metric: id.metric, days: Day(index: id.index)...Day(index: id.index))
                : try store.rollupTotals(site: site, metric: id.metric, buckets: QuarterHour(index: id.index)..<QuarterHour(index: id.index + 1))
            for (dimension, cell) in cells.filter(RollupBuildTests.isFilled) {
                #expect(totals[dimension]?.count == cell.count, "\(when): \(id) \(dimension)")
                #expect(totals[dimension]?.visitors == cell.visitors, "\(when): \(id) \(dimension)")
            }
            #expect(totals.filter { $0.value.count != 0 || $0.value.visitors != nil }.count == cells.filter(RollupBuildTests.isFilled).count, "\(when): \(id)")
        }
        // Every quarter hour of a metric in one grouped read, as an hourly series makes it.
        let filled = reference.packs.filter { $0.key.tier == .quarterHour }.mapValues { $0.filter(RollupBuildTests.isFilled) }.filter { !$0.value.isEmpty }
        for metric in Set(filled.keys.map(\.metric)) {
            let indexes = filled.keys.filter { $0.metric == metric }.map(\.index)
            let span = QuarterHour(index: indexes.min()!)..<QuarterHour(index: indexes.max()! + 1)
            let grouped = try store.rollupTotals(site: site, metric: metric, buckets: span) { Int($0.index) }
                .mapValues { $0.filter { $0.value.count != 0 || $0.value.visitors != nil } }.filter { !$0.value.isEmpty }
            #expect(Set(grouped.keys) == Set(indexes.map { Int($0) }), "\(when): \(metric) quarter hours, grouped")
            for index in indexes {
                let cells = filled[RollupBuild.PackID(metric: metric, tier: .quarterHour, index: index)]!
                let totals = grouped[Int(index)] ?? [:]
                #expect(totals.count == cells.count, "\(when): \(metric) quarter hour \(index), grouped")
                for (dimension, cell) in cells {
                    #expect(totals[dimension]?.count == cell.count && totals[dimension]?.visitors == cell.visitors,
                            "\(when): \(metric) quarter hour \(index) \(dimension), grouped")
                }
            }
        }
        // Whole weeks come from the weekly tier once built: every date of the data at once.
        let days = calendar.day(containing: RollupBuildTests.firstDay.startMs)...calendar.day(containing: RollupBuildTests.sentAtMs)
        let all = try store.dayTotals(site: site, metric: .page, days: days.lowerBound.advanced(by: -7)...days.upperBound.advanced(by: 7))
        var expected = [String: Int64]()
        for (id, cells) in reference.packs where id.metric == .page && id.tier == .day {
            for (dimension, cell) in cells { expected[dimension, default: 0] += cell.count }
        }
        #expect(all.mapValues(\.count) == expected, "\(when): pages over weeks")
    }

    @Test(arguments: 0..<20)
    func recentAndBuiltRollups_equalOneBuildOfAllTheEvents(seed: Int) throws {
        let events = RollupBuildTests.traffic(seed: UInt64(seed))
        let (kv, store, calendar) = try storeWithTraffic(seed: seed, events)
        let days = calendar.day(containing: RollupBuildTests.firstDay.startMs)...calendar.day(containing: RollupBuildTests.sentAtMs)
        let reference = RollupBuild(events: events, days: days, calendar: calendar)
        // Nothing is built yet: every date is answered from its events.
        #expect(try RollupBuildTests.storedPacks(kv).packs.isEmpty)
        try expectReportsRead(reference, from: store, calendar, "from events")

        // A week on, the maintenance pass seals the days and builds every date from them.
        let later = RollupBuildTests.sentAtMs + 7 * TimeUnits.dayMs
        let pass = try store.sealSegments(site: site, plan: plan, nowMs: later)
        #expect(pass.builtDates >= days.count)
        let stored = try RollupBuildTests.storedPacks(kv)
        #expect(RollupBuildTests.differing(reference.packs, stored.packs).isEmpty)
        var weeks = [RollupBuild.PackID: [String: RollupCell]]()
        for (id, cells) in reference.packs where id.tier == .day {
            for (dimension, cell) in cells {
                weeks[RollupBuild.PackID(metric: id.metric, tier: .day, index: id.index / 7), default: [:]][dimension, default: RollupCell(count: 0)].merge(cell)
            }
        }
        #expect(RollupBuildTests.differing(weeks, stored.weeks).isEmpty)
        try expectReportsRead(reference, from: store, calendar, "built")
        // The traffic reaches what the comparison is about.
        let visits = reference.packs.filter { $0.key.metric == .visits && $0.key.tier == .day }.values.compactMap { $0[""]?.count }.reduce(0, +)
        #expect(visits > 20)
        #expect(reference.packs.keys.contains { $0.metric == .bounces })
    }

    /// Dates not built are kept in memory between reads: after every batch (hits late and early,
    /// repeated, on any of the three days) each is answered as one build of what was sent so far,
    /// so no write a date reads leaves it answered from before the write.
    @Test(arguments: 0..<5)
    func recentRollups_followEveryBatch(seed: Int) throws {
        let calendar = SiteCalendar(identifier: RollupBuildTests.zones[seed % RollupBuildTests.zones.count])
        let store = try EventStore(kv: InMemoryStore(), calendars: { _ in calendar })
        let days = calendar.day(containing: RollupBuildTests.firstDay.startMs)...calendar.day(containing: RollupBuildTests.sentAtMs)
        var random = SplitMix64(seed: UInt64(seed) ^ 0x5EE)
        var unsent = RollupBuildTests.traffic(seed: UInt64(seed))
        unsent.shuffle(using: &random)
        var sent = [Event]()
        while !unsent.isEmpty {
            let batch = Array(unsent.prefix(Int(1 + random.next() % 40)))
            unsent.removeFirst(batch.count)
            sent += batch
            _ = try store.apply(batch, nowMs: RollupBuildTests.sentAtMs, retention: { [plan] _ in plan })
            try expectReportsRead(RollupBuild(events: sent, days: days, calendar: calendar), from: store, calendar, "after \(sent.count) events")
        }
    }

    /// A date costly to build (here any build of one event or more) is answered from its last build
    /// after a write or an erasure (rollups hold no personal data) while a newer one is made, and
    /// the next answer has the change; after a deletion (as after retention or a wipe) it is built
    /// again before the answer.
    @Test func aCostlyDate_isAnsweredFromItsLastBuild_whileANewerIsMade_butNeverAfterADeletion() throws {
        let store = try EventStore(kv: InMemoryStore(), recentBuildsLateFromEvents: 1)
        let day = RollupBuildTests.firstDay, at = RollupBuildTests.firstDay.startMs + TimeUnits.hourMs
        let retention: (SiteID) -> RetentionPlan = { [plan] _ in plan }
        func pageviews() throws -> Int64 { try store.dayTotals(site: site, metric: .total, days: day...day)[""]?.count ?? 0 }
        _ = try store.apply([makeEvent("a", visitor: 1, at: at)], nowMs: at, retention: retention)
        #expect(try pageviews() == 1)
        _ = try store.apply([makeEvent("b", visitor: 2, at: at + 60_000)], nowMs: at, retention: retention)
        #expect(try pageviews() == 1, "answered from the build before the write")
        store.recentRollups.waitForBackgroundBuilds()
        #expect(try pageviews() == 2)
        _ = try store.erase(site: site, visitor: VisitorID(rawValue: 1), requestID: "r1", node: "n1", nowMs: at + 120_000, fenceMs: at + 120_000)
        #expect(try pageviews() == 2, "answered from the build before the erasure")
        store.recentRollups.waitForBackgroundBuilds()
        #expect(try pageviews() == 1, "the next build leaves the erased visitor out")
        _ = try store.apply([makeEvent("c", visitor: 3, at: at + 180_000)], nowMs: at, retention: retention)
        #expect(try pageviews() == 1)
        store.recentRollups.waitForBackgroundBuilds()
        #expect(try pageviews() == 2)
        try store.deleteCopy(of: site)
        #expect(try pageviews() == 0, "a deletion is answered at once")
    }

    /// A background build is followed by a rest four times as long as it took, so rebuilding busy
    /// todays for a stream of reports takes at most a fifth of a core however big the days grow
    /// (without it, their share of a soaking node's CPU grew with the day).
    @Test func backgroundBuilds_restFourTimesAsLongAsTheyTook() {
        let rests = Rests()
        let recent = RecentRollups(lateFromEvents: 1) { rest in rests.taken.withLock { $0.append(rest) } }
        recent.buildInBackground(SealedDay(site: site, day: RollupBuildTests.firstDay)) { Thread.sleep(forTimeInterval: 0.02) }
        recent.waitForBackgroundBuilds()
        let taken = rests.taken.withLock { $0 }
        #expect(taken.count == 1, "one rest after the one build")
        #expect(taken.allSatisfy { $0 >= .milliseconds(80) }, "a build of 20 ms or more rests 80 ms or more: \(taken)")
    }

    /// A hit that reaches a built date late (a repair) is counted once sealing folds it in, and
    /// one answered from events counts at once.
    @Test func lateHitOnABuiltDate_isCountedWhenItsDayIsSealed() throws {
        let store = try EventStore(kv: InMemoryStore())
        let day = RollupBuildTests.firstDay
        _ = try store.apply([makeEvent("a", visitor: 1, at: day.startMs + TimeUnits.hourMs)], nowMs: day.startMs + TimeUnits.hourMs, retention: { [plan] _ in plan })
        let later = day.advanced(by: 8).startMs
        try store.sealSegments(site: site, plan: plan, nowMs: later)
        #expect(try store.dayTotals(site: site, metric: .total, days: day...day)[""]?.count == 1)

        _ = try store.apply([makeEvent("late", visitor: 2, at: day.startMs + 2 * TimeUnits.hourMs)], nowMs: later, retention: { [plan] _ in plan })
        #expect(try store.dayTotals(site: site, metric: .total, days: day...day)[""]?.count == 1, "a built date counts what it was built from")
        let pass = try store.sealSegments(site: site, plan: plan, nowMs: later + TimeUnits.hourMs)
        #expect(pass.sealed == 1 && pass.builtDates >= 1)
        #expect(try store.dayTotals(site: site, metric: .total, days: day...day)[""]?.count == 2)
        #expect(try store.dayTotals(site: site, metric: .visits, days: day...day)[""]?.count == 2)

        // A date not built yet counts a hit as soon as it is stored.
        let today = Day(containing: later)
        _ = try store.apply([makeEvent("now", visitor: 3, at: later + 60_000)], nowMs: later + 60_000, retention: { [plan] _ in plan })
        #expect(try store.dayTotals(site: site, metric: .total, days: today...today)[""]?.count == 1)
    }

    /// Rollups outlive raw events even when no pass built them before retention came due.
    @Test func retention_buildsTheDatesItExpiresFirst() throws {
        let store = try EventStore(kv: InMemoryStore())
        let day = RollupBuildTests.firstDay
        _ = try store.apply([makeEvent("a", visitor: 1, at: day.startMs + TimeUnits.hourMs), makeEvent("b", visitor: 2, at: day.startMs + 2 * TimeUnits.hourMs)],
                            nowMs: day.startMs + 3 * TimeUnits.hourMs, retention: { [plan] _ in plan })
        try store.enforceRetention(site: site, plan: plan, nowMs: day.advanced(by: 31).startMs)
        #expect(try !store.holdsRawData(of: site))
        #expect(try store.dayTotals(site: site, metric: .total, days: day...day)[""]?.count == 2)
        #expect(try store.dayTotals(site: site, metric: .visits, days: day...day)[""]?.count == 2)
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

/// The rests a `RecentRollups` took, recorded from its builder's thread (a class, so the closure
/// that records holds it rather than a noncopyable local).
private final class Rests: Sendable {
    let taken = Mutex([Duration]())
}
