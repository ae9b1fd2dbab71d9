@testable import FootfallModel
import Testing

@Suite struct VisitorDayTests {
    static let site = FootfallModelTests.site("example.com")

    func hit(_ name: String, _ offsetMs: Int64, _ kind: Event.Kind = .pageview, _ path: String = "/") -> Visits.Hit {
        let ms = may1st2024Ms + 8 * TimeUnits.hourMs + offsetMs
        return Visits.Hit(id: EventID.forHit(site: Self.site, hitID: name, timestampMs: ms), timestampMs: ms, kind: kind, path: path)
    }

    func record(_ hits: [Visits.Hit]) -> VisitorDay {
        var day = VisitorDay()
        for hit in hits { day.insert(hit) }
        return day
    }

    @Test func runs_giveTheVisitsDeriveGives_inAnyOrder() {
        let hits = [hit("ping", -.minutes(10), .engagement), hit("a", 0, .pageview, "/in"), hit("b", .minutes(20), .click),
                    hit("who", .minutes(25), .identify), hit("c", .minutes(40), .pageview, "/out"), hit("d", .minutes(75), .custom, "/x"),
                    hit("e", .minutes(100), .engagement), hit("f", .minutes(200), .engagement)]
        var generator = SplitMix64(seed: 7)
        for _ in 0..<20 {
            let day = record(hits.shuffled(using: &generator))
            #expect(day.hits == hits.count)
            #expect(day.runs.compactMap(\.visit) == Visits.derive(hits))
            #expect(day.runs.count == 3)
        }
    }

    @Test func encoding_roundTrips() {
        let day = record([hit("a", 0, .pageview, "/ä"), hit("b", .minutes(5), .click), hit("p", .minutes(60), .engagement)])
        #expect(VisitorDay(encoded: day.encoded) == day)
        #expect(VisitorDay(encoded: VisitorDay().encoded) == VisitorDay())
    }

    /// Stored bytes are read back: a damaged record is refused, never trusted or trapped on.
    @Test func damagedEncoding_isRefused() {
        let bytes = record([hit("a", 0), hit("b", .minutes(50), .click)]).encoded
        for count in 0..<bytes.count { #expect(VisitorDay(encoded: Array(bytes.prefix(count))) == nil, "first \(count) bytes") }
        #expect(VisitorDay(encoded: bytes + [0]) == nil)
        var fewerHitsThanPageviews = bytes
        fewerHitsThanPageviews.replaceSubrange(1..<5, with: UInt32(1).bigEndianBytes)
        #expect(VisitorDay(encoded: fewerHitsThanPageviews) == nil)
    }

    @Test func rebuiltFromMoreHitsThanTheCap_isFull() {
        let hits = (0..<VisitorDay.hitsMax + 3).map { hit("h\($0)", Int64($0) * 100) }
        let day = VisitorDay(rebuildingFrom: hits)
        #expect(day.isFull)
        #expect(VisitorDay(encoded: day.encoded) == day)
        #expect(day.runs.count == 1)
        #expect(day.runs[0].pageviews == hits.count)
    }
}
