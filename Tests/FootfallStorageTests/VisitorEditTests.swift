import FootfallModel
import FootfallStorage
import Testing

/// CRM edits reach replicas in any order; every order ends in the same record.
@Suite struct VisitorEditTests {
    static let site = SiteID("crm.example")!
    static let visitor = VisitorID(rawValue: 42)

    static func edit(_ atMs: Int64, _ change: VisitorEdit.Change) -> VisitorEdit {
        VisitorEdit(site: site, visitor: visitor, atMs: atMs, change: change)
    }

    @Test func everyOrderOfEdits_endsInTheSameRecord() {
        let edits = [
            VisitorEditTests.edit(10, .addNote(id: "n1", text: "first")),
            VisitorEditTests.edit(20, .addNote(id: "n2", text: "second")),
            VisitorEditTests.edit(30, .removeNote(id: "n1")),
            VisitorEditTests.edit(40, .setTags(["vip", "lead"])),
            VisitorEditTests.edit(50, .setTags(["customer"])),
            VisitorEditTests.edit(60, .rectify(name: "Ann", email: nil, phone: nil)),
            VisitorEditTests.edit(70, .rectify(name: nil, email: "ann@example.org", phone: nil)),
        ]
        var results = Set<VisitorRecord>()
        var random = SplitMix64(seed: 7)
        for _ in 0..<200 {
            var record = VisitorRecord(visitor: VisitorEditTests.visitor, firstSeenMs: 0, lastSeenMs: 0)
            for edit in edits.shuffled(using: &random) { record.apply(edit) }
            record.apply(edits[0]) // a duplicate delivery changes nothing
            results.insert(record)
        }
        #expect(results.count == 1)
        let record = results.first!
        #expect(record.notes.map(\.id) == ["n2"], "a removed note does not come back with a late copy of its addition")
        #expect(record.tags == ["customer"])
        #expect(record.pii.name == "Ann" && record.pii.email == "ann@example.org")
    }

    @Test func anEditTheErasureCovers_isDropped_andMalformedEditsAreNamed() throws {
        let store = try EventStore(kv: InMemoryStore())
        let now: Int64 = 1_781_524_800_000
        _ = try store.erase(site: VisitorEditTests.site, visitor: VisitorEditTests.visitor, requestID: "er-1", node: "n", nowMs: now, fenceMs: now)
        #expect(try store.apply(VisitorEditTests.edit(now - 1, .addNote(id: "late", text: "from before the erasure"))) == nil)
        #expect(try store.visitorRecord(site: VisitorEditTests.site, visitor: VisitorEditTests.visitor) == nil)
        #expect(try store.apply(VisitorEditTests.edit(now + 1, .addNote(id: "new", text: "fresh consent")))?.notes.count == 1)
        #expect(VisitorEditTests.edit(1, .addNote(id: "x", text: "")).problem != nil)
        #expect(VisitorEditTests.edit(1, .setTags(Array(repeating: "t", count: 51))).problem != nil)
        #expect(VisitorEditTests.edit(1, .rectify(name: String(repeating: "n", count: 255), email: nil, phone: nil)).problem != nil)
        #expect(VisitorEditTests.edit(1, .addNote(id: "ok", text: "fine")).problem == nil)
        #expect(VisitorEditTests.edit(.max, .removeNote(id: "x")).problem != nil, "a time that later arithmetic would overflow")
        // A fence a day ahead of the clock is refused, and changes nothing.
        let other = VisitorID(rawValue: 43)
        #expect(throws: (any Error).self) {
            try store.erase(site: VisitorEditTests.site, visitor: other, requestID: "er-2", node: "n", nowMs: now, fenceMs: .max)
        }
        #expect(try store.erasureRecord(site: VisitorEditTests.site, visitor: other) == nil)
    }

    /// A visitor erased with a fence late in the day ahead (a coordinator's order may fence up to
    /// a day past the clock), edited after it, then erased again once this node's clock stepped
    /// back across midnight: the earlier fence now lies past the last day the erasure reads, which
    /// made the day range's start pass its end (a trap that stopped the node).
    @Test func anErasureAfterTheClockSteppedBack_pastAnEarlierFencesDay_keepsWhatCameAfter() throws {
        let store = try EventStore(kv: InMemoryStore())
        let now = Day(containing: 1_781_524_800_000).startMs + 90 * 60_000  // 01:30 UTC
        let fence = now + 23 * TimeUnits.hourMs  // 00:30 the next day
        _ = try store.erase(site: VisitorEditTests.site, visitor: VisitorEditTests.visitor, requestID: "er-1", node: "n", nowMs: now, fenceMs: fence)
        #expect(try store.apply(VisitorEditTests.edit(fence + TimeUnits.hourMs, .addNote(id: "later", text: "after the fence")))?.notes.count == 1)
        let steppedBack = now - 2 * TimeUnits.hourMs  // 23:30 the day before: a day ahead of it is before the fence's day
        #expect(Day(containing: steppedBack + TimeUnits.dayMs) < Day(containing: fence))
        let record = try store.erase(site: VisitorEditTests.site, visitor: VisitorEditTests.visitor, requestID: "er-2", node: "n",
                                     nowMs: steppedBack, fenceMs: steppedBack)
        #expect(record.erasedAtMs == fence)
        #expect(try store.visitorRecord(site: VisitorEditTests.site, visitor: VisitorEditTests.visitor)?.notes.map(\.id) == ["later"])
    }

    /// A peer's order with a fence of 0 for a visitor seen today: the record's counts are rebuilt
    /// from the visitor's days after the fence, but only those retention keeps. From the fence's
    /// own day on, the pass read some 20,000 days under the write lock (41,249 reads here; 733 now).
    @Test func anErasureFencedAtZero_rebuildsTheRecordFromRetainedDaysOnly() throws {
        let kv = CountingStore()
        let store = try EventStore(kv: kv)
        let now = Day(containing: 1_781_524_800_000).startMs + 12 * TimeUnits.hourMs
        var hit = makeEvent("today", site: VisitorEditTests.site, visitor: VisitorEditTests.visitor.rawValue, at: now)
        hit.consented = true  // a CRM record is kept for consented visitors only
        _ = try store.apply([hit], nowMs: now, retention: { _ in .default })
        let before = kv.reads
        _ = try store.erase(site: VisitorEditTests.site, visitor: VisitorEditTests.visitor, requestID: "er-0", node: "n", nowMs: now, fenceMs: 0)
        let record = try #require(try store.visitorRecord(site: VisitorEditTests.site, visitor: VisitorEditTests.visitor))
        #expect(record.events == 1 && record.lastSeenMs == now, "the hit after the fence is kept and counted")
        // The erasure's own pass reads a retention span back from the fence (days before 1970
        // hold nothing), the record's pass a retention span back from the clock: a few reads for
        // each of those days, not one for each day since 1970.
        let daysRead = 2 * (RetentionPlan.daysMax + 3)
        #expect(kv.reads - before < 4 * daysRead, "\(kv.reads - before) reads")
    }
}
