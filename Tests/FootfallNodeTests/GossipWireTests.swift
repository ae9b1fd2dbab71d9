@testable import FootfallCluster
@testable import FootfallNode
import FootfallProtocols
import FootfallWire
import Testing

/// Gossip from a peer is decoded whole or rejected with a reason; nothing in it can make the
/// membership instance overflow or crash.
@Suite struct GossipWireTests {
    static let member = Membership.Member(name: "node-2", uid: 7, address: "127.0.0.1:7946")
    /// The receiver's clock plus the allowed skew, in ms (uids are process start times).
    static let uidMax: UInt64 = 1_800_000_000_000

    @Test func envelopes_roundTrip() throws {
        let record = Membership.MemberRecord(member: GossipWireTests.member, incarnation: 3, status: .suspect)
        let envelope = Membership.Envelope(
            from: GossipWireTests.member, incarnation: 4, ownershipDigest: 99,
            message: .syncReply(state: [.liveness(record, origin: "node-1"),
                                        .ownership(.init(name: "node-2", state: .normal, version: 2))], senderJoined: true))
        #expect(try GossipWire.decode(GossipWire.encode(envelope), uidMax: GossipWireTests.uidMax) == envelope)
    }

    @Test func malformedOrImplausibleGossip_isRejected() {
        var wire = GossipWire.encode(Membership.Envelope(from: GossipWireTests.member, incarnation: 0, message: .gossip([])))
        var huge = wire
        huge.incarnation = .max
        var nameless = wire
        nameless.from.name = "Bad Name"
        var empty = wire
        empty.message = nil
        var hugeVersion = wire
        hugeVersion.gossip.gossip = [.with { $0.ownership = .with { $0.name = "node-3"; $0.state = .normal; $0.version = .max } }]
        var unknownStatus = wire
        unknownStatus.gossip.gossip = [.with { $0.liveness = .with {
            $0.record = GossipWire.encode(Membership.MemberRecord(member: GossipWireTests.member, incarnation: 0, status: .alive))
            $0.record.status = .unspecified
            $0.origin = "node-1"
        } }]
        for bad in [huge, nameless, empty, hugeVersion, unknownStatus] {
            #expect(throws: GossipWire.Malformed.self) { try GossipWire.decode(bad, uidMax: GossipWireTests.uidMax) }
        }
        wire.incarnation = GossipWire.counterMax
        #expect(throws: Never.self) { try GossipWire.decode(wire, uidMax: GossipWireTests.uidMax) }
    }

    /// Versions that 4096 records of one message could sum past 2^64 (2^52 each) are refused; the
    /// largest accepted ones sum far below it.
    @Test func ownershipVersionsThatCouldOverflowTheEpoch_areRejected() throws {
        func envelope(version: UInt64) -> Footfall_V1_GossipEnvelope {
            var wire = GossipWire.encode(Membership.Envelope(from: GossipWireTests.member, incarnation: 0, message: .gossip([])))
            wire.gossip.gossip = (0..<GossipWire.updatesMax).map { index in
                .with { $0.ownership = .with { $0.name = "ghost-\(index)"; $0.state = .removed; $0.version = version } }
            }
            return wire
        }
        #expect(throws: GossipWire.Malformed.self) { try GossipWire.decode(envelope(version: 1 << 52), uidMax: GossipWireTests.uidMax) }
        let accepted = try GossipWire.decode(envelope(version: GossipWire.versionMax), uidMax: GossipWireTests.uidMax)
        guard case .gossip(let updates) = accepted.message else { Issue.record("not gossip"); return }
        let records = updates.compactMap { if case .ownership(let record) = $0 { record } else { nil } }
        #expect(Membership.readRing(of: records).epoch == UInt64(GossipWire.updatesMax) * GossipWire.versionMax)
    }

    /// The highest dead claim a peer may make about a member is refuted with an alive claim one
    /// higher, and that refutation still decodes everywhere (else the member would be cut off).
    @Test func theRefutationOfTheHighestClaim_stillTravels() throws {
        let now = MonotonicTime(nanoseconds: 1_000_000_000)
        var me = Membership.Instance(myself: GossipWireTests.member, randomSeed: 1, now: now)
        _ = me.onStart(now: now)
        let peer = Membership.Member(name: "node-9", uid: 5, address: "127.0.0.1:1")
        let highest = Membership.MemberRecord(member: GossipWireTests.member, incarnation: GossipWire.counterMax, status: .dead)
        let claim = Membership.Envelope(from: peer, incarnation: 0, message: .gossip([.liveness(highest, origin: "node-9")]))
        let decodedClaim = try GossipWire.decode(GossipWire.encode(claim), uidMax: GossipWireTests.uidMax)
        _ = me.onMessage(decodedClaim, now: now)
        #expect(me.incarnation == GossipWire.refutationMax)
        let replies = me.onMessage(Membership.Envelope(from: peer, incarnation: 0, message: .ping(sequence: 1, gossip: [])), now: now)
        for case .send(let envelope, _) in replies {
            #expect(throws: Never.self) { try GossipWire.decode(GossipWire.encode(envelope), uidMax: GossipWireTests.uidMax) }
        }
        var tooHigh = highest
        tooHigh.incarnation = GossipWire.refutationMax
        let forged = Membership.Envelope(from: peer, incarnation: 0, message: .gossip([.liveness(tooHigh, origin: "node-9")]))
        #expect(throws: GossipWire.Malformed.self) { try GossipWire.decode(GossipWire.encode(forged), uidMax: GossipWireTests.uidMax) }
    }

    /// A uid beyond the receiver's clock would outrank the real process of that name for good.
    @Test func memberUIDsFromTheFuture_areRejected_whereverTheyAppear() {
        let future = Membership.Member(name: "node-3", uid: GossipWireTests.uidMax + 1, address: "127.0.0.1:7947")
        let claims: [Membership.Message] = [
            .gossip([.liveness(Membership.MemberRecord(member: future, incarnation: 0, status: .dead), origin: "node-2")]),
            .sync(state: [.liveness(Membership.MemberRecord(member: future, incarnation: 0, status: .alive), origin: "node-3")]),
            .pingRequest(sequence: 1, target: future, gossip: []),
        ]
        for message in claims {
            let wire = GossipWire.encode(Membership.Envelope(from: GossipWireTests.member, incarnation: 0, message: message))
            #expect(throws: GossipWire.Malformed.self) { try GossipWire.decode(wire, uidMax: GossipWireTests.uidMax) }
        }
        var sender = GossipWireTests.member
        sender.uid = UInt64.max
        let fromFuture = GossipWire.encode(Membership.Envelope(from: sender, incarnation: 0, message: .gossip([])))
        #expect(throws: GossipWire.Malformed.self) { try GossipWire.decode(fromFuture, uidMax: GossipWireTests.uidMax) }
        let present = Membership.Member(name: "node-3", uid: GossipWireTests.uidMax, address: "127.0.0.1:7947")
        let plausible = GossipWire.encode(Membership.Envelope(from: GossipWireTests.member, incarnation: 0, message: .pingRequest(
            sequence: 1, target: present, gossip: [])))
        #expect(throws: Never.self) { try GossipWire.decode(plausible, uidMax: GossipWireTests.uidMax) }
    }
}
