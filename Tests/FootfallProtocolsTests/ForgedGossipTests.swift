@testable import FootfallProtocols
import Testing

/// Gossip is relayed, so any member can put any claim about any other into it: a claim that no
/// later message could override must come from the member it is about.
@Suite struct ForgedGossipTests {
    typealias M = Membership
    static let t0 = MonotonicTime(nanoseconds: 1_000_000_000)
    static func member(_ name: String) -> M.Member { M.Member(name: name, uid: 1, address: "\(name):7946") }

    static func joined() -> M.Instance {
        var a = M.Instance(myself: member("a"), seeds: ["b:7946"], randomSeed: 5, now: t0)
        _ = a.onStart(now: t0)
        let alive = ["b", "c"].map { M.Update.liveness(M.MemberRecord(member: member($0), incarnation: 0, status: .alive), origin: $0) }
        _ = a.onMessage(M.Envelope(from: member("b"), incarnation: 0, message: .syncReply(state: alive, senderJoined: true)), now: t0)
        return a
    }

    static func status(_ name: String, _ instance: M.Instance) -> M.Status? {
        instance.members.first { $0.member.name == name }?.status
    }

    /// A full message of ownership records (4,096, as many as the wire lets through) is merged in
    /// one step: it took 38 s of a debug build's CPU when the map's digest was recomputed per record.
    @Test func aFullMessageOfOwnershipRecords_isMergedInOneStep() {
        var a = ForgedGossipTests.joined()
        let records = (0..<4096).map { M.Update.ownership(M.OwnershipRecord(name: "ghost-\($0)", state: .removed, version: 1)) }
        let started = ContinuousClock.now
        let actions = a.onMessage(M.Envelope(from: ForgedGossipTests.member("c"), incarnation: 0, message: .gossip(records)),
                                  now: ForgedGossipTests.t0)
        let elapsed = ContinuousClock.now - started
        // Counted outside #expect, which would describe every element of a failing operand.
        let changed = actions.filter { if case .ownershipChanged = $0 { true } else { false } }.count
        let held = a.ownershipRecords.count
        #expect(elapsed < .seconds(3))
        #expect(changed == 4096)
        #expect(held == 4096 + 1, "the ghosts and a itself")
    }

    @Test func aLeftClaimFromAnotherMember_isIgnored_butTheMemberItselfMayLeave() {
        var a = ForgedGossipTests.joined()
        let forged = M.Update.liveness(M.MemberRecord(member: ForgedGossipTests.member("b"), incarnation: 0, status: .left), origin: "b")
        _ = a.onMessage(M.Envelope(from: ForgedGossipTests.member("c"), incarnation: 0, message: .gossip([forged])), now: ForgedGossipTests.t0)
        #expect(ForgedGossipTests.status("b", a) == .alive, "c cannot make b leave")
        _ = a.onMessage(M.Envelope(from: ForgedGossipTests.member("b"), incarnation: 0, message: .gossip([forged])), now: ForgedGossipTests.t0)
        #expect(ForgedGossipTests.status("b", a) == .left, "b itself can")
    }
}
