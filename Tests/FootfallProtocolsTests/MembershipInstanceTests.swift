import FootfallModel
@testable import FootfallProtocols
import Testing

/// The membership instance driven input by input: no sockets, no sleeps.
@Suite struct MembershipInstanceTests {
    typealias M = Membership
    static let t0 = MonotonicTime(nanoseconds: 1_000_000_000)
    static func member(_ name: String, uid: UInt64 = 1) -> M.Member { M.Member(name: name, uid: uid, address: "\(name):7946") }

    /// memberlist's probe timers (1 s, 500 ms, 400 ms): the tests step time in round numbers of
    /// them, whatever the defaults are.
    static let timers: M.Settings = {
        var settings = M.Settings()
        settings.probeInterval = .seconds(1)
        settings.probeTimeout = .milliseconds(500)
        settings.indirectNackTimeout = .milliseconds(400)
        return settings
    }()

    static func alive(_ name: String, incarnation: UInt64 = 0) -> M.Update {
        .liveness(M.MemberRecord(member: member(name), incarnation: incarnation, status: .alive), origin: name)
    }

    /// An instance "a" that knows b, c and d alive (merged from a sync reply).
    static func joined(settings: M.Settings = timers) -> M.Instance {
        var instance = M.Instance(myself: member("a"), settings: settings, seeds: ["b:7946"], randomSeed: 7, now: t0)
        _ = instance.onStart(now: t0)
        let reply = M.Envelope(from: member("b"), incarnation: 0, message: .syncReply(state: [alive("b"), alive("c"), alive("d")], senderJoined: true))
        _ = instance.onMessage(reply, now: t0)
        return instance
    }

    static func sends(_ actions: [M.Action]) -> [(M.Message, M.Destination)] {
        actions.compactMap { if case .send(let envelope, let to) = $0 { (envelope.message, to) } else { nil } }
    }

    static func status(of name: String, in instance: M.Instance) -> M.Status? {
        instance.members.first { $0.member.name == name }?.status
    }

    @Test func ping_isAnsweredByAnAck_withTheSameSequence() {
        var a = MembershipInstanceTests.joined()
        let ping = M.Envelope(from: MembershipInstanceTests.member("c"), incarnation: 0, ownershipDigest: a.ownershipDigest,
                              message: .ping(sequence: 42, gossip: []))
        let sent = MembershipInstanceTests.sends(a.onMessage(ping, now: MembershipInstanceTests.t0))
        #expect(sent.count == 1)
        guard case .ack(42, _)? = sent.first?.0, case .member(let to)? = sent.first?.1 else {
            Issue.record("expected an ack for sequence 42, got \(sent)")
            return
        }
        #expect(to.name == "c")
    }

    @Test func aSenderWithAnotherOwnershipMap_isAskedForItsFullState() {
        var a = MembershipInstanceTests.joined()
        let ping = M.Envelope(from: MembershipInstanceTests.member("c"), incarnation: 0, ownershipDigest: a.ownershipDigest ^ 1,
                              message: .ping(sequence: 1, gossip: []))
        let sent = MembershipInstanceTests.sends(a.onMessage(ping, now: MembershipInstanceTests.t0))
        #expect(sent.contains { if case (.sync, .member(let to)) = $0 { to.name == "c" } else { false } })
        // At most once per probe interval, however many messages disagree.
        let again = MembershipInstanceTests.sends(a.onMessage(ping, now: MembershipInstanceTests.t0 + .milliseconds(10)))
        #expect(!again.contains { if case (.sync, _) = $0 { true } else { false } })
    }

    @Test func joining_claimsOwnershipAsJoining_onlyAfterMergingAPeersState_andServesReadsOnceStreamed() {
        var a = M.Instance(myself: MembershipInstanceTests.member("a"), settings: MembershipInstanceTests.timers, seeds: ["b:7946"], randomSeed: 1,
                           now: MembershipInstanceTests.t0)
        let start = a.onStart(now: MembershipInstanceTests.t0)
        #expect(MembershipInstanceTests.sends(start).allSatisfy { if case (.sync, .address("b:7946")) = $0 { true } else { false } })
        #expect(a.ring().members.isEmpty)
        let existing = M.OwnershipRecord(name: "b", state: .normal, version: 1)
        let reply = M.Envelope(from: MembershipInstanceTests.member("b"), incarnation: 0,
                               message: .syncReply(state: [MembershipInstanceTests.alive("b"), .ownership(existing)], senderJoined: true))
        _ = a.onMessage(reply, now: MembershipInstanceTests.t0)
        #expect(a.isJoined)
        #expect(a.ownState == .joining)
        #expect(a.ring().members == ["b"], "a joining node serves no reads")
        #expect(a.pendingRing().members == ["a", "b"], "but receives writes for its ranges")
        #expect(a.onOwnStateChange(to: .removed, now: MembershipInstanceTests.t0).isEmpty, "joining cannot skip to removed")
        _ = a.onOwnStateChange(to: .normal, now: MembershipInstanceTests.t0)
        #expect(a.ring().members == ["a", "b"])
        #expect(a.ring().epoch == 3)
        // Decommission: leaving keeps serving reads while writes already go where ranges move.
        _ = a.onOwnStateChange(to: .leaving, now: MembershipInstanceTests.t0)
        #expect(a.ring().members == ["a", "b"] && a.pendingRing().members == ["b"])
        _ = a.onOwnStateChange(to: .removed, now: MembershipInstanceTests.t0)
        #expect(a.ring().members == ["b"])
    }

    /// The operator's changes are decided here, not in the shell: a removal drops only a member
    /// seen dead that holds ranges, and a decommission needs this node normal and another owner.
    @Test func operatorChanges_areRefusedUnlessTheRingCanTakeThem() {
        let t0 = MembershipInstanceTests.t0
        var a = M.Instance(myself: MembershipInstanceTests.member("a"), settings: MembershipInstanceTests.timers, seeds: ["b:7946"], randomSeed: 1, now: t0)
        _ = a.onStart(now: t0)
        #expect(a.onDecommission(now: t0) == .failure(.onlyOwner("a")), "no other owner yet")
        let owners = [M.OwnershipRecord(name: "b", state: .normal, version: 1), M.OwnershipRecord(name: "c", state: .normal, version: 1)]
        let reply = M.Envelope(from: MembershipInstanceTests.member("b"), incarnation: 0,
                               message: .syncReply(state: [MembershipInstanceTests.alive("b"), MembershipInstanceTests.alive("c")]
                                   + owners.map(M.Update.ownership), senderJoined: true))
        _ = a.onMessage(reply, now: t0)
        #expect(a.onDecommission(now: t0) == .failure(.stillJoining("a")))
        _ = a.onOwnStateChange(to: .normal, now: t0)

        #expect(a.onRemove(name: "c", now: t0) == .failure(.alive("c")))
        #expect(a.onRemove(name: "a", now: t0) == .failure(.alive("a")), "this node itself, running")
        #expect(a.onRemove(name: "z", now: t0) == .failure(.holdsNoRanges("z")))
        let dead = M.Envelope(from: MembershipInstanceTests.member("b"), incarnation: 0, ownershipDigest: a.ownershipDigest,
                              message: .gossip([.liveness(M.MemberRecord(member: MembershipInstanceTests.member("c"), incarnation: 0, status: .dead),
                                                          origin: "b")]))
        _ = a.onMessage(dead, now: t0)
        guard case .success(let actions) = a.onRemove(name: "c", now: t0) else {
            Issue.record("removing c, seen dead, was refused")
            return
        }
        #expect(actions.contains { if case .ownershipChanged(let record) = $0 { record.name == "c" && record.state == .removed } else { false } })
        #expect(a.onRemove(name: "c", now: t0) == .failure(.holdsNoRanges("c")), "removed already")

        guard case .success(let leaving) = a.onDecommission(now: t0) else {
            Issue.record("decommissioning a, normal beside b, was refused")
            return
        }
        #expect(!leaving.isEmpty && a.ownState == .leaving)
        #expect(a.onDecommission(now: t0) == .success([]), "asked again while leaving: nothing changes")
    }

    /// A second process named "c" (a newer uid, another address) while c is alive: the members
    /// keep the live c and tell the newcomer, which stops as it joins; c is not superseded by
    /// what the newcomer says of itself. Once c is held dead, a process at a new address takes
    /// the name over (a node restarted on another machine), and the old c, hearing that from its
    /// peers, stops.
    @Test func aSecondProcessOfALiveName_elsewhere_isRefused_untilTheHolderIsDead() throws {
        let t0 = MembershipInstanceTests.t0
        let elsewhere = M.Member(name: "c", uid: 5, address: "elsewhere:7946")
        let claim = { (digest: UInt64) in M.Envelope(from: elsewhere, incarnation: 0, ownershipDigest: digest, message: .ping(sequence: 9, gossip: [])) }

        var a = MembershipInstanceTests.joined()
        let told = MembershipInstanceTests.sends(a.onMessage(claim(a.ownershipDigest), now: t0))
        #expect(a.members.first { $0.member.name == "c" }?.member == MembershipInstanceTests.member("c"), "a keeps the live c")
        #expect(told.contains { message, to in
            if case (.gossip(let updates), .member(elsewhere)) = (message, to) {
                updates.contains { if case .liveness(let record, _) = $0 { record.member == MembershipInstanceTests.member("c") } else { false } }
            } else { false }
        }, "the newcomer is told who holds its name")
        let relayed = M.Envelope(from: MembershipInstanceTests.member("b"), incarnation: 0, ownershipDigest: a.ownershipDigest,
                                 message: .gossip([.liveness(M.MemberRecord(member: elsewhere, incarnation: 0, status: .alive), origin: "b")]))
        _ = a.onMessage(relayed, now: t0)
        #expect(a.members.first { $0.member.name == "c" }?.member.uid == 1, "nor does gossip about the newcomer replace it")

        var newcomer = M.Instance(myself: elsewhere, settings: MembershipInstanceTests.timers, seeds: ["b:7946"], randomSeed: 3, now: t0)
        _ = newcomer.onStart(now: t0)
        let state = M.Envelope(from: MembershipInstanceTests.member("b"), incarnation: 0,
                               message: .syncReply(state: [MembershipInstanceTests.alive("b"), MembershipInstanceTests.alive("c")], senderJoined: true))
        #expect(newcomer.onMessage(state, now: t0).contains(.nameHeld(by: MembershipInstanceTests.member("c"))))
        #expect(!newcomer.isJoined)

        var c = M.Instance(myself: MembershipInstanceTests.member("c"), settings: MembershipInstanceTests.timers, seeds: [], randomSeed: 4, now: t0)
        _ = c.onStart(now: t0)
        let selfClaim = M.Envelope(from: elsewhere, incarnation: 0, ownershipDigest: c.ownershipDigest,
                                   message: .ping(sequence: 1, gossip: [.liveness(M.MemberRecord(member: elsewhere, incarnation: 0, status: .alive), origin: "c")]))
        #expect(!c.onMessage(selfClaim, now: t0).contains { if case .superseded = $0 { true } else { false } }, "c keeps its name")
        #expect(!c.isLeaving)

        let dead = M.Envelope(from: MembershipInstanceTests.member("b"), incarnation: 0, ownershipDigest: a.ownershipDigest,
                              message: .gossip([.liveness(M.MemberRecord(member: MembershipInstanceTests.member("c"), incarnation: 0, status: .dead), origin: "b")]))
        _ = a.onMessage(dead, now: t0)
        _ = a.onMessage(claim(a.ownershipDigest), now: t0)
        #expect(a.members.first { $0.member.name == "c" }?.member == elsewhere, "held dead, c's name goes to the new process")
        let takenOver = M.Envelope(from: MembershipInstanceTests.member("b"), incarnation: 0, ownershipDigest: c.ownershipDigest,
                                   message: .gossip([.liveness(M.MemberRecord(member: elsewhere, incarnation: 0, status: .alive), origin: "b")]))
        #expect(c.onMessage(takenOver, now: t0).contains(.superseded(by: elsewhere)), "the old c, told by a peer, stops")

        var taker = M.Instance(myself: elsewhere, settings: MembershipInstanceTests.timers, seeds: [], randomSeed: 5, now: t0)
        _ = taker.onStart(now: t0)
        let fromTheOld = M.Envelope(from: MembershipInstanceTests.member("c"), incarnation: 0, ownershipDigest: taker.ownershipDigest,
                                    message: .gossip([]))
        #expect(MembershipInstanceTests.sends(taker.onMessage(fromTheOld, now: t0)).isEmpty,
                "the process that took the name over does not answer the old one (they would answer each other for ever)")
    }

    /// A node removed while it was held dead, started again on its old folder: the first seed to
    /// answer may not know of the removal yet (it reaches the members by gossip), so the join
    /// completes with this node still normal in its map, and the removal arrives afterwards. It
    /// must then take its ranges again as joining — as when the reply already carried the
    /// removal — or it runs on holding no ranges for ever (a make test run on CI found node-4 so).
    /// A leaving node's removal ends its decommission instead: it stays removed.
    @Test func aRemovalLearnedAfterTheJoin_isAnsweredByJoiningAgain_butEndsADecommission() {
        typealias T = MembershipInstanceTests
        let owners = ["a", "b", "c"].map { M.OwnershipRecord(name: $0, state: .normal, version: 1) }
        func removal(of record: M.OwnershipRecord, into instance: M.Instance) -> M.Envelope {
            M.Envelope(from: T.member("c"), incarnation: 0, ownershipDigest: instance.ownershipDigest,
                       message: .gossip([.ownership(M.OwnershipRecord(name: record.name, state: .removed, version: record.nextVersion))]))
        }
        var a = M.Instance(myself: T.member("a", uid: 2), settings: T.timers, seeds: ["b:7946"], knownOwnership: owners, randomSeed: 1, now: T.t0)
        _ = a.onStart(now: T.t0)
        let unaware = M.Envelope(from: T.member("b"), incarnation: 0,
                                 message: .syncReply(state: [T.alive("b"), T.alive("c")] + owners.map(M.Update.ownership), senderJoined: true))
        _ = a.onMessage(unaware, now: T.t0)
        #expect(a.isJoined && a.ownState == .normal, "control: the join completed before the removal was known")
        _ = a.onMessage(removal(of: owners[0], into: a), now: T.t0)
        #expect(a.ownState == .joining, "removed while away, it streams its ranges in again")
        #expect(a.ownershipRecords.first { $0.name == "a" }?.version == 3, "a version above the removal's, so every member takes it")
        #expect(a.pendingRing().members.contains("a") && !a.ring().members.contains("a"))

        var leaving = T.joined()
        _ = leaving.onMessage(M.Envelope(from: T.member("b"), incarnation: 0, ownershipDigest: leaving.ownershipDigest,
                                         message: .gossip([.ownership(M.OwnershipRecord(name: "b", state: .normal, version: 1))])),
                              now: T.t0)
        _ = leaving.onOwnStateChange(to: .normal, now: T.t0)
        guard case .success = leaving.onDecommission(now: T.t0), let record = leaving.ownershipRecords.first(where: { $0.name == "a" }) else {
            Issue.record("control: the decommission of a was refused")
            return
        }
        _ = leaving.onMessage(removal(of: record, into: leaving), now: T.t0)
        #expect(leaving.ownState == .removed, "an operator's removal of a leaving node ends its decommission")
    }

    @Test func aReplyFromANodeThatHasNotJoined_doesNotCompleteAJoin() {
        var a = M.Instance(myself: MembershipInstanceTests.member("a"), settings: MembershipInstanceTests.timers, seeds: ["b:7946"], randomSeed: 1,
                           now: MembershipInstanceTests.t0)
        _ = a.onStart(now: MembershipInstanceTests.t0)
        let unjoined = M.Envelope(from: MembershipInstanceTests.member("b"), incarnation: 0,
                                  message: .syncReply(state: [MembershipInstanceTests.alive("b")], senderJoined: false))
        _ = a.onMessage(unjoined, now: MembershipInstanceTests.t0)
        #expect(!a.isJoined)
        #expect(a.ring().members.isEmpty)
        // It keeps asking its seeds although it now knows a live member.
        let retry = MembershipInstanceTests.sends(a.onTick(now: MembershipInstanceTests.t0 + .seconds(1)))
        #expect(retry.contains { if case (.sync, .address("b:7946")) = $0 { true } else { false } })
    }

    /// The founder (no seeds) restarted asks where the others were last seen, at once and while
    /// none is alive, without waiting to count as joined; once one answers it stops asking. The
    /// others hold it `left` after a graceful stop and would never contact it.
    @Test func aFounderRestarted_asksWhereMembersWereLastSeen_untilOneIsAlive() {
        typealias T = MembershipInstanceTests
        let owners = ["a", "b", "c"].map { M.OwnershipRecord(name: $0, state: .normal, version: 1) }
        var a = M.Instance(myself: T.member("a", uid: 2), settings: T.timers, lastSeenAt: ["b:7946", "c:7946", "a:7946"],
                           knownOwnership: owners, randomSeed: 1, now: T.t0)
        func asked(_ actions: [M.Action]) -> Set<String> {
            Set(T.sends(actions).compactMap { if case (.sync, .address(let address)) = $0 { address } else { nil } })
        }
        #expect(asked(a.onStart(now: T.t0)) == ["b:7946", "c:7946"], "its own address is not asked")
        #expect(a.isJoined, "a founder counts as joined at once, as before")
        #expect(asked(a.onTick(now: T.t0 + .seconds(1))) == ["b:7946", "c:7946"], "asked again while nobody answers")
        let reply = M.Envelope(from: T.member("b"), incarnation: 0, message: .syncReply(state: [T.alive("b"), T.alive("c")], senderJoined: true))
        _ = a.onMessage(reply, now: T.t0 + .seconds(1))
        #expect(T.status(of: "b", in: a) == .alive)
        #expect(asked(a.onTick(now: T.t0 + .seconds(3))).isEmpty, "a live member is known: no more asking")

        // Without the saved addresses it would not ask anyone.
        var alone = M.Instance(myself: T.member("a", uid: 2), settings: T.timers, knownOwnership: owners, randomSeed: 1, now: T.t0)
        #expect(asked(alone.onStart(now: T.t0)).isEmpty && asked(alone.onTick(now: T.t0 + .seconds(1))).isEmpty)
    }

    /// A seeded node restarted with saved addresses still needs a seed's reply to count as joined,
    /// but asks both.
    @Test func savedAddresses_areAskedBesideTheSeeds_butOnlyASeedCompletesAJoin() {
        typealias T = MembershipInstanceTests
        var b = M.Instance(myself: T.member("b"), settings: T.timers, seeds: ["a:7946"], lastSeenAt: ["a:7946", "c:7946"], randomSeed: 1, now: T.t0)
        let asked = T.sends(b.onStart(now: T.t0)).compactMap { if case (.sync, .address(let address)) = $0 { address } else { nil } }
        #expect(asked.sorted() == ["a:7946", "c:7946"], "each address once")
        #expect(!b.isJoined)
    }

    @Test func unansweredProbe_asksOthers_thenSuspects_thenDeclaresDead() throws {
        var a = MembershipInstanceTests.joined()
        var now = MembershipInstanceTests.t0 + .seconds(1)
        let first = MembershipInstanceTests.sends(a.onTick(now: now))
        guard case (.ping, .member(let target))? = first.first else {
            Issue.record("expected a ping, got \(first)")
            return
        }
        now = now + .milliseconds(500)
        let asked = MembershipInstanceTests.sends(a.onTick(now: now))
        let helpers = asked.compactMap { if case (.pingRequest(_, let t, _), .member(let helper)) = $0, t == target { helper.name } else { nil } }
        #expect(Set(helpers) == Set(["b", "c", "d"]).subtracting([target.name]))
        // The helpers answer nack (the network is fine), so our local health does not suffer.
        for helper in helpers {
            _ = a.onMessage(M.Envelope(from: MembershipInstanceTests.member(helper), incarnation: 0,
                                       message: .nack(sequence: 1, gossip: [])), now: now)
        }
        now = now + .milliseconds(500)
        let suspected = a.onTick(now: now)
        #expect(suspected.contains(.memberChanged(M.MemberRecord(member: target, incarnation: 0, status: .suspect), previous: .alive)))
        #expect(a.localHealth == 0)
        // No confirmations: the suspicion runs its maximum, 6 × 4 × max(1, log10(4)) × 1 s = 24 s.
        _ = a.onTick(now: now + .milliseconds(23_900))
        #expect(MembershipInstanceTests.status(of: target.name, in: a) == .suspect)
        let dead = a.onTick(now: now + .seconds(24))
        #expect(dead.contains(.memberChanged(M.MemberRecord(member: target, incarnation: 0, status: .dead), previous: .suspect)))
    }

    @Test func independentConfirmations_shortenTheSuspicion() {
        var a = MembershipInstanceTests.joined()
        let record = M.MemberRecord(member: MembershipInstanceTests.member("d"), incarnation: 0, status: .suspect)
        _ = a.onMessage(M.Envelope(from: MembershipInstanceTests.member("b"), incarnation: 0,
                                   message: .gossip([.liveness(record, origin: "b")])), now: MembershipInstanceTests.t0)
        _ = a.onMessage(M.Envelope(from: MembershipInstanceTests.member("c"), incarnation: 0,
                                   message: .gossip([.liveness(record, origin: "c")])), now: MembershipInstanceTests.t0)
        // Expected confirmations are min(k = 3, n - 2 = 2); c's is one of them, so the timeout
        // falls from 24 s by 20 s × log 2 / log 3 to about 11.4 s.
        _ = a.onTick(now: MembershipInstanceTests.t0 + .milliseconds(11_300))
        #expect(MembershipInstanceTests.status(of: "d", in: a) == .suspect)
        _ = a.onTick(now: MembershipInstanceTests.t0 + .milliseconds(11_500))
        #expect(MembershipInstanceTests.status(of: "d", in: a) == .dead)
    }

    @Test func suspicionAboutMyself_isRefuted_withAHigherIncarnation() {
        var a = MembershipInstanceTests.joined()
        let rumour = M.MemberRecord(member: MembershipInstanceTests.member("a"), incarnation: 3, status: .suspect)
        _ = a.onMessage(M.Envelope(from: MembershipInstanceTests.member("b"), incarnation: 0,
                                   message: .gossip([.liveness(rumour, origin: "b")])), now: MembershipInstanceTests.t0)
        #expect(a.incarnation == 4)
        #expect(a.localHealth == 1)
        let reply = MembershipInstanceTests.sends(a.onMessage(
            M.Envelope(from: MembershipInstanceTests.member("c"), incarnation: 0, message: .ping(sequence: 1, gossip: [])),
            now: MembershipInstanceTests.t0))
        guard case (.ack(_, let gossip), _)? = reply.first else {
            Issue.record("expected an ack")
            return
        }
        #expect(gossip.contains(.liveness(M.MemberRecord(member: MembershipInstanceTests.member("a"), incarnation: 4, status: .alive), origin: "a")))
    }

    @Test func pingToASuspect_carriesItsSuspicionFirst() {
        var a = MembershipInstanceTests.joined()
        for name in ["b", "c", "d"] {
            let record = M.MemberRecord(member: MembershipInstanceTests.member(name), incarnation: 0, status: .suspect)
            _ = a.onMessage(M.Envelope(from: MembershipInstanceTests.member("x"), incarnation: 0,
                                       message: .gossip([.liveness(record, origin: "x")])), now: MembershipInstanceTests.t0)
        }
        let sent = MembershipInstanceTests.sends(a.onTick(now: MembershipInstanceTests.t0 + .seconds(1)))
        guard case (.ping(_, let gossip), .member(let target))? = sent.first else {
            Issue.record("expected a ping, got \(sent)")
            return
        }
        guard case .liveness(let record, _)? = gossip.first else {
            Issue.record("expected gossip")
            return
        }
        #expect(record.member.name == target.name && record.status == .suspect)
    }

    @Test func failedProbeWithoutHelpers_raisesLocalHealth_andStretchesTheProbeTimeout() {
        let t0 = MembershipInstanceTests.t0
        var a = M.Instance(myself: MembershipInstanceTests.member("a"), settings: MembershipInstanceTests.timers, randomSeed: 3, now: t0)
        _ = a.onStart(now: t0)
        _ = a.onMessage(M.Envelope(from: MembershipInstanceTests.member("b"), incarnation: 0, message: .gossip([])), now: t0)
        _ = a.onTick(now: t0 + .seconds(1))           // ping b
        _ = a.onTick(now: t0 + .milliseconds(1500))   // no one else to ask
        _ = a.onTick(now: t0 + .seconds(2))           // the probe failed; the next one starts
        #expect(a.localHealth == 1)
        #expect(MembershipInstanceTests.status(of: "b", in: a) == .suspect)
        // With score 1 the probe timeout doubles to 1 s.
        #expect(a.nextDeadline == t0 + .seconds(3))
    }

    @Test func overrideRules_followIncarnations_andNewProcessesWin() {
        let old = M.MemberRecord(member: MembershipInstanceTests.member("b", uid: 1), incarnation: 5, status: .dead)
        let refute = M.MemberRecord(member: MembershipInstanceTests.member("b", uid: 1), incarnation: 6, status: .alive)
        let stale = M.MemberRecord(member: MembershipInstanceTests.member("b", uid: 1), incarnation: 5, status: .alive)
        let restarted = M.MemberRecord(member: MembershipInstanceTests.member("b", uid: 2), incarnation: 0, status: .alive)
        let left = M.MemberRecord(member: MembershipInstanceTests.member("b", uid: 1), incarnation: 2, status: .left)
        #expect(refute.supersedes(old))
        #expect(!stale.supersedes(old))
        #expect(restarted.supersedes(old) && restarted.supersedes(left))
        #expect(!refute.supersedes(left))
        #expect(M.MemberRecord(member: old.member, incarnation: 5, status: .suspect).supersedes(stale))
    }

    @Test func gossip_isRetransmittedALimitedNumberOfTimes() {
        var queue = M.Dissemination()
        queue.enqueue(MembershipInstanceTests.alive("b"))
        queue.enqueue(MembershipInstanceTests.alive("c"))
        var counts = [String: Int]()
        for _ in 0..<10 {
            for update in queue.take(max: 1, limit: 3) {
                if case .liveness(let record, _) = update { counts[record.member.name, default: 0] += 1 }
            }
        }
        #expect(counts == ["b": 3, "c": 3])
        #expect(queue.isEmpty)
    }
}
