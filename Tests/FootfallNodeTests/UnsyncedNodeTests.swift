import Foundation
import FootfallModel
@testable import FootfallNode
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing

/// A node that has not synced its cluster's system data yet does not know which sites exist: it
/// must not tell a tracker that a site is unknown (the tracker drops a 404, it retries a 503).
@Suite struct UnsyncedNodeTests {
    /// Staleness is time since a sync on the monotonic clock: a wall clock stepped an hour ahead
    /// (NTP, `date -s`) does not make a synced node refuse credentials; time passing does.
    @Test func aWallClockSteppedAhead_doesNotMakeSyncedSystemDataStale() throws {
        let t = try TestNode()
        let check = t.node.systemDataCheck
        check.onSyncCompleted(peerPending: false)
        check.onTick(hasPeers: true)
        #expect(!check.isStale)
        t.clock.step(byMs: 3_600_000)
        check.onTick(hasPeers: true)
        #expect(!check.isStale, "a step of the wall clock is not time without a sync")
        t.clock.advance(byMs: t.node.configuration.systemStaleAfter.nanoseconds / 1_000_000 + 1)
        check.onTick(hasPeers: true)
        #expect(check.isStale)
    }

    @Test func aHitForASiteThisNodeDoesNotKnowYet_isRetriable_untilItHasSynced() async throws {
        let t = try TestNode()
        _ = try t.makeOwner("ann", site: "example.com")
        try await t.app().test(.live) { client in
            // Peers hold ranges and none answered a sync for longer than the node trusts its copy.
            t.clock.advance(byMs: t.node.configuration.systemStaleAfter.nanoseconds / 1_000_000 + 1)
            t.node.systemDataCheck.onTick(hasPeers: true)
            #expect(t.node.systemDataCheck.isStale)
            let early = try await client.hit(hitJSON(site: "elsewhere.example", id: "unsynced-hit-1", ts: t.clock.nowMs))
            #expect(early.status == .serviceUnavailable)
            #expect(String(buffer: early.body).contains("not synced"))

            t.node.systemDataCheck.onSyncCompleted(peerPending: true)
            t.node.systemDataCheck.onTick(hasPeers: true)
            let vouched = try await client.hit(hitJSON(site: "elsewhere.example", id: "unsynced-hit-1", ts: t.clock.nowMs))
            #expect(vouched.status == .serviceUnavailable, "a sync with a node that has not synced itself does not count")

            t.node.systemDataCheck.onSyncCompleted(peerPending: false)
            t.node.systemDataCheck.onTick(hasPeers: true)
            let synced = try await client.hit(hitJSON(site: "elsewhere.example", id: "unsynced-hit-1", ts: t.clock.nowMs))
            #expect(synced.status == .notFound, "once synced, an unknown site is unknown")
            #expect(try await client.hit(hitJSON(site: "example.com", id: "unsynced-hit-2", ts: t.clock.nowMs)).status == .accepted)
        }
    }
}
