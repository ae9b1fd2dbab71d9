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

/// Events repair through id pages of a day's differing slices, compared as far as both sides
/// have listed them.
@Suite struct AntiEntropyListingTests {
    let site = SiteID("example.com")!
    let now: Int64 = 1_781_524_800_000

    /// A replica over a store that sends pages of at most `pageMax` ids (a replica may send fewer
    /// than asked) and counts what it listed.
    final class Paging: RepairReplica, @unchecked Sendable {
        let local: LocalReplica
        let pageMax: Int
        var pages = 0
        var listed = 0
        var digestPages = 0
        /// Sends every page again after the first: a peer whose cursor never moves.
        var repeatsItself = false
        private var first: Replication.AntiEntropy.Page<EventID>?

        init(_ local: LocalReplica, pageMax: Int) {
            self.local = local
            self.pageMax = pageMax
        }

        var name: String { local.name }
        func answer(_ query: Replication.AntiEntropy.Query) throws -> Replication.AntiEntropy.Answer {
            switch query {
            case .eventIDs(let window, let day, let slices, let after, let limit):
                if repeatsItself, let first { return .eventIDs(first) }
                let page = try local.eventIDs(site: window.site, day: day, slices: slices, after: after, limit: min(limit, pageMax),
                                              fromMs: window.fromMs, untilMs: window.untilMs)
                pages += 1
                listed += page.elements.count
                first = first ?? page
                return .eventIDs(page)
            case .visitorEditDigests(let site, let after, let limit):
                digestPages += 1
                return .visitorEditDigests(try local.visitorEditDigests(site: site, after: after, limit: min(limit, pageMax)))
            default:
                return try local.answer(query)
            }
        }
        func apply(_ payload: Replication.Payload) throws { try local.apply(payload) }
        func summaries(_ windows: [Replication.AntiEntropy.Window]) throws -> [UInt64]? { try local.summaries(windows) }
    }

    func hit(_ n: Int, _ prefix: String) -> Event {
        let ms = now - 6 * TimeUnits.hourMs + Int64(n) * 3_000
        return Event(id: EventID.forHit(site: site, hitID: "\(prefix)\(n)", timestampMs: ms), site: site,
                     visitor: VisitorID(rawValue: UInt64(n % 300)), timestampMs: ms, kind: .pageview, path: "/")
    }

    func ids(_ store: EventStore) throws -> [EventID] {
        try store.eventIDs(site: site, day: Day(containing: now), slices: Array(0..<EventSetDigest.slicesPerDay), after: nil,
                           limit: .max, fromMs: 0, untilMs: now).elements
    }

    /// One replica missed 400 of 3,000 hits spread over every slice (a node down for a while),
    /// the other 150 the first never had: both end with all of them, each side listing each of
    /// its ids once in pages of 256, and a second pass finds nothing.
    @Test func aDayWhoseEverySliceDiffers_repairsInPages_listingEachIDOnce() async throws {
        let a = try EventStore(kv: InMemoryStore()), b = try EventStore(kv: InMemoryStore())
        let shared = (0..<3_000).map { hit($0, "shared") }
        let missedByB = Set(stride(from: 0, to: 3_000, by: 7).prefix(400))
        _ = try a.apply(shared, nowMs: now, retention: { _ in .default })
        _ = try b.apply(shared.enumerated().filter { !missedByB.contains($0.offset) }.map(\.element) + (0..<150).map { hit($0, "onlyB") },
                        nowMs: now, retention: { _ in .default })
        let local = Paging(LocalReplica(name: "a", store: a, nowMs: now), pageMax: 256)
        let remote = Paging(LocalReplica(name: "b", store: b, nowMs: now), pageMax: 256)
        let outcome = try await Replication.AntiEntropy.repair(site: site, fromMs: 0, untilMs: now, local: local, remote: remote)
        #expect(outcome.slicesDiffering == EventSetDigest.slicesPerDay)
        #expect(outcome.eventsPulled == 150 && outcome.eventsPushed == 400)
        #expect(try ids(a) == ids(b) && ids(a).count == 3_150)
        #expect(local.listed == 3_000 && remote.listed == 2_750, "each id listed once: \(local.listed), \(remote.listed)")
        #expect(local.pages == 12 && remote.pages == 11)
        let again = try await Replication.AntiEntropy.repair(site: site, fromMs: 0, untilMs: now, local: local, remote: remote)
        #expect(again.transferred == 0 && again.slicesDiffering == 0)
    }

    /// CRM digests are listed in pages too: 700 visitors with a note on one side, 250 of them on
    /// the other (50 with a second note) and 30 only there. Every record that differs or is
    /// missing is rebuilt on both sides, each side listing its digests once in pages of 100.
    @Test func visitorRecords_repairInPages() async throws {
        let a = try EventStore(kv: InMemoryStore()), b = try EventStore(kv: InMemoryStore())
        func note(_ visitor: UInt64, _ id: String) -> VisitorEdit {
            VisitorEdit(site: site, visitor: VisitorID(rawValue: visitor), atMs: now - 1_000, change: .addNote(id: id, text: "called \(id)"))
        }
        for visitor in UInt64(0)..<700 { _ = try a.apply(note(visitor, "n\(visitor)")) }
        for visitor in UInt64(0)..<250 { _ = try b.apply(note(visitor, "n\(visitor)")) }
        for visitor in UInt64(0)..<50 { _ = try b.apply(note(visitor, "second\(visitor)")) }
        for visitor in UInt64(5_000)..<5_030 { _ = try b.apply(note(visitor, "b\(visitor)")) }
        let local = Paging(LocalReplica(name: "a", store: a, nowMs: now), pageMax: 100)
        let remote = Paging(LocalReplica(name: "b", store: b, nowMs: now), pageMax: 100)
        let outcome = try await Replication.AntiEntropy.repair(site: site, fromMs: 0, untilMs: now, local: local, remote: remote)
        #expect(outcome.visitorRecordsRepaired == 450 + 50 + 30)
        #expect(local.digestPages == 7 && remote.digestPages == 3, "\(local.digestPages), \(remote.digestPages)")
        let digests = try a.visitorEditDigests(site: site)
        #expect(try digests.count == 730 && digests == b.visitorEditDigests(site: site))
        #expect(try a.visitorRecord(site: site, visitor: VisitorID(rawValue: 7))?.notes.count == 2)
        let again = try await Replication.AntiEntropy.repair(site: site, fromMs: 0, untilMs: now, local: local, remote: remote)
        #expect(again.visitorRecordsRepaired == 0)
    }

    /// A peer answering with what was not asked for — another site's erasure order, an event of
    /// an id not asked for — is refused, and nothing of its answer is applied.
    @Test func aPeerAnsweringWithWhatWasNotAsked_isRefused_andNothingIsApplied() async throws {
        typealias Answer = Replication.AntiEntropy.Answer
        struct Tampering: RepairReplica {
            let inner: LocalReplica
            let tamper: @Sendable (Answer) -> Answer
            var name: String { inner.name }
            func answer(_ query: Replication.AntiEntropy.Query) async throws -> Answer { tamper(try inner.answer(query)) }
            func apply(_ payload: Replication.Payload) async throws { try inner.apply(payload) }
            func summaries(_ windows: [Replication.AntiEntropy.Window]) async throws -> [UInt64]? { try inner.summaries(windows) }
        }
        let other = SiteID("other.example")!
        let stray = hit(99, "never-asked")
        let tampers: [(String, @Sendable (Answer) -> Answer)] = [
            ("another site's erasure order", { answer in
                guard case .erasures(let orders) = answer else { return answer }
                return .erasures(orders + [Replication.ErasureOrder(requestID: "er_other", site: other, visitor: VisitorID(rawValue: 1), fenceMs: 5)])
            }),
            ("an event not asked for", { answer in
                guard case .events(let events) = answer else { return answer }
                return .events(events + [stray])
            }),
        ]
        for (what, tamper) in tampers {
            let a = try EventStore(kv: InMemoryStore()), b = try EventStore(kv: InMemoryStore())
            _ = try b.apply((0..<10).map { hit($0, "b") }, nowMs: now, retention: { _ in .default })
            await #expect(throws: Replication.AntiEntropy.UnexpectedAnswer.self, "\(what)") {
                try await Replication.AntiEntropy.repair(site: site, fromMs: 0, untilMs: now, local: LocalReplica(name: "a", store: a, nowMs: now),
                                                         remote: Tampering(inner: LocalReplica(name: "b", store: b, nowMs: now), tamper: tamper))
            }
            #expect(try ids(a).isEmpty && a.erasureRecords(site: other).isEmpty, "\(what): nothing applied")
        }
    }

    /// A peer whose pages do not move on past the cursor is refused, not listed for ever.
    @Test func aPeerWhosePagesDoNotMoveOn_isRefused() async throws {
        let a = try EventStore(kv: InMemoryStore()), b = try EventStore(kv: InMemoryStore())
        _ = try a.apply((0..<600).map { hit($0, "a") }, nowMs: now, retention: { _ in .default })
        let remote = Paging(LocalReplica(name: "b", store: b, nowMs: now), pageMax: 100)
        _ = try b.apply((0..<600).map { hit($0, "b") }, nowMs: now, retention: { _ in .default })
        remote.repeatsItself = true
        await #expect(throws: Replication.AntiEntropy.MalformedPage.self) {
            try await Replication.AntiEntropy.repair(site: site, fromMs: 0, untilMs: now,
                                                     local: LocalReplica(name: "a", store: a, nowMs: now), remote: remote)
        }
        #expect(remote.pages == 1)
    }
}

/// The session on its own: answers it did not ask for, and a tree it cannot compare, are refused.
@Suite struct RepairSessionTests {
    let window = Replication.AntiEntropy.Window(site: SiteID("example.com")!, fromMs: 0, untilMs: 1_000)

    @Test func anAnswerToAnotherQuestion_andATreeWithTooFewSlices_areRefused() throws {
        var session = Replication.AntiEntropy.Session(window: window, local: "a", remote: "b")
        #expect(session.start() == .ask(.local, .erasures(window.site)))
        #expect(throws: Replication.AntiEntropy.UnexpectedAnswer.self) { try session.onAnswer(.events([])) }

        var fresh = Replication.AntiEntropy.Session(window: window, local: "a", remote: "b")
        _ = fresh.start()
        #expect(try fresh.onAnswer(.erasures([])) == .ask(.remote, .erasures(window.site)))
        #expect(try fresh.onAnswer(.erasures([])) == .ask(.local, .digests(window)))
        let short = [Day(containing: 0): [EventSetDigest()]]
        #expect(throws: Replication.AntiEntropy.MalformedTree.self) { try fresh.onAnswer(.digests(short)) }
    }
}

/// What a repair pass compares and what it covered, as the node's runner and the simulation use it.
@Suite struct RepairPassTests {
    typealias Pass = Replication.AntiEntropy.Pass
    let site = SiteID("example.com")!

    @Test func aRepairingNodesPass_comparesUpToNow_aServingOnesLeavesTheSettlingOut_andAMissedPeerMakesItIncomplete() {
        let (serving, _) = Replication.DataLifecycle.onStart(repairPending: false, lastAliveMs: 1_000, joinsCluster: true, nowMs: 2_000,
                                                             hintWindowMs: 10_000, horizonMs: 100_000)
        let (repairing, _) = Replication.DataLifecycle.onStart(repairPending: false, lastAliveMs: nil, joinsCluster: true, nowMs: 2_000,
                                                               hintWindowMs: 10_000, horizonMs: 100_000)
        var pass = Pass(ticket: serving.onPassStarted(byOperator: false), settleMs: 2_000, everySite: true)
        #expect(pass.window(of: site, cutoffMs: 10, nowMs: 50_000) == .init(site: site, fromMs: 10, untilMs: 48_000))
        let upToNow = Pass(ticket: repairing.onPassStarted(byOperator: false), settleMs: 2_000, everySite: true)
        #expect(upToNow.window(of: site, cutoffMs: 10, nowMs: 50_000).untilMs == 50_001)
        #expect(pass.coverage(knewTheSites: true) == .init(everySite: true, everyReplica: true, knewTheSites: true))
        pass.onMissed("node-2")
        #expect(pass.coverage(knewTheSites: true).everyReplica == false)
        #expect(Pass(ticket: serving.onPassStarted(byOperator: true), settleMs: 2_000, everySite: false).coverage(knewTheSites: true).everySite == false)
    }

    @Test func aSiteIsComparedWithItsOtherReplicas_andNotAtAllByANodeThatIsNotOne() throws {
        let names: Set<String> = ["node-1", "node-2", "node-3", "node-4"]
        let ring = Ring(epoch: 1, members: names, settings: Ring.Settings(virtualNodes: 16))
        let replicas = ring.preferenceList(for: site, replicationFactor: 3)
        #expect(Pass.peers(of: site, ring: ring, replicationFactor: 3, myself: replicas[1]) == [replicas[0], replicas[2]])
        let outsider = try #require(names.subtracting(replicas).first)
        #expect(Pass.peers(of: site, ring: ring, replicationFactor: 3, myself: outsider).isEmpty)
    }
}
