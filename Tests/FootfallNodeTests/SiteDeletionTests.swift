import Foundation
import FootfallModel
import FootfallNode
import FootfallStorage
import Testing

/// An idle account's deletion reaches every replica, and its domains cannot be registered again
/// while any member still holds their data (issue 14, item 6).
@Suite struct SiteDeletionTests {
    /// What the system replicator does between two nodes: every record one holds newer than the other.
    static func sync(_ from: TestNode, to: TestNode) throws {
        let (newer, _) = try from.node.system.compare(with: try to.node.system.index())
        try to.node.system.merge(newer)
    }

    static func visit(_ site: SiteID, at ms: Int64) -> Event {
        var event = Event(id: EventID.forHit(site: site, hitID: "deleted-site-hit", timestampMs: ms), site: site,
                          visitor: VisitorID.consented(site: site, clientID: "deletedsitevisitor"), timestampMs: ms, kind: .pageview, path: "/")
        event.consented = true
        event.title = "deleted-site-marker"
        return event
    }

    @Test func idleAccountDeletion_removesTheDataOnEveryReplica_andHoldsTheDomainUntilThen() async throws {
        let a = try TestNode(name: "node-a"), b = try TestNode(name: "node-b")
        let owner = try a.makeOwner("idle", site: "idle.example", retentionDays: 360)
        try SiteDeletionTests.sync(a, to: b)
        // The site's data reached both replicas, and the owner was last active on the first day.
        for replica in [a, b] {
            _ = try replica.node.store.apply([SiteDeletionTests.visit(owner.site.id, at: replica.clock.nowMs)], nowMs: replica.clock.nowMs,
                                             retention: { _ in owner.site.retention })
        }
        for replica in [a, b] { replica.clock.advance(byMs: 721 * TimeUnits.dayMs) }

        try a.node.runMaintenance()
        #expect(try !a.node.store.holdsData(of: owner.site.id))
        try SiteDeletionTests.sync(a, to: b)
        #expect(try b.node.system.site(owner.site.id) == nil, "the tombstone reached the other replica")
        #expect(try b.node.store.holdsData(of: owner.site.id), "control: it still holds the data before its own pass")
        #expect(try a.node.system.membersHoldingData(of: owner.site.id, members: ["node-a", "node-b"]) == ["node-b"],
                "the domain is held while node-b may still serve the old owner's visitors")

        try b.node.runMaintenance()
        #expect(try !b.node.store.holdsData(of: owner.site.id), "the other replica deleted the data too")
        #expect(try b.filesContaining(Array("deleted-site-marker".utf8)) == [])
        try SiteDeletionTests.sync(b, to: a)
        #expect(try a.node.system.membersHoldingData(of: owner.site.id, members: ["node-a", "node-b"]) == [])
        let newcomer = try a.node.system.createAccount(email: "new@example.net", password: "correct horse new", nowMs: a.clock.nowMs)
        let again = try await a.node.createSite(owner.site.id, ownerID: newcomer.id, timeZone: "UTC", retention: .default)
        #expect(again.ownerID == newcomer.id)
        #expect(try a.node.system.membersHoldingData(of: owner.site.id, members: ["node-a", "node-b"]) == [], "a live site is held by no one")
    }

    @Test func dataThatComesBackAfterTheDeletion_isDeletedAgain() throws {
        let t = try TestNode()
        let owner = try t.makeOwner("idle", site: "idle.example")
        t.clock.advance(byMs: 721 * TimeUnits.dayMs)
        try t.node.runMaintenance()
        // A late hint or repair from a replica that missed the deletion brings an event back.
        _ = try t.node.store.apply([SiteDeletionTests.visit(owner.site.id, at: t.clock.nowMs)], nowMs: t.clock.nowMs,
                                   retention: { _ in owner.site.retention })
        #expect(try t.node.store.holdsData(of: owner.site.id))
        try t.node.runMaintenance()
        #expect(try !t.node.store.holdsData(of: owner.site.id))
    }
}
