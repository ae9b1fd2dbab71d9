@testable import FootfallModel
import Testing

@Suite struct VisitsTests {
    static let site = FootfallModelTests.site("example.com")
    static let start = may1st2024Ms + 8 * TimeUnits.hourMs

    /// A hit `offsetMs` after 08:00 UTC on 2024-05-01.
    func hit(_ name: String, _ offsetMs: Int64, _ kind: Event.Kind = .pageview, _ path: String = "/") -> Visits.Hit {
        let ms = Self.start + offsetMs
        return Visits.Hit(id: EventID.forHit(site: Self.site, hitID: name, timestampMs: ms), timestampMs: ms, kind: kind, path: path)
    }

    /// Rollup updates summed per (metric, bucket, dimension), zero sums dropped.
    struct Key: Hashable, CustomStringConvertible {
        var metric: RollupMetric, bucket: UInt32, dimension: String
        var description: String { "\(metric.name)@\(bucket)/\(dimension)" }
    }

    /// The cells `RollupCells` adds for these visits, each in its visit's starting quarter hour.
    func totals(_ visits: [Visits.Visit]) -> [Key: Int64] {
        var sums = [Key: Int64]()
        for visit in visits {
            let bucket = QuarterHour(containing: visit.startMs).index
            RollupCells.of(visit) { metric, dimension, count in sums[Key(metric: metric, bucket: bucket, dimension: dimension), default: 0] += count }
        }
        return sums.filter { $0.value != 0 }
    }

    /// What the rollups should hold for these visits, written out independently of `RollupCells`.
    func expectedTotals(_ visits: [Visits.Visit]) -> [Key: Int64] {
        var sums = [Key: Int64]()
        for visit in visits {
            let bucket = QuarterHour(containing: visit.startMs).index
            sums[Key(metric: .visits, bucket: bucket, dimension: ""), default: 0] += 1
            sums[Key(metric: .visitDuration, bucket: bucket, dimension: ""), default: 0] += visit.endMs - visit.startMs
            sums[Key(metric: .entryPage, bucket: bucket, dimension: visit.entryPage), default: 0] += 1
            sums[Key(metric: .exitPage, bucket: bucket, dimension: visit.exitPage), default: 0] += 1
            if visit.isBounce {
                sums[Key(metric: .bounces, bucket: bucket, dimension: ""), default: 0] += 1
            }
        }
        return sums.filter { $0.value != 0 }
    }

    func total(_ sums: [Key: Int64], _ metric: RollupMetric) -> Int64 {
        sums.filter { $0.key.metric == metric }.values.reduce(0, +)
    }

    // MARK: derive

    @Test func noHits_noVisits() {
        #expect(Visits.derive([]).isEmpty)
    }

    @Test func gapOf29Minutes59Seconds_joinsTheVisit() {
        #expect(Visits.derive([hit("a", 0), hit("b", .minutes(29) + .seconds(59))]).count == 1)
        #expect(Visits.derive([hit("a", 0), hit("b", .minutes(30) - 1)]).count == 1)
    }

    @Test func gapOfExactly30Minutes_startsANewVisit() {
        let visits = Visits.derive([hit("a", 0, .pageview, "/one"), hit("b", .minutes(30), .pageview, "/two")])
        #expect(visits.count == 2)
        #expect(visits.map(\.startMs) == [Self.start, Self.start + .minutes(30)])
        #expect(visits.map(\.entryPage) == ["/one", "/two"])
    }

    @Test func gap_isMeasuredFromTheLastHit_notTheVisitStart() {
        let visits = Visits.derive([hit("a", 0), hit("b", .minutes(25)), hit("c", .minutes(50)), hit("d", .minutes(75))])
        #expect(visits.count == 1)
        #expect(visits.first?.durationMs == .minutes(75))
    }

    @Test func hitsInAnyOrder_deriveTheSameVisits() {
        var rng = SplitMix64(seed: 3)
        var hits = [Visits.Hit]()
        var offset: Int64 = 0
        for i in 0..<30 {
            offset += i % 4 == 0 ? .minutes(31) : .minutes(7)
            hits.append(hit("h\(i)", offset, .pageview, "/p\(i % 5)"))
        }
        let reference = Visits.derive(hits)
        for _ in 0..<20 {
            #expect(Visits.derive(hits.shuffled(using: &rng)) == reference)
        }
    }

    @Test func singlePageview_isABounce() {
        let visits = Visits.derive([hit("a", 0)])
        #expect(visits.count == 1)
        #expect(visits[0].isBounce)
        #expect(visits[0].durationMs == 0)
    }

    @Test func twoPageviews_areNotABounce() {
        #expect(Visits.derive([hit("a", 0), hit("b", .minutes(1))]).map(\.isBounce) == [false])
    }

    @Test(arguments: [Event.Kind.click, .custom])
    func pageviewWithAnInteraction_isNotABounce(kind: Event.Kind) {
        #expect(Visits.derive([hit("a", 0), hit("b", .minutes(2), kind)]).map(\.isBounce) == [false])
    }

    @Test func pageviewWithEngagementPings_isStillABounce_butLasts() {
        let visits = Visits.derive([hit("a", 0), hit("b", .minutes(10), .engagement), hit("c", .minutes(20), .engagement)])
        #expect(visits.count == 1)
        #expect(visits[0].isBounce)
        #expect(visits[0].durationMs == .minutes(20))
        #expect(visits[0].pageviews == 1)
    }

    @Test
    func engagementPingsAlone_neverMakeAVisit() {
        // A tab left open: a ping 45 minutes after the pageview is not a new visit (nor a bounce).
        let visits = Visits.derive([hit("a", 0), hit("ping", .minutes(45), .engagement)])
        #expect(visits.count == 1)
        #expect(visits.map(\.isBounce) == [true])
        #expect(Visits.derive([hit("ping", 0, .engagement)]).isEmpty)
    }

    @Test
    func visitWithoutPageview_isNotABounce() {
        let visits = Visits.derive([hit("event", 0, .custom)])
        #expect(visits.count == 1)
        #expect(!visits[0].isBounce)
    }

    @Test func identifyCalls_areNotActivity() {
        // An identify between two visits neither bridges them nor makes a visit of its own.
        let visits = Visits.derive([hit("a", 0), hit("id", .minutes(20), .identify), hit("b", .minutes(40))])
        #expect(visits.count == 2)
        #expect(Visits.derive([hit("id", 0, .identify)]).isEmpty)
        #expect(visits[0].durationMs == 0)
    }

    @Test func entryAndExitPages_areTheFirstAndLastPageviews() {
        let visits = Visits.derive([
            hit("click", 0, .click, "/landing-click"),
            hit("a", .minutes(1), .pageview, "/landing"),
            hit("b", .minutes(2), .pageview, "/pricing"),
            hit("c", .minutes(3), .pageview, "/signup"),
            hit("d", .minutes(4), .custom, "/after"),
            hit("e", .minutes(5), .engagement, "/ping"),
        ])
        #expect(visits.count == 1)
        #expect(visits[0].entryPage == "/landing")
        #expect(visits[0].exitPage == "/signup")
        #expect(visits[0].pageviews == 3)
        #expect(visits[0].interactions == 2)
        #expect(visits[0].startMs == Self.start)
        #expect(visits[0].endMs == Self.start + .minutes(5))
    }

    @Test func hitsAtTheSameMillisecond_orderByEventID() {
        let a = hit("x", 0, .pageview, "/x"), b = hit("y", 0, .pageview, "/y")
        let (first, second) = a.id < b.id ? (a, b) : (b, a)
        let visit = Visits.derive([second, first])[0]
        #expect(visit.entryPage == first.path)
        #expect(visit.exitPage == second.path)
    }

    // MARK: rollups

    @Test func bouncedVisit_countsItsVisitBounceEntryAndExit_whereItStarts() {
        let a = hit("a", .minutes(20), .pageview, "/home")
        let bucket = QuarterHour(containing: a.timestampMs).index
        #expect(totals(Visits.derive([a])) == [
            Key(metric: .visits, bucket: bucket, dimension: ""): 1,
            Key(metric: .bounces, bucket: bucket, dimension: ""): 1,
            Key(metric: .entryPage, bucket: bucket, dimension: "/home"): 1,
            Key(metric: .exitPage, bucket: bucket, dimension: "/home"): 1,
        ])
    }

    @Test func visitRollups_holdWhatTheVisitsAre() {
        for seed: UInt64 in 1...300 {
            var rng = SplitMix64(seed: seed)
            let visits = Visits.derive(randomHits(using: &rng))
            #expect(totals(visits) == expectedTotals(visits), "seed \(seed)")
        }
    }

    /// One visitor's hits spread over a few hours, some gaps over 30 minutes, some hits on the
    /// same millisecond, every kind.
    func randomHits(using rng: inout SplitMix64) -> [Visits.Hit] {
        let count = Int.random(in: 1...40, using: &rng)
        var offset: Int64 = .minutes(Int64.random(in: 0...15, using: &rng))
        var hits = [Visits.Hit]()
        for i in 0..<count {
            let gap: Int64 = switch Int.random(in: 0..<10, using: &rng) {
            case 0: 0
            case 1: .minutes(30)
            case 2: .minutes(30) - 1
            case 3: .minutes(Int64.random(in: 31...180, using: &rng))
            default: .seconds(Int64.random(in: 1...(20 * 60), using: &rng))
            }
            offset += gap
            let kind = Event.Kind.allCases.randomElement(using: &rng)!
            hits.append(hit("r\(i)-\(rng.next())", offset, kind, "/p\(Int.random(in: 0..<4, using: &rng))"))
        }
        return hits
    }

    @Test func everyVisitCountsOnce_andBouncesNeverExceedVisits() {
        for seed: UInt64 in 1_000...1_100 {
            var rng = SplitMix64(seed: seed)
            let hits = randomHits(using: &rng)
            let visits = Visits.derive(hits)
            let sums = totals(visits)
            #expect(total(sums, .visits) == Int64(visits.count), "seed \(seed)")
            #expect(total(sums, .entryPage) == Int64(visits.count), "seed \(seed)")
            #expect(total(sums, .exitPage) == Int64(visits.count), "seed \(seed)")
            #expect(total(sums, .bounces) <= total(sums, .visits), "seed \(seed)")
            // Visits never overlap and are separated by at least the gap.
            for (earlier, later) in zip(visits, visits.dropFirst()) {
                #expect(later.startMs - earlier.endMs >= Visits.gapMs, "seed \(seed)")
            }
        }
    }
}
