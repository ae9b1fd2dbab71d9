import FootfallModel
@testable import FootfallStorage
import Testing

/// What visit derivation knows of recent days' visitors may only ever say "surely not" truly.
@Suite struct DayVisitorsTests {
    let siteDay = DayVisitors.SiteDay(site: site, day: Day(index: 20_000))

    @Test func aHeldDay_answersFromItsSet_andLearnsWhatIsWritten() {
        var known = DayVisitors()
        var loads = 0
        let load = { () -> Set<VisitorID>? in loads += 1; return [VisitorID(rawValue: 1)] }
        let answer1 = known.mayHave(VisitorID(rawValue: 1), on: siteDay, load: load)
        #expect(answer1)
        let answer2 = known.mayHave(VisitorID(rawValue: 2), on: siteDay, load: load)
        #expect(!answer2)
        known.insert(VisitorID(rawValue: 2), on: siteDay)
        let answer3 = known.mayHave(VisitorID(rawValue: 2), on: siteDay, load: load)
        #expect(answer3)
        #expect(loads == 1, "the day is read from the index once")
    }

    @Test func aDayWithTooManyVisitors_alwaysSaysMaybe_andIsNotReread() {
        var known = DayVisitors()
        var loads = 0
        for visitor in 0..<3 {
            let maybe = known.mayHave(VisitorID(rawValue: UInt64(visitor)), on: siteDay) { loads += 1; return nil }
            #expect(maybe)
        }
        #expect(loads == 1)
    }

    @Test func aDayGrowingPastItsBound_becomesMaybeForEveryone() {
        var known = DayVisitors()
        _ = known.mayHave(VisitorID(rawValue: 0), on: siteDay) { Set((1...UInt64(DayVisitors.dayVisitorsMax)).map(VisitorID.init(rawValue:))) }
        let before = known.mayHave(VisitorID(rawValue: 0), on: siteDay) { Issue.record("reread"); return [] }
        #expect(!before)
        known.insert(VisitorID(rawValue: 0), on: siteDay)
        known.insert(VisitorID(rawValue: UInt64.max), on: siteDay)
        let after = known.mayHave(VisitorID(rawValue: UInt64.max - 1), on: siteDay) { Issue.record("reread"); return [] }
        #expect(after)
    }

    @Test func droppedDays_areReadAgain() {
        var known = DayVisitors()
        for day in 0..<(DayVisitors.daysMax + 1) {
            _ = known.mayHave(VisitorID(rawValue: 1), on: .init(site: site, day: Day(index: UInt32(day)))) { [] }
        }
        // The least recently used day was dropped; what the index now holds is read again.
        let reread = known.mayHave(VisitorID(rawValue: 1), on: .init(site: site, day: Day(index: 0))) { [VisitorID(rawValue: 1)] }
        #expect(reread)
        known.forget(site: site)
        let afterForget = known.mayHave(VisitorID(rawValue: 7), on: .init(site: site, day: Day(index: 5))) { [VisitorID(rawValue: 7)] }
        #expect(afterForget)
    }
}

/// Visit rollups may not depend on what a store instance remembers of recent days.
@Suite struct DayVisitorsStoreTests {
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
