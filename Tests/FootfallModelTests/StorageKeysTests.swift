@testable import FootfallModel
import Testing

@Suite struct StorageKeysTests {
    /// Whether `key` lies in the half-open range of keys that start with `prefix`.
    func inRange(_ key: [UInt8], of prefix: [UInt8]) -> Bool {
        !key.lexicographicallyPrecedes(prefix) && key.lexicographicallyPrecedes(StorageKeys.prefixEnd(prefix))
    }

    @Test(arguments: [([0x01], [0x02]), ([0x01, 0x02], [0x01, 0x03]), ([0x01, 0xff], [0x02]), ([0x01, 0xff, 0xff], [0x02]),
                      ([0x00], [0x01]), ([0xfe, 0xff], [0xff])] as [([UInt8], [UInt8])])
    func prefixEnd_isTheNextPrefix(prefix: [UInt8], end: [UInt8]) {
        #expect(StorageKeys.prefixEnd(prefix) == end)
    }

    @Test func prefixEnd_boundsEveryKeyWithThePrefix_andNothingElse() {
        var rng = SplitMix64(seed: 5)
        func bytes(_ count: Int) -> [UInt8] {
            (0..<count).map { _ in Bool.random(using: &rng) ? [0x00, 0xff].randomElement(using: &rng)! : UInt8.random(in: 0...255, using: &rng) }
        }
        for _ in 0..<2_000 {
            var prefix = bytes(Int.random(in: 1...6, using: &rng))
            if prefix.allSatisfy({ $0 == 0xff }) { prefix[0] = 0xfe }
            let end = StorageKeys.prefixEnd(prefix)
            #expect(prefix.lexicographicallyPrecedes(end))
            let inside = prefix + bytes(Int.random(in: 0...6, using: &rng))
            #expect(inRange(inside, of: prefix), "\(inside) should be inside \(prefix)..<\(end)")
            let other = bytes(Int.random(in: 0...8, using: &rng))
            #expect(inRange(other, of: prefix) == other.starts(with: prefix), "\(other) vs \(prefix)..<\(end)")
        }
    }

    @Test func sitePrefix_isLengthPrefixed() {
        #expect(StorageKeys.sitePrefix(site("a.com")) == [5] + Array("a.com".utf8))
        let longest = SiteID(String(repeating: "a", count: 253))!
        #expect(StorageKeys.sitePrefix(longest).first == 253)
    }

    @Test func sitesWhoseNamesArePrefixes_neverShareKeyRanges() {
        let short = site("a.com"), long = site("a.com.evil")
        let shortPrefix = StorageKeys.sitePrefix(short), longPrefix = StorageKeys.sitePrefix(long)
        #expect(!longPrefix.starts(with: shortPrefix))
        #expect(!shortPrefix.starts(with: longPrefix))

        let id = EventID.forHit(site: long, hitID: "h", timestampMs: may1st2024Ms)
        let longKeys = [
            StorageKeys.event(long, id),
            StorageKeys.visitorEvent(long, VisitorID(rawValue: 1), id),
            StorageKeys.visitor(long, VisitorID(rawValue: .max)),
            StorageKeys.rollupBucket(long, .total, QuarterHour(index: 1)),
            StorageKeys.rollupDay(long, .page, Day(index: 1)),
        ]
        let shortKeys = [
            StorageKeys.event(short, id),
            StorageKeys.visitorEvent(short, VisitorID(rawValue: 0), id),
            StorageKeys.visitor(short, VisitorID(rawValue: 0)),
            StorageKeys.rollupBucket(short, .total, QuarterHour(index: 0)),
            StorageKeys.rollupDay(short, .page, Day(index: 0)),
        ]
        for key in longKeys {
            #expect(!inRange(key, of: shortPrefix))
            #expect(inRange(key, of: longPrefix))
        }
        for key in shortKeys {
            #expect(!inRange(key, of: longPrefix))
            #expect(inRange(key, of: shortPrefix))
        }
        // Nor do the narrower ranges (a site's day, a site's metric).
        #expect(!inRange(StorageKeys.eventDay(long, may1st2024), of: StorageKeys.eventDay(short, may1st2024)))
        #expect(!inRange(StorageKeys.rollupMetric(long, .page), of: StorageKeys.rollupMetric(short, .page)))
    }

    @Test func randomSitePairs_neverShareKeyRanges() {
        var rng = SplitMix64(seed: 9)
        let alphabet = Array("ab.-1")
        var sites = Set<SiteID>()
        while sites.count < 200 {
            let name = String((0..<Int.random(in: 1...8, using: &rng)).map { _ in alphabet.randomElement(using: &rng)! })
            if let id = SiteID(name) { sites.insert(id) }
        }
        for a in sites {
            for b in sites where a != b {
                let pa = StorageKeys.sitePrefix(a), pb = StorageKeys.sitePrefix(b)
                #expect(!pb.starts(with: pa), "\(a) and \(b)")
                #expect(!inRange(StorageKeys.visitor(b, VisitorID(rawValue: 0)), of: pa), "\(a) and \(b)")
            }
        }
    }

    @Test func eventKey_isSiteDayID_andGivesTheIDBack() {
        let example = site("example.com")
        let id = EventID.forHit(site: example, hitID: "h", timestampMs: may1st2024Ms + 5)
        let key = StorageKeys.event(example, id)
        #expect(key == StorageKeys.sitePrefix(example) + may1st2024.index.bigEndianBytes + id.bytes)
        #expect(key.starts(with: StorageKeys.eventDay(example, may1st2024)))
        #expect(StorageKeys.eventID(fromEventKey: key) == id)
        #expect(StorageKeys.eventID(fromEventKey: Array(key.prefix(15))) == nil)
    }

    @Test func eventKeys_sortByDayThenTime() {
        let example = site("example.com")
        var rng = SplitMix64(seed: 1)
        let ids = (0..<500).map { i in
            EventID.forHit(site: example, hitID: "h\(i)", timestampMs: may1st2024Ms + Int64.random(in: 0..<(400 * TimeUnits.dayMs), using: &rng))
        }
        let byKey = ids.sorted { StorageKeys.event(example, $0).lexicographicallyPrecedes(StorageKeys.event(example, $1)) }
        #expect(byKey == ids.sorted())
        // Big-endian days: day 255 sorts before day 256.
        #expect(StorageKeys.eventDay(example, Day(index: 255)).lexicographicallyPrecedes(StorageKeys.eventDay(example, Day(index: 256))))
    }

    @Test func wholeDay_isOneRange() {
        let example = site("example.com")
        let dayPrefix = StorageKeys.eventDay(example, may1st2024)
        let first = EventID.serverMade(timestampMs: may1st2024Ms, node: 0, sequence: 0)
        let last = EventID.serverMade(timestampMs: may1st2024Ms + .days(1) - 1, node: .max, sequence: (1 << 48) - 1)
        let nextDay = EventID.serverMade(timestampMs: may1st2024Ms + .days(1), node: 0, sequence: 0)
        #expect(inRange(StorageKeys.event(example, first), of: dayPrefix))
        #expect(inRange(StorageKeys.event(example, last), of: dayPrefix))
        #expect(!inRange(StorageKeys.event(example, nextDay), of: dayPrefix))
    }

    @Test(arguments: Event.Kind.allCases)
    func visitorHit_roundTrips(kind: Event.Kind) throws {
        let example = site("example.com")
        let visitor = VisitorID(rawValue: 0x0123_4567_89AB_CDEF)
        let id = EventID.forHit(site: example, hitID: "h", timestampMs: may1st2024Ms + 123_456)
        let path = "/blog/überblick?"
        let key = StorageKeys.visitorEvent(example, visitor, id)
        #expect(key == StorageKeys.visitorDay(example, may1st2024, visitor) + id.bytes)
        let hit = try #require(StorageKeys.visitorHit(key: key, value: StorageKeys.visitorHitValue(kind: kind, path: path)))
        #expect(hit == Visits.Hit(id: id, timestampMs: may1st2024Ms + 123_456, kind: kind, path: path))
    }

    @Test func visitorHit_withEmptyPath_roundTrips() {
        let id = EventID.serverMade(timestampMs: may1st2024Ms, node: 1, sequence: 1)
        let key = StorageKeys.visitorEvent(site("a.com"), VisitorID(rawValue: 1), id)
        #expect(StorageKeys.visitorHit(key: key, value: StorageKeys.visitorHitValue(kind: .identify, path: ""))?.path == "")
    }

    @Test func visitorHit_rejectsBadValuesAndKeys() {
        let id = EventID.serverMade(timestampMs: may1st2024Ms, node: 1, sequence: 1)
        let key = StorageKeys.visitorEvent(site("a.com"), VisitorID(rawValue: 1), id)
        #expect(StorageKeys.visitorHit(key: key, value: []) == nil)
        #expect(StorageKeys.visitorHit(key: key, value: [0]) == nil)
        #expect(StorageKeys.visitorHit(key: key, value: [6] + Array("/".utf8)) == nil)
        #expect(StorageKeys.visitorHit(key: Array(key.prefix(10)), value: [1]) == nil)
    }

    @Test func visitorKeys_groupADaysHitsPerVisitor() {
        let example = site("example.com")
        let visitor = VisitorID(rawValue: 42)
        let id = EventID.forHit(site: example, hitID: "x", timestampMs: may1st2024Ms + 1_000)
        let key = StorageKeys.visitorEvent(example, visitor, id)
        #expect(inRange(key, of: StorageKeys.visitorDay(example, may1st2024, visitor)))
        #expect(inRange(key, of: StorageKeys.visitorDay(example, may1st2024)))
        #expect(!inRange(key, of: StorageKeys.visitorDay(example, may1st2024, VisitorID(rawValue: 43))))
        let dayPrefixCount = StorageKeys.visitorDay(example, may1st2024).count
        #expect(StorageKeys.visitor(fromVisitorKey: key, dayPrefixCount: dayPrefixCount) == visitor)
        #expect(StorageKeys.visitor(fromVisitorKey: Array(key.prefix(dayPrefixCount + 7)), dayPrefixCount: dayPrefixCount) == nil)
    }

    @Test func rollupKeys_giveTheirBucketOrDateBack() {
        let example = site("example.com")
        let bucket = QuarterHour(index: 1_905_056)
        let key = StorageKeys.rollupBucket(example, .total, bucket)
        #expect(StorageKeys.rollupIndex(key: key, prefixCount: StorageKeys.rollupMetric(example, .total).count) == bucket.index)
        let dayKey = StorageKeys.rollupDay(example, .page, Day(index: 19_845))
        #expect(StorageKeys.rollupIndex(key: dayKey, prefixCount: StorageKeys.rollupDayMetric(example, .page).count) == 19_845)
        #expect(StorageKeys.rollupIndex(key: [1, 2, 3], prefixCount: 2) == nil)
        #expect(StorageKeys.rollupIndex(key: dayKey + [0], prefixCount: StorageKeys.rollupDayMetric(example, .page).count) == nil)
    }

    @Test func rollupKeys_ofOneMetric_sortByBucket() {
        let example = site("example.com")
        let early = StorageKeys.rollupBucket(example, .page, QuarterHour(index: 255))
        let late = StorageKeys.rollupBucket(example, .page, QuarterHour(index: 256))
        #expect(early.lexicographicallyPrecedes(late))
        #expect(!inRange(StorageKeys.rollupBucket(example, .referrer, QuarterHour(index: 0)), of: StorageKeys.rollupMetric(example, .page)))
    }

    @Test func visitorKey_isSiteThenVisitor() {
        #expect(StorageKeys.visitor(site("a.com"), VisitorID(rawValue: 0x0102)) == [5] + Array("a.com".utf8) + [0, 0, 0, 0, 0, 0, 1, 2])
    }
}
