@testable import FootfallNode
import FootfallProtocols
import FootfallWire
import Testing

/// Gossip from a peer is decoded whole or rejected with a reason; nothing in it can make the
/// membership instance overflow or crash.
@Suite struct GossipWireTests {
    static let member = Membership.Member(name: "node-2", uid: 7, address: "127.0.0.1:7946")

    @Test func envelopes_roundTrip() throws {
        let record = Membership.MemberRecord(member: GossipWireTests.member, incarnation: 3, status: .suspect)
        let envelope = Membership.Envelope(
            from: GossipWireTests.member, incarnation: 4, ownershipDigest: 99,
            message: .syncReply(state: [.liveness(record, origin: "node-1"),
                                        .ownership(.init(name: "node-2", state: .normal, version: 2))], senderJoined: true))
        #expect(try GossipWire.decode(GossipWire.encode(envelope)) == envelope)
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
            #expect(throws: GossipWire.Malformed.self) { try GossipWire.decode(bad) }
        }
        wire.incarnation = GossipWire.counterMax
        #expect(throws: Never.self) { try GossipWire.decode(wire) }
    }
}
