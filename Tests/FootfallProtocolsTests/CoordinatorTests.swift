import FootfallModel
import FootfallProtocols
import Testing

/// The replication coordinator's rules one at a time; `ReplicationSimulationTests` runs them
/// together under faults.
@Suite struct CoordinatorTests {
    static let nodes: Set<String> = ["a", "b", "c"]
    static let ring = Ring(epoch: 1, members: nodes, settings: Ring.Settings(virtualNodes: 8))
    static let site = SiteID("example.com")!

    static func coordinator(alive: Set<String> = nodes, settings: Replication.Settings = Replication.Settings(),
                            hints: [Replication.Hint] = []) -> Replication.Coordinator {
        Replication.Coordinator(myself: "a", settings: settings, ring: ring, alive: alive, hints: hints, idSeed: 42)
    }

    static func event(_ n: Int, visitor: UInt64 = 1, at ms: Int64 = 1_000) -> Event {
        Event(id: EventID.forHit(site: site, hitID: "hit-\(n)", timestampMs: ms), site: site, visitor: VisitorID(rawValue: visitor),
              timestampMs: ms, kind: .pageview, path: "/")
    }

    static func sends(_ effects: Replication.Effects) -> [(to: String, id: UInt64, payload: Replication.Payload?)] {
        effects.send.compactMap {
            switch $0.message {
            case .apply(let id, let payload): ($0.to, id, payload)
            case .repairNeeded(let id): ($0.to, id, nil)
            case .ack: nil
            }
        }
    }

    static func persisted(_ effects: Replication.Effects) -> [Replication.Hint] {
        effects.persist.compactMap { if case .hint(let hint) = $0 { hint } else { nil } }
    }

    static func finished(_ effects: Replication.Effects) -> Replication.WriteOutcome? {
        effects.complete.lazy.compactMap { if case .writeFinished(_, let outcome, _) = $0 { outcome } else { nil } }.first
    }

    static let ok = Replication.Applied(stored: 1)

    /// Timers run on the monotonic clock: a write waits its timeout however the wall clock moves.
    @Test func aWallClockSteppedBack_doesNotHoldAWriteForAnHour() {
        var c = CoordinatorTests.coordinator()
        let start = Replication.Instant.at(10_000_000)
        let sent = CoordinatorTests.sends(c.onWrite(request: 1, events: [CoordinatorTests.event(1)], consistency: .quorum, now: start))
        _ = c.onMessage(.ack(id: sent[0].id, atMs: 1, CoordinatorTests.ok), from: sent[0].to, now: start)
        // The wall clock steps back an hour; the write timeout passes on the monotonic clock.
        var later = start
        later.wallMs -= 3_600_000
        later.monotonic = start.monotonic(afterMs: c.settings.writeTimeoutMs)
        #expect(c.nextDeadline(now: later) == later.monotonic, "the write's deadline is due, not an hour off")
        let timedOut = c.onTick(now: later)
        #expect(CoordinatorTests.finished(timedOut) == .failed(acknowledged: 1, required: 2))
        #expect(Set(CoordinatorTests.persisted(timedOut).map(\.target)) == Set(sent.dropFirst().map(\.to)))
        #expect(c.invariantViolation == nil)
    }

    @Test func aWallClockSteppedAhead_doesNotTimeOutWritesAtOnce() {
        var c = CoordinatorTests.coordinator()
        let start = Replication.Instant.at(10_000_000)
        _ = c.onWrite(request: 1, events: [CoordinatorTests.event(1)], consistency: .quorum, now: start)
        var later = start
        later.wallMs += 3_600_000
        later.monotonic = start.monotonic(afterMs: 1)
        let tick = c.onTick(now: later)
        #expect(CoordinatorTests.finished(tick) == nil && tick.persist.isEmpty, "nothing timed out one millisecond in")
        #expect(c.writesInFlight == 1)
    }

    /// A hint's age is its wall-clock age (it survives restarts, which the monotonic clock does
    /// not), and a time read back from disk near the ends of the range cannot trap.
    @Test func hintsAgeOnTheWallClock_andAStoredTimeAtTheEndsOfTheRangeDoesNotTrap() {
        var settings = Replication.Settings()
        settings.hintWindowMs = 1_000
        let payload = Replication.Payload.events([CoordinatorTests.event(1)])
        let hints = [Int64.max, .min, 0].enumerated().map { n, createdMs in
            Replication.Hint(id: UInt64(n + 1), target: "c", createdMs: createdMs, payload: payload)
        }
        var c = CoordinatorTests.coordinator(alive: ["a", "b"], settings: settings, hints: hints)
        let now = Replication.Instant(wallMs: 500, monotonic: MonotonicTime(nanoseconds: .max - 10))
        #expect(c.nextDeadline(now: now) == now.monotonic, "the hints of Int64.min and 0 are already due")
        let expired = c.onTick(now: now)
        #expect(Set(expired.persist) == [.deleteHint(id: 2), .recordGap(target: "c"), .scrubHints], "the hint of 0 expires at 1,000")
        #expect(c.hints.keys.sorted() == [1, 3])
        var stepped = now
        stepped.wallMs = 1_000
        #expect(c.onTick(now: stepped).persist.contains(.deleteHint(id: 3)), "a wall-clock age: due once the wall clock says so")
        #expect(c.nextDeadline(now: stepped) == MonotonicTime(nanoseconds: .max), "Int64.max never expires, and does not trap")
    }

    @Test func quorumSucceedsOnTwoAcks_andTheSilentReplicaIsHintedAtTheDeadline() {
        var c = CoordinatorTests.coordinator()
        let sent = CoordinatorTests.sends(c.onWrite(request: 1, events: [CoordinatorTests.event(1)], consistency: .quorum, now: .at(0)))
        #expect(Set(sent.map(\.to)) == CoordinatorTests.nodes)
        #expect(CoordinatorTests.finished(c.onMessage(.ack(id: sent[0].id, atMs: 5, CoordinatorTests.ok), from: sent[0].to, now: .at(5))) == nil)
        let second = c.onMessage(.ack(id: sent[1].id, atMs: 6, CoordinatorTests.ok), from: sent[1].to, now: .at(6))
        #expect(CoordinatorTests.finished(second) == .succeeded)
        let late = c.onTick(now: .at(2_000))
        #expect(CoordinatorTests.persisted(late).map(\.target) == [sent[2].to])
    }

    /// A batch's sites are placed once each (not per event): every replica still gets exactly the
    /// events of the sites it holds, in the batch's order, however the sites interleave.
    @Test func aBatchOfSeveralSites_sendsEachReplicaTheEventsOfItsSites() {
        let members: Set<String> = ["a", "b", "c", "d", "e"]
        let ring = Ring(epoch: 1, members: members, settings: Ring.Settings(virtualNodes: 8))
        var c = Replication.Coordinator(myself: "a", settings: Replication.Settings(), ring: ring, alive: members, hints: [], idSeed: 7)
        let sites = (0..<6).map { SiteID("site\($0).example")! }
        #expect(Set(sites.map { c.writeReplicas(for: $0).replicas }).count > 1, "the sites must not all share one replica set")
        let events = (0..<30).map { n in
            Event(id: EventID.forHit(site: sites[n * 7 % 6], hitID: "hit-\(n)", timestampMs: 1_000), site: sites[n * 7 % 6],
                  visitor: VisitorID(rawValue: 1), timestampMs: 1_000, kind: .pageview, path: "/")
        }
        let sent = CoordinatorTests.sends(c.onWrite(request: 1, events: events, consistency: .quorum, now: .at(0)))
        for member in members.sorted() {
            let received: [Event] = sent.filter { $0.to == member }.flatMap { send -> [Event] in
                if case .events(let batch)? = send.payload { batch } else { [] }
            }
            let expected = events.filter { c.writeReplicas(for: $0.site).replicas.contains(member) }
            #expect(Set(received.map(\.id)) == Set(expected.map(\.id)), "\(member)")
            #expect(received.count == expected.count, "\(member)")
        }
    }

    @Test func aHintNeverCountsTowardTheConsistencyLevel() {
        var c = CoordinatorTests.coordinator()
        let sent = CoordinatorTests.sends(c.onWrite(request: 7, events: [CoordinatorTests.event(1)], consistency: .quorum, now: .at(0)))
        _ = c.onMessage(.ack(id: sent[0].id, atMs: 1, CoordinatorTests.ok), from: sent[0].to, now: .at(1))
        let first = c.onSendFailed(sent[1].id, now: .at(2))
        #expect(CoordinatorTests.persisted(first).count == 1)
        #expect(CoordinatorTests.finished(first) == nil, "the third replica may still acknowledge")
        let second = c.onSendFailed(sent[2].id, now: .at(3))
        #expect(CoordinatorTests.persisted(second).count == 1)
        #expect(CoordinatorTests.finished(second) == .failed(acknowledged: 1, required: 2), "two hints and one ack are not a quorum")
    }

    @Test func tooFewLiveReplicas_failsAtOnce_andSendsNothing() {
        var c = CoordinatorTests.coordinator(alive: ["a"])
        let actions = c.onWrite(request: 1, events: [CoordinatorTests.event(1)], consistency: .quorum, now: .at(0))
        #expect(actions.complete == [.writeFinished(request: 1, .unavailable(alive: 1, required: 2), applied: Replication.Applied())])
        #expect(actions.persist.isEmpty && actions.send.isEmpty)
        // ONE is met by the coordinator's own replica; the two that are down get hints at once.
        let one = c.onWrite(request: 2, events: [CoordinatorTests.event(2)], consistency: .one, now: .at(0))
        #expect(CoordinatorTests.sends(one).map(\.to) == ["a"])
        #expect(Set(CoordinatorTests.persisted(one).map(\.target)) == ["b", "c"])
    }

    /// A flood cannot grow the coordinator's tables: past `writesInFlightMax` waiting writes, a
    /// write or an edit is refused at once and sends nothing; once one is decided, writes go again.
    @Test func writesPastTheInFlightBound_areRefusedAtOnce_untilOneIsDecided() {
        var settings = Replication.Settings()
        settings.writesInFlightMax = 2
        var c = CoordinatorTests.coordinator(settings: settings)
        let first = CoordinatorTests.sends(c.onWrite(request: 1, events: [CoordinatorTests.event(1)], consistency: .quorum, now: .at(0)))
        _ = c.onWrite(request: 2, events: [CoordinatorTests.event(2)], consistency: .quorum, now: .at(0))
        #expect(c.writesInFlight == 2)
        let refused = c.onWrite(request: 3, events: [CoordinatorTests.event(3)], consistency: .quorum, now: .at(0))
        #expect(refused.complete == [.writeFinished(request: 3, .overloaded, applied: Replication.Applied())])
        #expect(refused.send.isEmpty && refused.persist.isEmpty)
        let edit = VisitorEdit(site: CoordinatorTests.site, visitor: VisitorID(rawValue: 1), atMs: 0, change: .setTags(["x"]))
        #expect(CoordinatorTests.finished(c.onEdit(request: 4, edit, consistency: .quorum, now: .at(0))) == .overloaded)
        #expect(c.writesInFlight == 2)
        for sent in first.prefix(2) { _ = c.onMessage(.ack(id: sent.id, atMs: 1, CoordinatorTests.ok), from: sent.to, now: .at(1)) }
        #expect(c.writesInFlight == 1)
        let again = c.onWrite(request: 5, events: [CoordinatorTests.event(5)], consistency: .quorum, now: .at(2))
        #expect(CoordinatorTests.sends(again).count == 3, "the freed slot takes a new write to all three replicas")
        #expect(c.writesInFlight == 2)
    }

    /// A returning target gets its hints of events together, oldest first, up to
    /// `replayEventsMax` events a replay; an ack deletes what the replay carried and the next
    /// follows at once; an erasure's hint goes alone, in its place, so nothing hinted after it is
    /// applied before it.
    @Test func hintsReplayTogetherWhenTheTargetIsAlive_upToTheLimit_inTheirOrder_andAreDeletedOnAck() {
        var settings = Replication.Settings()
        settings.replayEventsMax = 3
        var c = CoordinatorTests.coordinator(alive: ["a", "b"], settings: settings)
        let events = (1...7).map { CoordinatorTests.event($0) }
        for n in 1...4 { _ = c.onWrite(request: UInt64(n), events: [events[n - 1]], consistency: .quorum, now: .at(0)) }
        let order = Replication.ErasureOrder(requestID: "er-1", site: CoordinatorTests.site, visitor: VisitorID(rawValue: 7), fenceMs: 5_000)
        _ = c.onErase(order, now: .at(1))
        for n in 6...7 { _ = c.onWrite(request: UInt64(n), events: [events[n - 1]], consistency: .quorum, now: .at(2)) }
        #expect(c.hints.count == 7)

        var replay = CoordinatorTests.sends(c.onMembershipChange(ring: CoordinatorTests.ring, alive: CoordinatorTests.nodes, now: .at(10)))
        var delivered = [Replication.Payload?]()
        var deleted = 0
        var scrubbed = false
        while let sent = replay.first(where: { $0.to == "c" }) {
            delivered.append(sent.payload)
            let next = c.onMessage(.ack(id: sent.id, atMs: 11, CoordinatorTests.ok), from: "c", now: .at(11))
            deleted += next.persist.filter { if case .deleteHint = $0 { true } else { false } }.count
            scrubbed = next.persist.contains(.scrubHints)
            replay = CoordinatorTests.sends(next)
        }
        #expect(delivered == [.events(Array(events[0..<3])), .events([events[3]]), .erasure(order), .events(Array(events[5...]))],
                "three events, the one before the erasure, the erasure alone, the rest")
        #expect(deleted == 7 && c.hints.isEmpty)
        #expect(scrubbed, "c caught up: the deleted hints leave the files")
    }

    @Test func aReplayedHintTheTargetFenced_isScrubbedFromTheFiles() {
        // A client retried an erased visitor's hit through this node (no replica of the site)
        // while c was down: the hint held erased data, which c refuses on replay.
        var settings = Replication.Settings()
        settings.replayEventsMax = 1
        var c = CoordinatorTests.coordinator(alive: ["a", "b"], settings: settings)
        for n in 1...2 { _ = c.onWrite(request: UInt64(n), events: [CoordinatorTests.event(n)], consistency: .quorum, now: .at(0)) }
        let replay = CoordinatorTests.sends(c.onMembershipChange(ring: CoordinatorTests.ring, alive: CoordinatorTests.nodes, now: .at(10)))
        let acked = c.onMessage(.ack(id: replay[0].id, atMs: 11, Replication.Applied(fenced: 1)), from: "c", now: .at(11))
        #expect(acked.persist.contains { if case .deleteHint = $0 { true } else { false } })
        #expect(c.hints.count == 1, "c has another hint to come")
        #expect(acked.persist.contains(.scrubHints))
    }

    @Test func expiredHints_becomeAGap_andTheTargetIsToldToRepair() {
        var settings = Replication.Settings()
        settings.hintWindowMs = 1_000
        var c = CoordinatorTests.coordinator(alive: ["a", "b"], settings: settings)
        _ = c.onWrite(request: 1, events: [CoordinatorTests.event(1)], consistency: .quorum, now: .at(0))
        let expired = c.onTick(now: .at(1_000))
        #expect(expired.persist.contains(.recordGap(target: "c")))
        #expect(expired.persist.contains(.scrubHints))
        #expect(c.hints.isEmpty)
        let notice = CoordinatorTests.sends(c.onMembershipChange(ring: CoordinatorTests.ring, alive: CoordinatorTests.nodes, now: .at(1_100)))
        #expect(notice.count == 1 && notice[0].to == "c" && notice[0].payload == nil)
        #expect(c.onMessage(.ack(id: notice[0].id, atMs: 0, Replication.Applied()), from: "c", now: .at(1_200)).persist.contains(.clearGap(target: "c")))
        #expect(c.gaps.isEmpty)
    }

    /// A hint or gap mark the shell could not write (a failing disk) is written again once the
    /// retry interval passed, as the coordinator holds it then: a hint delivered meanwhile is
    /// written as deleted, not brought back on disk to be replayed after a restart.
    @Test func whatFailedToPersist_isWrittenAgainLater_asItStandsThen() throws {
        var c = CoordinatorTests.coordinator(alive: ["a", "b"])
        func acknowledged(_ effects: Replication.Effects, atMs: Int64) -> Replication.Effects {
            for sent in CoordinatorTests.sends(effects) { _ = c.onMessage(.ack(id: sent.id, atMs: atMs, CoordinatorTests.ok), from: sent.to, now: .at(atMs)) }
            return effects
        }
        let first = acknowledged(c.onWrite(request: 1, events: [CoordinatorTests.event(1)], consistency: .quorum, now: .at(0)), atMs: 1)
        let kept = try #require(CoordinatorTests.persisted(first).first)
        c.onPersistFailed(first.persist + [.recordGap(target: "b")], now: .at(0))
        #expect(c.nextDeadline(now: .at(0)).map { $0 <= Replication.Instant.at(c.settings.hintRetryMs).monotonic } == true, "the retry is a deadline")
        #expect(c.onTick(now: .at(c.settings.hintRetryMs - 1)).persist.isEmpty, "not before the retry interval")
        let again = c.onTick(now: .at(c.settings.hintRetryMs)).persist
        #expect(again.contains(.hint(kept)))
        #expect(again.contains(.clearGap(target: "b")), "b holds no gap: its mark is written as cleared")
        #expect(c.onTick(now: .at(2 * c.settings.hintRetryMs)).persist.isEmpty, "written once")

        // A second hint fails to persist and is delivered before the retry.
        let second = acknowledged(c.onWrite(request: 2, events: [CoordinatorTests.event(2)], consistency: .quorum, now: .at(5_000)), atMs: 5_001)
        let delivered = try #require(CoordinatorTests.persisted(second).first)
        c.onPersistFailed(second.persist, now: .at(5_000))
        var replay = CoordinatorTests.sends(c.onMembershipChange(ring: CoordinatorTests.ring, alive: CoordinatorTests.nodes, now: .at(5_010)))
        while let sent = replay.first(where: { $0.to == "c" }) {
            replay = CoordinatorTests.sends(c.onMessage(.ack(id: sent.id, atMs: 5_011, CoordinatorTests.ok), from: "c", now: .at(5_011)))
        }
        #expect(c.hints.isEmpty)
        let retried = c.onTick(now: .at(5_000 + c.settings.hintRetryMs)).persist
        #expect(retried.contains(.deleteHint(id: delivered.id)) && !retried.contains(.hint(delivered)))
    }

    @Test func aFullHintStore_recordsAGapInsteadOfAHint() {
        var settings = Replication.Settings()
        settings.hintCapacityEvents = 2
        var c = CoordinatorTests.coordinator(alive: ["a", "b"], settings: settings)
        let events = (1...3).map { CoordinatorTests.event($0) }
        let actions = c.onWrite(request: 1, events: events, consistency: .quorum, now: .at(0))
        #expect(CoordinatorTests.persisted(actions).isEmpty)
        #expect(actions.persist.contains(.recordGap(target: "c")))
    }

    @Test func erasure_purgesTheVisitorsEventsFromHints_andWaitsForEveryReplica() {
        var c = CoordinatorTests.coordinator(alive: ["a", "b"])
        let mine = CoordinatorTests.event(1, visitor: 7), other = CoordinatorTests.event(2, visitor: 8)
        _ = c.onWrite(request: 1, events: [mine, other], consistency: .quorum, now: .at(0))
        let order = Replication.ErasureOrder(requestID: "er-1", site: CoordinatorTests.site, visitor: VisitorID(rawValue: 7), fenceMs: 5_000)
        let actions = c.onErase(order, now: .at(10))
        let purged = CoordinatorTests.persisted(actions).filter { if case .events = $0.payload { true } else { false } }
        #expect(purged.count == 1 && purged[0].payload == .events([other]), "the erased visitor's event left the hint")
        #expect(actions.persist.contains(.scrubHints), "and the files")
        #expect(CoordinatorTests.persisted(actions).contains { $0.target == "c" && $0.payload == .erasure(order) }, "c's erasure is hinted")
        let sent = CoordinatorTests.sends(actions)
        #expect(Set(sent.map(\.to)) == ["a", "b"])
        _ = c.onMessage(.ack(id: sent[0].id, atMs: 11, Replication.Applied()), from: sent[0].to, now: .at(11))
        let done = c.onMessage(.ack(id: sent[1].id, atMs: 12, Replication.Applied()), from: sent[1].to, now: .at(12))
        #expect(done.complete.contains(.erasureFinished(requestID: "er-1", .succeeded, pending: ["c"])))
    }

    /// An erasure that one replica confirmed is held by that replica's disk and this node's hints
    /// alone: losing either disk loses it, so the client must hear it failed and send it again.
    @Test func erasureConfirmedByFewerThanAQuorum_fails_andStillHintsTheRest() {
        var c = CoordinatorTests.coordinator(alive: ["a", "b"])
        let order = Replication.ErasureOrder(requestID: "er-2", site: CoordinatorTests.site, visitor: VisitorID(rawValue: 7), fenceMs: 5_000)
        let actions = c.onErase(order, now: .at(10))
        let sent = CoordinatorTests.sends(actions)
        #expect(sent.count == 2)
        _ = c.onMessage(.ack(id: sent[0].id, atMs: 11, Replication.Applied()), from: sent[0].to, now: .at(11))
        let done = c.onTick(now: .at(10 + c.settings.writeTimeoutMs))
        #expect(done.complete.contains(.erasureFinished(requestID: "er-2", .failed(acknowledged: 1, required: 2),
                                               pending: [sent[1].to, "c"].sorted())))
        #expect(CoordinatorTests.persisted(done).contains { $0.target == sent[1].to && $0.payload == .erasure(order) },
                "the replica that did not answer still gets the erasure")
    }

    @Test func hintsFromThePreviousProcess_areReplayed() {
        let hint = Replication.Hint(id: 99, target: "b", createdMs: 0, payload: .events([CoordinatorTests.event(1)]))
        var c = CoordinatorTests.coordinator(alive: ["a"], hints: [hint])
        let replay = CoordinatorTests.sends(c.onMembershipChange(ring: CoordinatorTests.ring, alive: ["a", "b"], now: .at(1)))
        #expect(replay.count == 1 && replay[0].to == "b" && replay[0].payload == hint.payload)
        #expect(replay[0].id != 99, "message ids of a new process do not reuse hint ids")
    }

    /// Hint ids are read back from disk: one at the top of the range wraps, as every message id
    /// does, rather than stopping the node at every start.
    @Test func aStoredHintAtTheTopOfTheIdRange_isReplayed() {
        let hint = Replication.Hint(id: .max, target: "b", createdMs: 0, payload: .events([CoordinatorTests.event(1)]))
        var c = CoordinatorTests.coordinator(alive: ["a"], hints: [hint])
        let replay = CoordinatorTests.sends(c.onMembershipChange(ring: CoordinatorTests.ring, alive: ["a", "b"], now: .at(1)))
        #expect(replay.count == 1 && replay[0].to == "b" && replay[0].payload == hint.payload)
    }

    @Test func anAckFromAnotherNode_forAnOutstandingId_isIgnored() {
        var c = CoordinatorTests.coordinator()
        let sent = CoordinatorTests.sends(c.onWrite(request: 1, events: [CoordinatorTests.event(1)], consistency: .all, now: .at(0)))
        let impostor = sent.first { $0.to != "b" }!
        for _ in 0..<3 { #expect(c.onMessage(.ack(id: impostor.id, atMs: 1, CoordinatorTests.ok), from: "b", now: .at(1)).isEmpty) }
    }
}

@Suite struct HybridLogicalClockTests {
    @Test func timestampsGrow_followTheWallClock_andOrderAfterWhatWasSeen() {
        var clock = HybridLogicalClock()
        let first = clock.now(wallMs: 1_000)
        let second = clock.now(wallMs: 1_000)
        #expect(second > first && HybridLogicalClock.wallMs(of: second) == 1_000)
        #expect(clock.now(wallMs: 900) > second, "a clock that stepped back still moves forward")
        let remote = HybridLogicalClock.timestamp(wallMs: 1_050)
        clock.observe(remote, wallMs: 1_000)
        #expect(clock.now(wallMs: 1_000) > remote, "a change made after seeing another orders after it")
        clock.observe(HybridLogicalClock.timestamp(wallMs: 10_000_000), wallMs: 1_000)
        #expect(HybridLogicalClock.wallMs(of: clock.now(wallMs: 1_000)) < 2_000, "a wild clock ahead does not drag this one")
    }
}

extension Replication.Instant {
    /// A wall clock that has never stepped: both clocks read `ms`.
    static func at(_ ms: Int64) -> Self { .init(wallMs: ms, monotonic: MonotonicTime(nanoseconds: ms * 1_000_000)) }
}
