@testable import FootfallModel
import Testing

@Suite struct RollupCellTests {
    func sketch(_ ids: Range<Int>) -> HyperLogLog {
        var sketch = HyperLogLog()
        for i in ids { sketch.insert(visitor(i)) }
        return sketch
    }

    @Test(arguments: [0, 1, -1, 42, -42, 1 << 40, Int64.max, Int64.min])
    func countOnlyCell_roundTrips(count: Int64) {
        let cell = RollupCell(count: count)
        #expect(cell.encoded.count == 9)
        #expect(cell.encoded.first == RollupCell.countTag)
        #expect(RollupCell(encoded: cell.encoded) == cell)
    }

    @Test func count_isLittleEndian() {
        #expect(RollupCell(count: 0x0102).encoded == [RollupCell.countTag, 0x02, 0x01, 0, 0, 0, 0, 0, 0])
        #expect(RollupCell(count: -1).encoded == [RollupCell.countTag] + [UInt8](repeating: 0xff, count: 8))
    }

    @Test(arguments: [0, 1, 500, 40_000])
    func cellWithSketch_roundTrips(visitors: Int) {
        let cell = RollupCell(count: -7, visitors: sketch(0..<visitors))
        #expect(cell.encoded.first == RollupCell.countAndSketchTag)
        let decoded = RollupCell(encoded: cell.encoded)
        #expect(decoded == cell)
        #expect(decoded?.visitors?.estimate == cell.visitors?.estimate)
    }

    static let garbage: [(String, [UInt8])] = [
        ("empty", []),
        ("tag only", [RollupCell.countTag]),
        ("short count", [RollupCell.countTag, 1, 2, 3, 4, 5, 6, 7]),
        ("unknown tag", [0x03, 0, 0, 0, 0, 0, 0, 0, 0]),
        ("zero tag", [0x00, 0, 0, 0, 0, 0, 0, 0, 0]),
        ("count with trailing byte", [RollupCell.countTag, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
        ("sketch tag without sketch", [RollupCell.countAndSketchTag, 0, 0, 0, 0, 0, 0, 0, 0]),
        ("sketch tag with bad sketch", [RollupCell.countAndSketchTag, 0, 0, 0, 0, 0, 0, 0, 0, 0x07]),
        ("sketch tag with truncated sparse sketch", [RollupCell.countAndSketchTag, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0x00]),
    ]

    @Test(arguments: garbage)
    func decodingGarbage_returnsNil(label: String, bytes: [UInt8]) {
        #expect(RollupCell(encoded: bytes) == nil, "\(label)")
    }

    @Test(arguments: garbage)
    func aTotal_skipsWhatIsNotACell(label: String, bytes: [UInt8]) {
        var total = RollupTotal()
        total.add(encoded: RollupCell(count: 2, visitors: sketch(0..<3)).encoded[...])
        total.add(encoded: bytes[...])
        #expect(total.count == 2, "\(label)")
        #expect(total.visitors?.estimate == 3, "\(label)")
    }

    @Test(arguments: [(3, 40), (2_000, 30_000), (40_000, 10)])
    func aTotal_sumsCounts_andUnitesSketches_likeMergingCells(sizeA: Int, sizeB: Int) {
        let cells = [RollupCell(count: 5, visitors: sketch(0..<sizeA)), RollupCell(count: -2), RollupCell(count: 9, visitors: sketch(sizeA / 2..<sizeA / 2 + sizeB))]
        var merged = RollupCell(count: 0)
        var total = RollupTotal()
        for cell in cells {
            merged.merge(cell)
            total.add(encoded: cell.encoded[...])
        }
        #expect(total.count == 12)
        #expect(total.visitors == merged.visitors)
        #expect(RollupTotal().visitors == nil)
    }

    @Test func merge_addsCountsAndUnitesSketches() {
        var a = RollupCell(count: 3, visitors: sketch(0..<100))
        a.merge(RollupCell(count: 4, visitors: sketch(50..<200)))
        #expect(a.count == 7)
        #expect(a.visitors == { var s = sketch(0..<100); s.merge(sketch(50..<200)); return s }())
        #expect(a.visitors.map { abs($0.estimate - 200) <= 5 } == true)
    }

    @Test func merge_withNegativeCount_subtracts() {
        var cell = RollupCell(count: 5)
        cell.merge(RollupCell(count: -5))
        #expect(cell.count == 0)
        cell.merge(RollupCell(count: -3))
        #expect(cell.count == -3)
        #expect(RollupCell(encoded: cell.encoded)?.count == -3)
    }

    @Test func merge_countOnlyIntoSketch_keepsTheSketch_andViceVersa() {
        var withSketch = RollupCell(count: 1, visitors: sketch(0..<10))
        withSketch.merge(RollupCell(count: 2))
        #expect(withSketch.count == 3)
        #expect(withSketch.visitors == sketch(0..<10))

        var countOnly = RollupCell(count: 2)
        countOnly.merge(RollupCell(count: 1, visitors: sketch(0..<10)))
        #expect(countOnly.count == 3)
        #expect(countOnly.visitors == sketch(0..<10))
    }

    @Test func merge_isOrderIndependent() {
        var rng = SplitMix64(seed: 7)
        let cells = (0..<30).map { i in
            RollupCell(count: Int64.random(in: -100...100, using: &rng),
                       visitors: i % 3 == 0 ? nil : sketch((i * 100)..<(i * 100 + Int.random(in: 0...300, using: &rng))))
        }
        var reference = RollupCell(count: 0)
        for cell in cells { reference.merge(cell) }
        for _ in 0..<10 {
            var shuffled = RollupCell(count: 0)
            for cell in cells.shuffled(using: &rng) { shuffled.merge(cell) }
            #expect(shuffled.count == reference.count)
            #expect(shuffled.visitors?.encoded == reference.visitors?.encoded)
        }
    }
}

/// Packs: one stored value per metric and bucket, merged by RocksDB's merge operator.
@Suite struct RollupPackTests {
    func sketch(_ ids: Range<Int>) -> HyperLogLog {
        var sketch = HyperLogLog()
        for i in ids { sketch.insert(visitor(i)) }
        return sketch
    }

    func pack(_ cells: [String: RollupCell]) -> [UInt8] { RollupPack.encode(cells) }

    @Test func aPack_roundTrips_withAnyDimension() {
        let long = String(repeating: "/segment", count: 40)
        let cells = ["": RollupCell(count: 3, visitors: sketch(0..<3)), "/": RollupCell(count: -1), "Ünïcödé": RollupCell(count: 7),
                     long: RollupCell(count: 1, visitors: sketch(0..<3_000))]
        #expect(RollupPack.decode(pack(cells)) == cells)
        #expect(RollupPack.entries(pack(cells))?.map(\.dimension) == cells.keys.sorted())
        #expect(RollupPack.decode(pack([:])) == [:])
    }

    static let garbage: [(String, [UInt8])] = [
        ("empty", []), ("a cell, not a pack", RollupCell(count: 1).encoded), ("unknown tag", [0x11, 0]),
        ("dimension past the end", [RollupPack.tag, 5, 0x61]), ("cell past the end", [RollupPack.tag, 1, 0x61, 9, 1, 0]),
        ("endless length", [RollupPack.tag] + [UInt8](repeating: 0xff, count: 12)),
    ]

    @Test(arguments: garbage)
    func garbage_isNotAPack(label: String, bytes: [UInt8]) {
        #expect(RollupPack.entries(bytes) == nil, "\(label)")
        #expect(RollupPack.decode(bytes) == nil, "\(label)")
    }

    @Test func mergeEncoded_withNothing_isAnEmptyPack() {
        #expect(RollupPack.decode(RollupPack.mergeEncoded(existing: nil, operands: [])) == [:])
    }

    @Test func mergeEncoded_mergesCellsOfTheSameDimension_andKeepsTheRest() {
        let merged = RollupPack.mergeEncoded(existing: pack(["/a": RollupCell(count: 10)]),
                                             operands: [pack(["/a": RollupCell(count: 1, visitors: sketch(0..<5)), "/b": RollupCell(count: 2)]),
                                                        pack(["/a": RollupCell(count: -4)]),
                                                        pack(["/a": RollupCell(count: 1, visitors: sketch(3..<9)), "/c": RollupCell(count: 1)])])
        let cells = RollupPack.decode(merged)
        #expect(cells?["/a"]?.count == 8)
        #expect(cells?["/a"]?.visitors?.estimate == 9)
        #expect(cells?["/b"] == RollupCell(count: 2))
        #expect(cells?["/c"] == RollupCell(count: 1))
    }

    @Test func mergeEncoded_dropsCellsThatCancelOut() {
        let merged = RollupPack.mergeEncoded(existing: pack(["/a": RollupCell(count: 1), "/b": RollupCell(count: 1)]),
                                             operands: [pack(["/a": RollupCell(count: -1)])])
        #expect(RollupPack.decode(merged) == ["/b": RollupCell(count: 1)])
    }

    @Test func mergeEncoded_skipsWhatIsNotAPack() {
        let good = pack(["/": RollupCell(count: 2, visitors: sketch(0..<3))])
        let merged = RollupPack.mergeEncoded(existing: [0xde, 0xad], operands: [[], RollupCell(count: 5).encoded, good, Array(good.prefix(4)), good])
        #expect(RollupPack.decode(merged) == ["/": {
            var expected = RollupCell(count: 2, visitors: sketch(0..<3))
            expected.merge(RollupCell(count: 2, visitors: sketch(0..<3)))
            return expected
        }()])
    }

    @Test func mergeEncoded_isAssociative_likeARocksDBPartialMerge() {
        let operands = (0..<6).map { i in
            pack(["/p\(i % 3)": RollupCell(count: Int64(i) - 2, visitors: i % 2 == 0 ? sketch((i * 10)..<(i * 10 + 15)) : nil),
                  "/all": RollupCell(count: 1)])
        }
        let all = RollupPack.mergeEncoded(existing: nil, operands: operands)
        let partial = RollupPack.mergeEncoded(existing: nil, operands: Array(operands.prefix(3)))
        let staged = RollupPack.mergeEncoded(existing: partial, operands: Array(operands.suffix(3)))
        #expect(RollupPack.decode(all) == RollupPack.decode(staged))
        #expect(RollupPack.decode(all)?["/all"]?.count == 6)
    }
}

@Suite struct RollupMetricTests {
    @Test func name_roundTrips_forEveryMetric() {
        for metric in RollupMetric.allCases {
            #expect(RollupMetric(name: metric.name) == metric)
        }
        #expect(Set(RollupMetric.allCases.map(\.name)).count == RollupMetric.allCases.count)
        #expect(RollupMetric(name: "nope") == nil)
    }

    @Test func visitBasedMetrics_areExactlyTheVisitOnes() {
        #expect(Set(RollupMetric.allCases.filter(\.isVisitBased)) == [.visits, .bounces, .visitDuration, .entryPage, .exitPage])
    }
}

@Suite struct RollupCellsTests {
    let site = FootfallModelTests.site("example.com")

    func event(_ kind: Event.Kind, at ms: Int64 = may1st2024Ms + .minutes(20)) -> Event {
        var event = Event(id: EventID.forHit(site: site, hitID: "h", timestampMs: ms), site: site,
                          visitor: VisitorID(rawValue: 9), timestampMs: ms, kind: kind, path: "/pricing")
        event.referrerHost = "news.ycombinator.com"
        event.utm = UTM(source: "hn", campaign: "launch")
        event.geo = Geo(country: "DE")
        event.device = Device(browser: "Firefox", browserMajor: 125, os: "Linux", deviceClass: .desktop)
        event.name = "signup"
        event.target = "Buy"
        return event
    }

    /// The cells an event adds, as (metric, dimension, count).
    func cells(_ event: Event) -> [(metric: RollupMetric, dimension: String, count: Int64)] {
        var cells = [(metric: RollupMetric, dimension: String, count: Int64)]()
        RollupCells.of(event) { cells.append(($0, $1, $2)) }
        return cells
    }

    @Test func pageview_countsEveryNonEmptyDimension() {
        let cells = cells(event(.pageview))
        let byMetric = Dictionary(uniqueKeysWithValues: cells.map { ($0.metric, $0.dimension) })
        #expect(byMetric == [.total: "", .page: "/pricing", .referrer: "news.ycombinator.com", .utmSource: "hn",
                             .utmCampaign: "launch", .country: "DE", .browser: "Firefox", .os: "Linux", .device: "desktop"])
        #expect(cells.allSatisfy { $0.count == 1 })
    }

    @Test func customEvent_countsItsName_andAVisitorButNoPageview() {
        let cells = cells(event(.custom))
        #expect(cells.map(\.metric) == [.customEvent, .total])
        #expect(cells[0].dimension == "signup" && cells[0].count == 1)
        #expect(cells[1].count == 0)
    }

    @Test func click_countsNameAndTarget() {
        let cells = cells(event(.click))
        #expect(cells.first?.metric == .click)
        #expect(cells.first?.dimension == "signup:Buy")
        #expect(cells.first(where: { $0.metric == .total })?.count == 0)
    }

    @Test func engagementAndIdentify_countTowardNoPerEventMetric() {
        #expect(cells(event(.engagement)).isEmpty)
        #expect(cells(event(.identify)).isEmpty)
    }
}
