@testable import FootfallModel
import FootfallTestSupport
import Foundation
import Testing

/// The columnar rollup build against `RollupBuild` over the same events: random traffic (visits
/// across midnight, engagement pings and identify calls, clicks whose names hold a colon), each
/// local date of it in zones whose midnights fall on whole hours, quarter hours and half days
/// from UTC, its UTC days cut into parts and a hot tier's events since, identical packs.
@Suite struct SegmentRollupBuildTests {
    static let zones = ["UTC", "America/Los_Angeles", "Asia/Kathmandu", "Pacific/Kiritimati", "Pacific/Pago_Pago"]

    /// What `EventStore` builds a local date from: its events and, of its visitors, their events
    /// within a day either side; given to `RollupBuild`, the reference.
    static func reference(_ events: [Event], date: Day, calendar: SiteCalendar) -> [RollupBuild.PackID: [String: RollupCell]] {
        let span = calendar.startMs(of: date)..<calendar.startMs(of: date.advanced(by: 1))
        let reach = Self.reach(of: date, calendar: calendar)
        let inside = events.filter { span.contains($0.timestampMs) }
        let visitors = Set(inside.map(\.visitor))
        let around = events.filter { reach.contains($0.timestampMs) && !span.contains($0.timestampMs) && visitors.contains($0.visitor) }
        return RollupBuild(events: inside + around, days: date...date, calendar: calendar).packs
    }

    static func reach(of date: Day, calendar: SiteCalendar) -> Range<Int64> {
        calendar.startMs(of: date) - TimeUnits.dayMs..<calendar.startMs(of: date.advanced(by: 1)) + TimeUnits.dayMs
    }

    /// The columnar build of a date from the segments of every UTC day its reach touches.
    static func built(_ segments: [IndexedSegment], date: Day, calendar: SiteCalendar) -> [RollupBuild.PackID: [String: RollupCell]] {
        let reach = Self.reach(of: date, calendar: calendar)
        var build = SegmentRollupBuild(days: date...date, reach: reach, calendar: calendar)
        for segment in segments where Day(containing: reach.lowerBound) <= segment.segment.day && segment.segment.day <= Day(containing: reach.upperBound - 1) {
            build.add(segment)
        }
        return build.finish()
    }

    @Test(arguments: 0..<30)
    func packsEqualTheEventBuild(seed: Int) {
        var random = SplitMix64(seed: UInt64(seed) &* 104_729)
        // Some pages empty: a page counts even so, where other dimensions need a value.
        let events = SegmentAnalysisTests.traffic(seed: UInt64(seed)).enumerated().map { i, event in
            var event = event
            if i % 7 == 3 { event.path = "" }
            return event
        }
        let segments = SegmentAnalysisTests.segments(events, random: &random)
        for zone in Self.zones {
            let calendar = SiteCalendar(identifier: zone)
            let first = calendar.day(containing: events.map(\.timestampMs).min()!), last = calendar.day(containing: events.map(\.timestampMs).max()!)
            for date in first.advanced(by: -1)...last.advanced(by: 1) {
                let expected = Self.reference(events, date: date, calendar: calendar)
                let got = Self.built(segments, date: date, calendar: calendar)
                #expect(got == expected, "seed \(seed), \(zone), date \(date.index): \(Self.difference(got, expected))")
            }
        }
    }

    /// Cells of thousands of visitors, whose sketches are dense, come out as the event build's.
    @Test func aBusyDate_givesTheSameDenseSketches() {
        let events = RandomTraffic.events(site: SegmentAnalysisTests.site, from: SegmentAnalysisTests.firstDay, seed: 5, visitors: 6_000)
        var random = SplitMix64(seed: 5)
        let segments = SegmentAnalysisTests.segments(events, random: &random)
        let date = SegmentAnalysisTests.firstDay.advanced(by: 1)
        let expected = Self.reference(events, date: date, calendar: .utc)
        #expect(expected[RollupBuild.PackID(metric: .total, tier: .day, index: date.index)]?[""]?.visitors.map { if case .dense = $0.storage { true } else { false } } == true)
        #expect(Self.built(segments, date: date, calendar: .utc) == expected)
    }

    /// A visit longer than a day (a page reloaded every 20 minutes for 40 hours) is cut a day
    /// before the date, where the events given to `RollupBuild` begin.
    @Test func aVisitLongerThanADay_isCutWhereTheEventBuildCutsIt() {
        let site = SegmentAnalysisTests.site, start = SegmentAnalysisTests.firstDay.startMs + 6 * TimeUnits.hourMs
        let events = (0..<120).map { n in
            let at = start + Int64(n) * 20 * TimeUnits.minuteMs
            return Event(id: EventID.forHit(site: site, hitID: "reload-\(n)", timestampMs: at), site: site, visitor: VisitorID(rawValue: 42),
                         timestampMs: at, kind: .pageview, path: n % 2 == 0 ? "/a" : "/b")
        }
        var random = SplitMix64(seed: 9)
        let segments = SegmentAnalysisTests.segments(events, random: &random)
        for zone in Self.zones {
            let calendar = SiteCalendar(identifier: zone)
            for date in calendar.day(containing: start)...calendar.day(containing: events.last!.timestampMs) {
                #expect(Self.built(segments, date: date, calendar: calendar) == Self.reference(events, date: date, calendar: calendar), "\(zone) \(date.index)")
            }
        }
    }

    /// No segments, or none holding the date, build no packs.
    @Test func nothingToBuild_givesNoPacks() {
        let date = SegmentAnalysisTests.firstDay
        #expect(Self.built([], date: date, calendar: .utc).isEmpty)
        let later = RandomTraffic.events(site: SegmentAnalysisTests.site, from: date.advanced(by: 5), seed: 1, visitors: 10)
        #expect(Self.built(later.map { IndexedSegment(EventSegment(site: SegmentAnalysisTests.site, day: $0.day, events: [$0])) },
                           date: date, calendar: .utc).isEmpty)
    }

    /// The comparison is not vacuous: dates hold visits counted from whole runs and from runs
    /// derived across segments, and visits that start before midnight and end after it.
    @Test func theTrafficExercisesBothWaysToVisits() {
        var random = SplitMix64(seed: 3)
        let events = SegmentAnalysisTests.traffic(seed: 3)
        let runs = SegmentAnalysisTests.segments(events, random: &random).flatMap(\.runIsWhole)
        #expect(runs.contains(true) && runs.contains(false))
        let visits = Dictionary(grouping: events, by: \.visitor).values.flatMap { Visits.derive($0.map(Visits.Hit.init)) }
        #expect(visits.contains { Day(containing: $0.startMs) != Day(containing: $0.endMs) })
        let packs = Self.reference(events, date: SegmentAnalysisTests.firstDay.advanced(by: 1), calendar: .utc)
        #expect(packs.keys.contains { $0.metric == .click } && packs.keys.contains { $0.metric == .entryPage && $0.tier == .day })
    }

    /// The packs where the two differ, for a failing comparison's message.
    static func difference(_ got: [RollupBuild.PackID: [String: RollupCell]], _ expected: [RollupBuild.PackID: [String: RollupCell]]) -> String {
        let ids = Set(got.keys).union(expected.keys).filter { got[$0] != expected[$0] }
        return ids.prefix(3).map { id in
            let cells = Set((got[id] ?? [:]).keys).union((expected[id] ?? [:]).keys).filter { got[id]?[$0] != expected[id]?[$0] }
            return "\(id.metric.name) \(id.tier) \(id.index): " + cells.prefix(3).map {
                "'\($0)' got \(got[id]?[$0].map { "\($0.count)" } ?? "none") expected \(expected[id]?[$0].map { "\($0.count)" } ?? "none")"
            }.joined(separator: ", ")
        }.joined(separator: "; ")
    }
}
