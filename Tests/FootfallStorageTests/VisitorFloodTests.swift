import FootfallModel
import FootfallStorage
import Synchronization
import Testing

/// One visitor flooded with hits (a script reusing one consented `vid`) must not slow anyone
/// down: applying a batch costs what its hits cost, whatever the visitor already has, and a
/// visitor's hits a day are capped. Cost is counted in store reads, not timed: the machine is
/// shared and a timing would be noise.
@Suite struct VisitorFloodTests {
    let plan = RetentionPlan(days: 30)!
    var retention: (SiteID) -> RetentionPlan { { _ in plan } }
    let now = day0 + 12 * TimeUnits.hourMs

    /// Store reads of each batch in turn: 100 consented hits of a flood (all of one visitor, or
    /// each of its own), 100 ms apart, with one hit of another site in the same batch as the group
    /// committer would put it.
    func readsPerBatch(oneVisitor: Bool, batches: Int) throws -> [Int] {
        let kv = CountingStore()
        let store = try EventStore(kv: kv)
        var reads = [Int]()
        for batch in 0..<batches {
            var events = (0..<100).map { i in
                let n = batch * 100 + i
                var event = makeEvent("flood\(n)", visitor: oneVisitor ? 1 : UInt64(1_000 + n), at: now - TimeUnits.hourMs + Int64(n) * 100,
                                      path: "/p\(n % 7)")
                event.consented = true
                return event
            }
            events.append(makeEvent("other\(batch)", site: otherSite, visitor: UInt64(batch), at: now))
            let before = kv.reads
            #expect(try store.apply(events, nowMs: now, retention: retention).allSatisfy { $0 == .stored })
            reads.append(kv.reads - before)
        }
        return reads
    }

    /// The bound: a batch of the one-visitor flood (which another site's hit shares or waits
    /// behind) reads no more than a batch of a flood of as many visitors, and its 40th batch no
    /// more than its first. When visits were derived from the index, the 40th batch re-read the
    /// visitor's 3,900 earlier hits.
    @Test func oneVisitorFlood_costsABatchNoMoreThanAPlainFlood_andDoesNotGrow() throws {
        let shared = try readsPerBatch(oneVisitor: true, batches: 40)
        let plain = try readsPerBatch(oneVisitor: false, batches: 40)
        #expect(shared.last! <= shared.first! + 4, "reads per batch: \(shared)")
        #expect(shared.max()! <= plain.max()!, "one visitor: \(shared), each its own: \(plain)")
    }

    @Test func anotherSitesHit_readsTheSame_duringAFloodAsIdle() throws {
        func readsOfOneHit(afterFloodBatches batches: Int) throws -> Int {
            let kv = CountingStore()
            let store = try EventStore(kv: kv)
            _ = try store.apply([makeEvent("warm-up", site: otherSite, visitor: 9, at: now - 60_000)], nowMs: now, retention: retention)
            for batch in 0..<batches {
                let events = (0..<100).map { i in
                    var event = makeEvent("flood\(batch)-\(i)", at: now - TimeUnits.hourMs + Int64(batch * 100 + i) * 100)
                    event.consented = true
                    return event
                }
                _ = try store.apply(events, nowMs: now, retention: retention)
            }
            let before = kv.reads
            #expect(try store.apply([makeEvent("probe", site: otherSite, visitor: 8, at: now)], nowMs: now, retention: retention) == [.stored])
            return kv.reads - before
        }
        #expect(try readsOfOneHit(afterFloodBatches: 30) == readsOfOneHit(afterFloodBatches: 0))
    }

    @Test func hitsPastAVisitorsDailyCap_areDropped_andCounted() throws {
        let store = try EventStore(kv: InMemoryStore())
        let cap = EventStore.visitorDayHitsMax
        let start = day0 + 6 * TimeUnits.hourMs
        let events = (0..<cap + 5).map { makeEvent("capped\($0)", at: start + Int64($0) * 1_000) }
        var outcomes = [EventStore.Outcome]()
        for batch in stride(from: 0, to: events.count, by: 1_000) {
            outcomes += try store.apply(Array(events[batch..<min(batch + 1_000, events.count)]), nowMs: now, retention: retention)
        }
        #expect(outcomes.prefix(cap).allSatisfy { $0 == .stored })
        #expect(Array(outcomes.suffix(5)) == Array(repeating: .capped, count: 5))
        #expect(try store.dayTotals(site: site, metric: .total, days: Day(containing: start)...Day(containing: start))[""]?.count == Int64(cap))
        // A retry of a stored hit is still a duplicate; another visitor, or the next day, is not capped.
        #expect(try store.apply([events[0]], nowMs: now, retention: retention) == [.duplicate])
        #expect(try store.apply([makeEvent("someone-else", visitor: 2, at: start)], nowMs: now, retention: retention) == [.stored])
        #expect(try store.apply([makeEvent("next-day", at: start + TimeUnits.dayMs)], nowMs: now + TimeUnits.dayMs, retention: retention) == [.stored])
    }

    /// Visit rollups kept from visitor days match visits derived from all the hits at once,
    /// whatever the batches and their order: late hits, bridges, engagement pings, identify
    /// calls and visits over midnight included.
    @Test(arguments: [1, 2, 3, 4, 5])
    func visitRollups_matchVisitsDerivedFromAllHits(seed: UInt64) throws {
        var generator = SplitMix64(seed: seed)
        let kinds: [Event.Kind] = [.pageview, .pageview, .pageview, .click, .custom, .engagement, .engagement, .identify]
        var events = [Event]()
        for visitor in 0..<6 {
            var at = day0 - 2 * TimeUnits.hourMs + Int64.random(in: 0..<TimeUnits.hourMs, using: &generator)
            for i in 0..<60 {
                at += Int64.random(in: 0..<(45 * TimeUnits.minuteMs), using: &generator)
                events.append(makeEvent("v\(visitor)-\(i)", visitor: UInt64(visitor), at: at, kind: kinds.randomElement(using: &generator)!,
                                        path: "/p\(Int.random(in: 0..<4, using: &generator))"))
            }
        }
        let store = try EventStore(kv: InMemoryStore())
        var remaining = events.shuffled(using: &generator)
        while !remaining.isEmpty {
            let batch = remaining.prefix(Int.random(in: 1...25, using: &generator))
            remaining.removeFirst(batch.count)
            _ = try store.apply(Array(batch), nowMs: now, retention: retention)
        }
        _ = try store.apply(events, nowMs: now, retention: retention)

        let visits = Dictionary(grouping: events, by: \.visitor).values.flatMap { Visits.derive($0.map(Visits.Hit.init)) }
        for day in Day(containing: day0 - TimeUnits.dayMs)...Day(containing: day0 + 2 * TimeUnits.dayMs) {
            let ofDay = visits.filter { Day(containing: $0.startMs) == day }
            func stored(_ metric: RollupMetric) throws -> [String: Int64] {
                try store.dayTotals(site: site, metric: metric, days: day...day).mapValues(\.count).filter { $0.value != 0 }
            }
            func expected(_ value: (Visits.Visit) -> (String, Int64)?) -> [String: Int64] {
                ofDay.compactMap(value).reduce(into: [:]) { $0[$1.0, default: 0] += $1.1 }.filter { $0.value != 0 }
            }
            #expect(try stored(.visits) == expected { _ in ("", 1) }, "day \(day.index)")
            #expect(try stored(.bounces) == expected { $0.isBounce ? ("", 1) : nil }, "day \(day.index)")
            #expect(try stored(.visitDuration) == expected { ("", $0.durationMs) }, "day \(day.index)")
            #expect(try stored(.entryPage) == expected { ($0.entryPage, 1) }, "day \(day.index)")
            #expect(try stored(.exitPage) == expected { ($0.exitPage, 1) }, "day \(day.index)")
        }
    }
}

/// An `InMemoryStore` that counts what it reads: a point read or a scan's seek is one, and so is
/// each entry a scan hands out.
final class CountingStore: KeyValueStore {
    private let inner = InMemoryStore()
    private let count = Atomic<Int>(0)

    var reads: Int { count.load(ordering: .relaxed) }

    func get(_ family: ColumnFamily, _ key: [UInt8]) throws -> [UInt8]? {
        count.add(1, ordering: .relaxed)
        return try inner.get(family, key)
    }

    func write(_ batch: WriteBatch, sync: Bool) throws { try inner.write(batch, sync: sync) }

    func scan(_ family: ColumnFamily, from start: [UInt8], to end: [UInt8], reverse: Bool,
              _ body: ([UInt8], [UInt8]) throws -> Bool) throws {
        count.add(1, ordering: .relaxed)
        try inner.scan(family, from: start, to: end, reverse: reverse) { key, value in
            count.add(1, ordering: .relaxed)
            return try body(key, value)
        }
    }

    func compact(_ family: ColumnFamily, from start: [UInt8], to end: [UInt8]) throws {}

    func approximateSize(_ family: ColumnFamily) -> UInt64 { inner.approximateSize(family) }
}
