import FootfallModel
@testable import FootfallStorage
import Testing

/// What the writer keeps of recent days' hit counts: read once, counted on, forgotten whole.
@Suite struct DayHitsTests {
    let siteDay = DayHits.SiteDay(site: site, day: Day(index: 20_000))
    let one = VisitorID(rawValue: 1), two = VisitorID(rawValue: 2)

    @Test func aHeldDay_answersFromItsCounts_andCountsWhatIsWritten() {
        var known = DayHits()
        var loads = 0
        let load = { () -> [VisitorID: Int]? in loads += 1; return [VisitorID(rawValue: 1): 3] }
        let first = known.hits(of: one, on: siteDay, load: load)
        #expect(first == 3)
        let none = known.hits(of: two, on: siteDay, load: load)
        #expect(none == 0)
        known.add(two, on: siteDay)
        known.add(one, on: siteDay)
        let afterTwo = known.hits(of: two, on: siteDay, load: load), afterOne = known.hits(of: one, on: siteDay, load: load)
        #expect(afterTwo == 1 && afterOne == 4)
        #expect(loads == 1, "the day is read from the store once")
    }

    @Test func aDayWithTooManyVisitors_isNotHeld_andNotReread() {
        var known = DayHits()
        var loads = 0
        for visitor in 0..<3 {
            let unknown = known.hits(of: VisitorID(rawValue: UInt64(visitor)), on: siteDay) { loads += 1; return nil }
            #expect(unknown == nil)
        }
        known.add(one, on: siteDay)
        let still = known.hits(of: one, on: siteDay) { Issue.record("reread"); return [:] }
        #expect(still == nil)
        #expect(loads == 1)
    }

    @Test func aDayGrowingPastItsBound_isNoLongerHeld() {
        var known = DayHits()
        _ = known.hits(of: VisitorID(rawValue: 0), on: siteDay) {
            Dictionary(uniqueKeysWithValues: (1...UInt64(DayHits.dayVisitorsMax)).map { (VisitorID(rawValue: $0), 1) })
        }
        let before = known.hits(of: VisitorID(rawValue: 0), on: siteDay) { Issue.record("reread"); return [:] }
        #expect(before == 0)
        known.add(VisitorID(rawValue: 0), on: siteDay)
        let held = known.hits(of: VisitorID(rawValue: 0), on: siteDay) { Issue.record("reread"); return [:] }
        #expect(held == nil, "past the bound the day is counted in the store")
    }

    @Test func droppedAndForgottenDays_areReadAgain() {
        var known = DayHits()
        for day in 0..<(DayHits.daysMax + 1) {
            _ = known.hits(of: one, on: .init(site: site, day: Day(index: UInt32(day)))) { [:] }
        }
        // The least recently used day was dropped; what the store now holds is read again.
        let reread = known.hits(of: one, on: .init(site: site, day: Day(index: 0))) { [VisitorID(rawValue: 1): 2] }
        #expect(reread == 2)
        // Retention drops the days it deleted, and only those.
        known.forget(site: site, before: Day(index: 1))
        let expired = known.hits(of: one, on: .init(site: site, day: Day(index: 0))) { [:] }
        let kept = known.hits(of: one, on: .init(site: site, day: Day(index: 5))) { Issue.record("reread"); return [:] }
        #expect(expired == 0 && kept == 0)
        known.forget(site: site)
        let afterSite = known.hits(of: one, on: .init(site: site, day: Day(index: 5))) { [VisitorID(rawValue: 1): 7] }
        #expect(afterSite == 7)
    }

    @Test func anErasure_countsItsHitsOut_withoutARead() {
        var known = DayHits()
        _ = known.hits(of: one, on: siteDay) { [VisitorID(rawValue: 1): 5, VisitorID(rawValue: 2): 1] }
        known.remove(3, of: one, on: siteDay)
        known.remove(1, of: two, on: siteDay)
        let left = known.hits(of: one, on: siteDay) { Issue.record("reread"); return [:] }
        let none = known.hits(of: two, on: siteDay) { Issue.record("reread"); return [:] }
        #expect(left == 2 && none == 0)
    }
}

/// What a store stores may not depend on what its instance remembers of recent days: visits
/// across midnight and the hits they join come out the same from a long-lived instance and from
/// a new one per batch.
@Suite struct DayHitsStoreTests {
    @Test(arguments: StoreKind.allCases)
    func visitRollups_areTheSame_whetherTheStoreRemembersRecentDaysOrStartsAfresh(kind: StoreKind) throws {
        let (remembering, cleanupA) = try kind.make()
        let (forgetting, cleanupB) = try kind.make()
        defer { cleanupA(); cleanupB() }
        let longLived = try EventStore(kv: remembering)
        var generator = SplitMix64(seed: 99)
        let now = day0 + 3 * TimeUnits.dayMs
        var all = [Event]()
        for batch in 0..<40 {
            let events = (0..<25).map { i in
                makeEvent("b\(batch)-\(i)", visitor: UInt64.random(in: 0..<30, using: &generator),
                          at: day0 + Int64.random(in: 0..<(2 * TimeUnits.dayMs), using: &generator), path: "/p\(i % 4)")
            }
            all += events
            _ = try longLived.apply(events, nowMs: now) { _ in RetentionPlan(days: 30)! }
            // A new instance per batch knows nothing and seeks every visitor.
            _ = try EventStore(kv: forgetting).apply(events, nowMs: now) { _ in RetentionPlan(days: 30)! }
        }
        let days = Day(containing: day0)...Day(containing: day0 + 2 * TimeUnits.dayMs)
        let fresh = try EventStore(kv: forgetting)
        for metric in [RollupMetric.visits, .bounces, .visitDuration, .entryPage, .exitPage] {
            let expected = try fresh.dayTotals(site: site, metric: metric, days: days).mapValues(\.count).filter { $0.value != 0 }
            #expect(try longLived.dayTotals(site: site, metric: metric, days: days).mapValues(\.count).filter { $0.value != 0 } == expected,
                    "\(metric.name)")
        }
        let expectedVisits = Dictionary(grouping: all, by: \.visitor).values.reduce(0) { $0 + Visits.derive($1.map(Visits.Hit.init).sorted()).count }
        #expect(try longLived.dayTotals(site: site, metric: .visits, days: days).values.reduce(0) { $0 + $1.count } == Int64(expectedVisits))
    }
}
