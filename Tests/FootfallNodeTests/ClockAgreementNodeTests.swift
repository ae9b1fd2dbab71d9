@testable import FootfallCluster
import FootfallModel
@testable import FootfallNode
import FootfallProtocols
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing

/// A node whose clock is off its peers' refuses what it would stamp or fence wrongly, and takes it
/// again once its clock agrees.
@Suite struct ClockAgreementNodeTests {
    /// Three peers of a cluster of four answer the clock watch with clocks `aheadMs` ahead of `t`'s.
    static func peers(ahead aheadMs: Int64, of t: TestNode) {
        for peer in ["node-2", "node-3", "node-4"] {
            t.node.clockCheck.record(peer: peer, sentMs: t.clock.nowMs, peerMs: t.clock.nowMs + aheadMs)
        }
        t.node.clockCheck.keep(only: ["node-2", "node-3", "node-4"], clusterSize: 4)
    }

    @Test func aNodeWhoseClockIsOff_refusesHitsErasuresEditsAndSystemChanges_untilItAgrees() async throws {
        let t = try TestNode()
        let owner = try t.makeOwner("ann", site: "example.com")
        let consent = "\"consent\":true,\"vid\":\"clockvisitor000001\""
        let visitor = VisitorID.consented(site: SiteID("example.com")!, clientID: "clockvisitor000001").description
        try await t.app().test(.router) { client in
            #expect(try await client.hit(hitJSON(site: "example.com", id: "clock-hit-1", ts: t.clock.nowMs, extra: consent)).status == .accepted)
            ClockAgreementNodeTests.peers(ahead: 600_000, of: t)

            let hit = try await client.hit(hitJSON(site: "example.com", id: "clock-hit-2", ts: t.clock.nowMs, extra: consent))
            #expect(hit.status == .serviceUnavailable)
            #expect(String(buffer: hit.body).contains("clock is 600 s behind its peers"))
            let erasure = try await client.execute(uri: "/api/sites/example.com/erasures", method: .post, headers: owner.auth,
                                                   body: ByteBuffer(string: "{\"visitor\":\"\(visitor)\"}"))
            #expect(erasure.status == .serviceUnavailable)
            let note = try await client.execute(uri: "/api/sites/example.com/visitors/\(visitor)/notes", method: .post,
                                                headers: owner.auth, body: ByteBuffer(string: "{\"text\":\"called back\"}"))
            #expect(note.status == .serviceUnavailable)
            #expect(throws: FootfallError.self) {
                _ = try t.node.system.createToken(name: "late", accountID: owner.account.id, sites: nil, rights: [.read], nowMs: t.clock.nowMs)
            }
            let summary = try await client.getJSON("/api/sites/example.com/summary", owner.auth)
            #expect(summary.0 == .ok, "reads go on")
            #expect((summary.1 as? [String: Any])?["pageviews"] as? Int == 1, "the refused hit was not stored")

            ClockAgreementNodeTests.peers(ahead: 0, of: t)
            #expect(try await client.hit(hitJSON(site: "example.com", id: "clock-hit-2", ts: t.clock.nowMs, extra: consent)).status == .accepted)
            let erased = try await client.execute(uri: "/api/sites/example.com/erasures", method: .post, headers: owner.auth,
                                                  body: ByteBuffer(string: "{\"visitor\":\"\(visitor)\"}"))
            #expect(erased.status == .ok)
        }
    }

    /// A node whose clock is behind its peers' takes their process uids (so it can join, and then
    /// refuse writes) up to what their clocks say, not further; one whose clock agrees, or is
    /// ahead, allows only the skew limit.
    @Test func aNodeWhoseClockIsBehind_takesItsPeersUIDs_withinWhatTheirClocksSay() throws {
        let t = try TestNode()
        let peer = { (uid: Int64) in
            GossipWire.encode(Membership.Envelope(from: Membership.Member(name: "node-2", uid: UInt64(uid), address: "10.0.0.2:7946"),
                                                  incarnation: 0, ownershipDigest: 0, message: .ping(sequence: 1, gossip: [])))
        }
        let tenMinutesAhead = peer(t.clock.nowMs + 600_000)
        #expect(throws: GossipWire.Malformed.self) { try GossipWire.decode(tenMinutesAhead, uidMax: t.node.peerUIDMax) }
        ClockAgreementNodeTests.peers(ahead: -600_000, of: t)
        #expect(throws: GossipWire.Malformed.self) { try GossipWire.decode(tenMinutesAhead, uidMax: t.node.peerUIDMax) }
        ClockAgreementNodeTests.peers(ahead: 600_000, of: t)
        #expect(throws: Never.self) { try GossipWire.decode(tenMinutesAhead, uidMax: t.node.peerUIDMax) }
        #expect(throws: GossipWire.Malformed.self) { try GossipWire.decode(peer(t.clock.nowMs + 800_000), uidMax: t.node.peerUIDMax) }
    }

    /// The nodes whose uids this node refused are read by the clock watch while fresh: at most
    /// `refusedSendersMax` of them (the oldest give way), each for the readings' freshness window.
    @Test func refusedSenders_areRememberedWithinBounds_andForgottenWhenStale() throws {
        let t = try TestNode()
        let sender = { (n: Int) in Membership.Member(name: "node-\(n)", uid: UInt64(t.clock.nowMs + 600_000), address: "10.0.0.\(n):7946") }
        for n in 1...(ClockCheck.refusedSendersMax + 4) {
            t.node.clockCheck.refusedStamp(of: sender(n))
            t.clock.advance(byMs: 1)
        }
        let kept = t.node.clockCheck.recentlyRefusedSenders
        #expect(kept.count == ClockCheck.refusedSendersMax)
        #expect(!kept.contains { $0.name == "node-1" } && kept.contains { $0.name == "node-20" }, "the oldest give way")
        t.clock.advance(byMs: ClockAgreement.Settings().freshForMs + 1)
        t.node.clockCheck.refusedStamp(of: sender(99))
        #expect(t.node.clockCheck.recentlyRefusedSenders.map(\.name) == ["node-99"], "stale ones are forgotten")
    }

    /// The peers agreed, then this node's wall clock was stepped an hour back: the next hit is
    /// refused at once (before, it was taken until the next round of readings, its time checked
    /// against the wrong hour and its id changed), and taken again once the clock is stepped back.
    @Test func aWallClockSteppedAnHourBack_refusesTheNextHit_beforeThePeersAreReadAgain() async throws {
        let t = try TestNode()
        _ = try t.makeOwner("ann", site: "example.com")
        ClockAgreementNodeTests.peers(ahead: 0, of: t)
        let consent = "\"consent\":true,\"vid\":\"stepvisitor0000001\""
        try await t.app().test(.router) { client in
            #expect(try await client.hit(hitJSON(site: "example.com", id: "step-hit-1", ts: t.clock.nowMs, extra: consent)).status == .accepted)
            let sentAt = t.clock.nowMs
            t.clock.step(byMs: -3_600_000)
            let refused = try await client.hit(hitJSON(site: "example.com", id: "step-hit-2", ts: sentAt, extra: consent))
            #expect(refused.status == .serviceUnavailable)
            #expect(String(buffer: refused.body).contains("clock is 3600 s behind its peers"))
            t.clock.step(byMs: 3_600_000)
            #expect(try await client.hit(hitJSON(site: "example.com", id: "step-hit-2", ts: sentAt, extra: consent)).status == .accepted)
        }
    }
}
