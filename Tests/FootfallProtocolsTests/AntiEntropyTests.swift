import FootfallModel
import FootfallProtocols
import FootfallStorage
import Testing

/// Which erasure records and CRM records anti-entropy hands from one replica to another.
@Suite struct AntiEntropyTests {
    typealias Order = Replication.ErasureOrder
    let site = SiteID("example.com")!

    func order(_ request: String, visitor: UInt64, fenceMs: Int64) -> Order {
        Order(requestID: request, site: site, visitor: VisitorID(rawValue: visitor), fenceMs: fenceMs)
    }

    @Test func aReplicaGetsTheErasuresItLacks_andThoseWithALaterFence_only() {
        let have = [order("a", visitor: 1, fenceMs: 100), order("b", visitor: 2, fenceMs: 200)]
        let other = [order("a", visitor: 1, fenceMs: 100), order("c", visitor: 2, fenceMs: 150),
                     order("d", visitor: 3, fenceMs: 50), order("e", visitor: 1, fenceMs: 300)]
        #expect(Replication.AntiEntropy.erasuresToApply(have: have, other: other).map(\.requestID) == ["e", "d"])
    }

    /// Two requests with the same fence (retried in the same millisecond) must still converge on
    /// one record, or each replica keeps naming its own and the erasure's status stays pending.
    @Test func twoRequestsWithTheSameFence_convergeOnTheGreaterRequestID() {
        let x = [order("er_1", visitor: 1, fenceMs: 100)], y = [order("er_2", visitor: 1, fenceMs: 100)]
        #expect(Replication.AntiEntropy.erasuresToApply(have: x, other: y).map(\.requestID) == ["er_2"])
        #expect(Replication.AntiEntropy.erasuresToApply(have: y, other: x).isEmpty)
    }

    /// CRM records repair like events (a replica can miss an edit for good: a hint past its
    /// window, a node that joined after it): each side's owner edits reach the other, a record
    /// erased on one side does not come back from the other, and a second pass finds nothing.
    @Test func visitorRecords_converge_andAnErasedOneStaysGone() async throws {
        let now: Int64 = 1_781_524_800_000
        let a = try EventStore(kv: InMemoryStore()), b = try EventStore(kv: InMemoryStore())
        let ann = VisitorID(rawValue: 1), bob = VisitorID(rawValue: 2), eve = VisitorID(rawValue: 3)
        func edit(_ visitor: VisitorID, _ atMs: Int64, _ change: VisitorEdit.Change) -> VisitorEdit {
            VisitorEdit(site: site, visitor: visitor, atMs: atMs, change: change)
        }
        _ = try a.apply(edit(ann, now - 50, .addNote(id: "n1", text: "called")))
        _ = try a.apply(edit(ann, now - 40, .setTags(["lead"])))
        _ = try b.apply(edit(ann, now - 30, .addNote(id: "n2", text: "emailed")))
        _ = try b.apply(edit(ann, now - 20, .setTags(["customer"])))
        _ = try b.apply(edit(ann, now - 10, .removeNote(id: "n1")))
        _ = try a.apply(edit(bob, now - 10, .rectify(name: "Bob", email: nil, phone: "+1 555 0100")))
        _ = try b.apply(edit(eve, now - 100, .addNote(id: "n3", text: "erase me")))
        _ = try a.erase(site: site, visitor: eve, requestID: "er-1", node: "a", nowMs: now, fenceMs: now)
        #expect(try a.visitorEditDigests(site: site) != b.visitorEditDigests(site: site))

        func repair() async throws -> Replication.AntiEntropy.Outcome {
            try await Replication.AntiEntropy.repair(site: site, fromMs: now - TimeUnits.dayMs, untilMs: now,
                                                     local: LocalReplica(name: "a", store: a, nowMs: now),
                                                     remote: LocalReplica(name: "b", store: b, nowMs: now))
        }
        let first = try await repair()
        #expect(first.visitorRecordsRepaired == 2, "ann differed and bob was missing on b; eve was erased first")
        for store in [a, b] {
            let annRecord = try store.visitorRecord(site: site, visitor: ann)
            #expect(annRecord?.notes.map(\.text) == ["emailed"], "the note removed on b stays removed on a")
            #expect(annRecord?.tags == ["customer"])
            let bobRecord = try store.visitorRecord(site: site, visitor: bob)
            #expect(bobRecord?.pii.name == "Bob" && bobRecord?.pii.phone == "+1 555 0100")
            #expect(try store.visitorRecord(site: site, visitor: eve) == nil)
        }
        #expect(try a.visitorEditDigests(site: site) == b.visitorEditDigests(site: site))
        let second = try await repair()
        #expect(second.visitorRecordsRepaired == 0)
    }
}
