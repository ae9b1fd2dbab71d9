@testable import FootfallModel
import Testing

/// The in-memory columns of a segment: each gives back exactly what it was made of, and takes
/// only the bytes its values need (the hot tier and the segment cache are budgeted by them).
@Suite struct SegmentColumnsTests {
    @Test func narrowColumns_takeTheBytesTheirLargestValueNeeds() {
        let cases: [(values: [UInt32], bytesPerRow: Int)] = [
            ([7, 7, 7, 7], 0), ([0, 255, 3, 9], 1), ([0, 256, 3], 2), ([1, 65_535], 2), ([1, 65_536], 4), ([0, .max, 5], 4),
        ]
        for (values, bytesPerRow) in cases {
            let column = NarrowColumn(values)
            #expect(Array(column) == values)
            #expect(column.bytes == values.count * bytesPerRow, "\(values)")
        }
        #expect(NarrowColumn([UInt16]()).isEmpty)
        #expect(NarrowColumn([UInt16](repeating: 0, count: 65_536)).count == 65_536)
    }

    @Test func dayTimes_giveBackEachTime_inTwoBytesForAFewSecondsAndFourForADay() {
        let day = Day(containing: 1_781_524_800_000)
        let seconds = (0..<100).map { day.startMs + 40_000_000 + Int64($0 * 601 % 60_000) }
        let whole = [day.startMs, day.startMs + TimeUnits.dayMs - 1, day.startMs + 12_345]
        for (times, bytesPerRow) in [(seconds, 2), (whole, 4), ([day.startMs + 5, day.startMs + 5], 0)] {
            let column = DayTimes(times)
            #expect(Array(column) == times)
            #expect(column.bytes == times.count * bytesPerRow)
        }
    }

    /// An id whose time is not its row's (none the pipeline makes, but an event may carry one)
    /// comes back whole.
    @Test func segmentIDs_keepTenBytesARow_andAnIdStampedOtherwiseWhole() {
        let site = SiteID("shop.example")!, start: Int64 = 1_781_524_800_000
        let times = DayTimes((0..<50).map { start + Int64($0) * 1_000 })
        var ids = times.map { EventID.forHit(site: site, hitID: "hit-\($0)", timestampMs: $0) }
        ids[7] = EventID.serverMade(timestampMs: start - 86_400_000, node: 9, sequence: 3)
        ids[8] = EventID.forHit(site: site, hitID: "late", timestampMs: 0)
        let column = SegmentIDs(ids, times: times)
        #expect(Array(column) == ids)
        #expect(column.otherwise.keys.sorted() == [7, 8])
        #expect(SegmentIDs(times.map { EventID.forHit(site: site, hitID: "\($0)", timestampMs: $0) }, times: times).bytes == 50 * 10)
    }

    @Test func rowProperties_giveBackEachRowsPairs_andTakeNothingWhenNoRowHasAny() {
        let rows: [[RowProperties.Pair]] = [[], [(0, 1), (2, 0)], [], [], [(1, 1)], []]
        let properties = RowProperties(rows)
        #expect(properties.count == rows.count)
        for (row, pairs) in rows.enumerated() {
            #expect(properties[row].map(\.key) == pairs.map(\.key) && properties[row].map(\.value) == pairs.map(\.value))
        }
        #expect(RowProperties([[RowProperties.Pair]](repeating: [], count: 1_000)).bytes == 0)
    }

    /// What the soak's busy days are: hits of a few pages and referrers, no campaign, title,
    /// region or property, a dozen hits a visitor. Held in memory they took ~79 bytes a row with
    /// every column at full width; they must stay under 40.
    @Test func aHeldDayOfPlainHits_takesUnderFortyBytesARow() {
        let site = SiteID("shop.example")!, day = Day(containing: 1_781_524_800_000)
        let events = (0..<4_096).map { n in
            let at = day.startMs + 50_000_000 + Int64(n / 100) * 250
            var event = Event(id: EventID.forHit(site: site, hitID: "hit-\(n)", timestampMs: at), site: site,
                              visitor: VisitorID(rawValue: UInt64(n / 12) &* 0x9E37_79B9_7F4A_7C15), timestampMs: at, kind: .pageview,
                              path: "/p/\(n % 30)")
            event.referrerHost = ["", "t.co", "www.google.com"][n % 3]
            event.device = Device(browser: "Firefox", browserMajor: 140, os: "Linux", deviceClass: .desktop)
            return event
        }
        let held = IndexedSegment(EventSegment(site: site, day: day, events: events))
        #expect(held.estimatedBytes < 40 * events.count, "\(held.estimatedBytes / events.count) bytes a row")
    }
}
