@testable import FootfallModel
import Testing

/// The segment form of a day's events: lossless, compact, and refusing whatever is not a whole
/// segment of its day.
@Suite struct EventSegmentTests {
    static let site = SiteID("shop.example")!
    static let day = Day(containing: 1_781_524_800_000)

    /// A day of traffic as the pipeline makes it: few pages and referrers, many visitors, the odd
    /// consented visitor with personal data, properties, engagement, a cookieless id linked to
    /// yesterday's.
    static func traffic(_ count: Int, seed: UInt64) -> [Event] {
        var random = SplitMix64(seed: seed)
        let pages = (0..<40).map { "/p/\($0)" }, hosts = ["", "t.co", "www.google.com", "news.ycombinator.com"]
        return (0..<count).map { n in
            let visitor = VisitorID(rawValue: random.next() % UInt64(max(1, count / 6)) &* 0x9E37_79B9_7F4A_7C15)
            let ts = day.startMs + Int64(random.next() % UInt64(TimeUnits.dayMs))
            let kind = Event.Kind.allCases[Int(random.next() % 5)]
            var event = Event(id: EventID.forHit(site: site, hitID: "hit-\(seed)-\(n)", timestampMs: ts),
                              site: site, visitor: visitor, timestampMs: ts, kind: kind, path: pages[Int(random.next() % 40)])
            event.title = "Page – \(event.path) ✓"
            event.referrerHost = hosts[Int(random.next() % 4)]
            event.utm = UTM(source: n % 3 == 0 ? "news" : "", campaign: n % 5 == 0 ? "june" : "")
            event.geo = Geo(country: ["DE", "FR", "US"][Int(random.next() % 3)], region: n % 2 == 0 ? "BE" : "")
            event.device = Device(browser: "Chrome", browserMajor: 120 + UInt32(random.next() % 8), os: "Linux",
                                  deviceClass: Device.Class.allCases[Int(random.next() % 4)])
            if kind == .custom { event.name = "signup"; event.props = ["plan": "pro\(n % 3)", "seats": "\(n % 7)"] }
            if kind == .click { event.name = "click"; event.target = "https://out.example/\(n % 4)" }
            if kind == .engagement { event.engagementMs = UInt32(random.next() % 600_000) }
            event.consented = n % 11 == 0
            if n % 33 == 0 { event.pii = PII(name: "Ann", email: "ann\(n)@example.org", phone: "") }
            if n % 17 == 0 { event.previousDayVisitor = VisitorID(rawValue: random.next()) }
            return event
        }
    }

    @Test(arguments: [0, 1, 2, 700, 5_000])
    func roundTrip_givesBackEveryEvent(count: Int) throws {
        let events = Self.traffic(count, seed: UInt64(count) + 7)
        let segment = EventSegment(site: Self.site, day: Self.day, events: events)
        let decoded = try #require(SegmentCodec.decode(SegmentCodec.encode(segment), site: Self.site, day: Self.day))
        #expect(decoded == segment)
        #expect(Set(decoded.events) == Set(events))
        #expect(decoded.count == events.count)
    }

    /// Cutting rows out gives the segment of the remaining events, dictionaries holding only the
    /// values still used (what an erasure relies on: nothing of the removed rows stays).
    @Test(arguments: [1, 2, 700, 5_000])
    func removingRows_givesTheSegmentOfTheRest(count: Int) throws {
        let segment = EventSegment(site: Self.site, day: Self.day, events: Self.traffic(count, seed: UInt64(count) + 11))
        var random = SplitMix64(seed: UInt64(count))
        for _ in 0..<20 {
            let run = Int(random.next() % UInt64(segment.visitors.count))
            let rows = try #require(segment.rows(of: segment.visitors[run]))
            // A whole run, or its first rows (an erasure's fence among its hits), or any stretch.
            let cut = [rows, rows.lowerBound..<rows.lowerBound + Int(random.next() % UInt64(rows.count + 1)),
                       { let a = Int(random.next() % UInt64(count)); return a..<min(count, a + Int(random.next() % 50)) }()][Int(random.next() % 3)]
            let rest = segment.events.enumerated().filter { !cut.contains($0.offset) }.map(\.element)
            guard let removed = segment.removing(rows: cut) else {
                #expect(rest.isEmpty)
                continue
            }
            let rebuilt = EventSegment(site: Self.site, day: Self.day, events: rest)
            #expect(removed == rebuilt)
            #expect(removed.texts == rebuilt.texts && removed.propKeys == rebuilt.propKeys && removed.propValues == rebuilt.propValues)
            #expect(removed.visitors == rebuilt.visitors && removed.visitorRuns == rebuilt.visitorRuns)
        }
    }

    /// Events already in row order are taken as they are, any other order is sorted first: the
    /// segment is the same whichever order its events come in (a break in the order check, taking
    /// shuffled events as sorted, makes the shuffled one differ).
    @Test(arguments: [2, 700, 5_000])
    func theSameEventsInAnyOrder_makeTheSameSegment(count: Int) {
        let events = Self.traffic(count, seed: UInt64(count) + 5)
        var random = SplitMix64(seed: UInt64(count))
        var shuffled = events
        shuffled.shuffle(using: &random)
        let sorted = events.sorted(by: EventSegment.rowOrder)
        let fromSorted = EventSegment(site: Self.site, day: Self.day, events: sorted)
        #expect(fromSorted.events == sorted)
        #expect(EventSegment(site: Self.site, day: Self.day, events: shuffled) == fromSorted)
        #expect(EventSegment(site: Self.site, day: Self.day, events: sorted.reversed()) == fromSorted)
    }

    /// `inRowOrder` sorts keys and gathers the events: it must give what a stable sort of the
    /// events gives, ties included. Here many events share a visitor and a millisecond (so the id
    /// decides), and some are stored twice with other fields (so only their given order does).
    @Test(arguments: [1, 64, 3_000])
    func inRowOrder_isAStableSortByRowOrder(count: Int) {
        var random = SplitMix64(seed: UInt64(count) + 90)
        var events = Self.traffic(count, seed: UInt64(count) + 91).map { event in
            var tied = event
            tied.visitor = VisitorID(rawValue: random.next() % 3)
            tied.timestampMs = Self.day.startMs + Int64(random.next() % 4)
            tied.id = EventID.forHit(site: Self.site, hitID: "tie-\(random.next() % 50)", timestampMs: tied.timestampMs)
            return tied
        }
        for index in stride(from: 0, to: count, by: 7) {
            var again = events[index]
            again.path = "/stored-again-\(index)"
            events.append(again)
        }
        events.shuffle(using: &random)
        let expected = events.sorted(by: EventSegment.rowOrder)
        #expect(EventSegment.inRowOrder(events) == expected)
        #expect(EventSegment.inRowOrder(expected) == expected)
        #expect(EventSegment.inRowOrder([]) == [])
    }

    @Test func rows_runByVisitorThenTime() {
        let segment = EventSegment(site: Self.site, day: Self.day, events: Self.traffic(2_000, seed: 3))
        let visitors = segment.rowVisitors
        #expect(segment.visitors == segment.visitors.sorted() && Set(segment.visitors).count == segment.visitors.count)
        for row in 1..<segment.count where visitors[row] == visitors[row - 1] {
            #expect(segment.timestamps[row] >= segment.timestamps[row - 1])
        }
    }

    @Test func filterValues_areFoundInTheDictionary() throws {
        let segment = EventSegment(site: Self.site, day: Self.day, events: Self.traffic(1_000, seed: 5))
        let paths = segment.texts[EventSegment.Text.path.rawValue]
        let code = try #require(paths.code(of: "/p/7"))
        #expect(paths.dictionary[Int(code)] == "/p/7")
        #expect(paths.code(of: "/p/77") == nil)
        #expect(paths.code(of: "") == nil)
    }

    /// A realistic day costs a fraction of the protobuf row's ~100 bytes an event, before RocksDB's
    /// own compression.
    @Test func encoding_isCompact() {
        let events = Self.traffic(20_000, seed: 11)
        let bytes = SegmentCodec.encode(EventSegment(site: Self.site, day: Self.day, events: events))
        #expect(Double(bytes.count) / Double(events.count) < 30, "\(Double(bytes.count) / Double(events.count)) bytes an event")
    }

    @Test func decode_refusesDamagedOrForeignBytes() {
        let segment = EventSegment(site: Self.site, day: Self.day, events: Self.traffic(300, seed: 13))
        let bytes = SegmentCodec.encode(segment)
        for cut in stride(from: 0, to: bytes.count, by: max(1, bytes.count / 50)) {
            #expect(SegmentCodec.decode(Array(bytes.prefix(cut)), site: Self.site, day: Self.day) == nil, "cut at \(cut)")
        }
        var random = SplitMix64(seed: 17)
        for _ in 0..<200 {
            var damaged = bytes
            damaged[Int(random.next() % UInt64(bytes.count))] ^= UInt8(1 + random.next() % 255)
            #expect(SegmentCodec.decode(damaged, site: Self.site, day: Self.day) == nil)
        }
        // A value stored under another site's or day's key is refused, not read as other events.
        #expect(SegmentCodec.decode(bytes, site: Self.site, day: Self.day.advanced(by: 1)) == nil)
        #expect(SegmentCodec.decode(bytes, site: SiteID("other.example")!, day: Self.day) == nil)
    }

    /// Bytes that pass the checksum but break the rules (what a bug or a peer could write) are
    /// refused too: rows out of order within a visitor, a property key twice in one event.
    @Test func decode_checksTheRulesNotJustTheChecksum() throws {
        var twin = Self.traffic(1, seed: 19)[0]
        var events = [twin]
        twin.id = EventID.forHit(site: Self.site, hitID: "twin", timestampMs: twin.timestampMs)
        events.append(twin)
        let segment = EventSegment(site: Self.site, day: Self.day, events: events)
        #expect(SegmentCodec.decode(SegmentCodec.encode(segment), site: Self.site, day: Self.day) != nil)
        func rebuilt(ids: [EventID]? = nil, props: [[(key: UInt32, value: UInt32)]]? = nil, propKeys: [String]? = nil) -> EventSegment {
            EventSegment(site: segment.site, day: segment.day, visitors: segment.visitors, visitorRuns: segment.visitorRuns,
                         timestamps: segment.timestamps, ids: ids ?? Array(segment.ids), kinds: segment.kinds, texts: segment.texts,
                         deviceClasses: segment.deviceClasses, browserMajors: segment.browserMajors, engagementMs: segment.engagementMs,
                         consented: segment.consented, props: props.map { RowProperties($0) } ?? segment.props, propKeys: propKeys ?? segment.propKeys,
                         propValues: ["x"], previousDayVisitors: [:], pii: [:])
        }
        let swapped = rebuilt(ids: Array(segment.ids.reversed()))
        #expect(SegmentCodec.decode(SegmentCodec.encode(swapped), site: Self.site, day: Self.day) == nil)
        let doubled = rebuilt(props: [[(0, 0), (0, 0)], []], propKeys: ["plan"])
        #expect(SegmentCodec.decode(SegmentCodec.encode(doubled), site: Self.site, day: Self.day) == nil)
        let single = rebuilt(props: [[(0, 0)], []], propKeys: ["plan"])
        #expect(SegmentCodec.decode(SegmentCodec.encode(single), site: Self.site, day: Self.day)?.events.first?.props == ["plan": "x"])
    }

    @Test func codes_packAndUnpackAtEveryWidth() {
        var random = SplitMix64(seed: 23)
        for width in 0...32 {
            let bound = width == 0 ? 1 : (width == 32 ? Int(UInt32.max) : 1 << width)
            let codes = (0..<257).map { _ in width == 0 ? UInt32(0) : UInt32(truncatingIfNeeded: random.next()) & UInt32(truncatingIfNeeded: (UInt64(1) << UInt64(width)) - 1) }
            var writer = ByteWriter()
            writer.packed(codes, width: width)
            var reader = ByteReader(writer.bytes)
            #expect(reader.packed(count: codes.count, width: width, bound: width == 32 ? Int(UInt32.max) + 1 : bound) == codes, "width \(width)")
            #expect(reader.isAtEnd)
        }
    }
}
