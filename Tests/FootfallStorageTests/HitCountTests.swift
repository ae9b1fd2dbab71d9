import FootfallModel
import FootfallStorage
import Testing

/// A visitor's hits a day are counted from what is stored (rows and segment), whichever store
/// instance stored them, and an erasure's deletions count down; visit records of an earlier
/// version do not outlive the upgrade.
@Suite struct HitCountTests {
    let plan = RetentionPlan(days: 30)!
    var retention: (SiteID) -> RetentionPlan { { _ in plan } }
    let start = day0 + 8 * TimeUnits.hourMs
    let now = day0 + 12 * TimeUnits.hourMs
    let cap = EventStore.visitorDayHitsMax

    func hits(_ count: Int, from first: Int, visitor: UInt64 = 1) -> [Event] {
        (first..<first + count).map { makeEvent("h\(visitor)-\($0)", visitor: visitor, at: start + Int64($0) * 1_000) }
    }

    func apply(_ store: EventStore, _ events: [Event], nowMs: Int64) throws -> [EventStore.Outcome] {
        try stride(from: 0, to: events.count, by: 2_000).flatMap {
            try store.apply(Array(events[$0..<min($0 + 2_000, events.count)]), nowMs: nowMs, retention: retention)
        }
    }

    /// The cap holds across instances (a restart) and across sealing: a new instance counts the
    /// day's rows, and once the day is sealed, its segment with the rows stored beside it.
    @Test(arguments: StoreKind.allCases)
    func theCap_countsWhatIsStored_afterARestartAndSealing(kind: StoreKind) throws {
        let (kv, cleanup) = try kind.make()
        defer { cleanup() }
        #expect(try apply(EventStore(kv: kv), hits(cap - 3, from: 0), nowMs: now).allSatisfy { $0 == .stored })
        #expect(try apply(EventStore(kv: kv), hits(2, from: cap - 3), nowMs: now) == [.stored, .stored])

        let later = day0 + 3 * TimeUnits.dayMs
        let store = try EventStore(kv: kv)
        #expect(try store.sealSegments(site: site, plan: plan, nowMs: later).sealed == 1)
        // A late copy (a repair) is stored beside the segment: the last hit the cap leaves.
        #expect(try apply(EventStore(kv: kv), hits(1, from: cap - 1), nowMs: later) == [.stored])
        #expect(try apply(EventStore(kv: kv), hits(2, from: cap), nowMs: later) == [.capped, .capped])
        #expect(try apply(store, hits(1, from: cap + 2), nowMs: later) == [.capped], "the instance that sealed counts the same")
        #expect(try apply(store, hits(1, from: 0, visitor: 2), nowMs: later) == [.stored], "another visitor is not capped")
    }

    /// An erasure deletes the visitor's hits up to its fence: the hits after it start the count
    /// again, in the instance that counted the erased ones too.
    @Test func anErasure_countsItsDeletedHitsOut() throws {
        let store = try EventStore(kv: InMemoryStore())
        #expect(try apply(store, hits(cap, from: 0), nowMs: now).allSatisfy { $0 == .stored })
        #expect(try apply(store, hits(1, from: cap), nowMs: now) == [.capped])
        let fence = start + Int64(cap) * 1_000
        _ = try store.erase(site: site, visitor: VisitorID(rawValue: 1), requestID: "r1", node: "n1", nowMs: fence, fenceMs: fence)
        #expect(try apply(store, hits(2, from: cap + 1), nowMs: fence) == [.stored, .stored])
    }

    /// A store of an earlier version kept a visit record per visitor and day, with times and
    /// pages of the visitor's hits: opening the store deletes them all.
    @Test(arguments: StoreKind.allCases)
    func visitRecordsOfAnEarlierVersion_areDeletedOnOpen(kind: StoreKind) throws {
        let (kv, cleanup) = try kind.make()
        defer { cleanup() }
        var old = WriteBatch()
        old.put(.visits, StorageKeys.visitorDay(site, Day(containing: now), VisitorID(rawValue: 7)), Array("/checkout".utf8))
        old.put(.visits, [0x00] + Array("visit-records".utf8), [1])
        try kv.write(old, sync: true)

        _ = try EventStore(kv: kv)
        var left = 0
        try kv.scan(.visits, from: [], to: [0xff, 0xff, 0xff, 0xff]) { _, _ in
            left += 1
            return true
        }
        #expect(left == 0)
    }
}
