import FootfallModel
@testable import FootfallProtocols
import Testing

@Suite struct RingTests {
    static let sites = (0..<20_000).map { SiteID("site\($0).example")! }

    static func members(_ count: Int) -> Set<String> { Set((1...count).map { "node-\($0)" }) }

    @Test func sitePositions_areStableAcrossVersions() {
        // Pinned values: if this fails, the ring function changed and every site would move.
        #expect(Ring.position(of: SiteID("example.com")!) == Ring.position(of: SiteID("EXAMPLE.com")!))
        #expect(String(Ring.position(of: SiteID("example.com")!), radix: 16) == RingTests.pinnedExample)
    }

    // SHA-256("footfall.ring.v1\0example.com")[0..<8], computed independently with Python hashlib.
    static let pinnedExample = "58df27f53a6cb915"

    /// Positions are remembered once hashed, up to a bound: the pinned value holds when asked
    /// again, and after more other sites than the bound were placed (the memory emptied).
    @Test func sitePositions_stayPinned_whenRemembered_andPastTheBound() {
        let example = SiteID("example.com")!
        #expect(String(Ring.position(of: example), radix: 16) == RingTests.pinnedExample)
        #expect(String(Ring.position(of: example), radix: 16) == RingTests.pinnedExample)
        for n in 0...Ring.sitePositionsMax { _ = Ring.position(of: SiteID("bound\(n).example")!) }
        #expect(String(Ring.position(of: example), radix: 16) == RingTests.pinnedExample)
    }

    @Test func sameMembers_giveTheSameRing_inAnyOrder() {
        let a = Ring(epoch: 3, members: ["b", "a", "c"])
        let b = Ring(epoch: 3, members: ["c", "b", "a"])
        for site in RingTests.sites.prefix(500) {
            #expect(a.preferenceList(for: site, replicationFactor: 3) == b.preferenceList(for: site, replicationFactor: 3))
        }
    }

    @Test func preferenceList_holdsDistinctMembers_cappedByRingSize() {
        let ring = Ring(epoch: 1, members: RingTests.members(5))
        for site in RingTests.sites.prefix(1000) {
            let list = ring.preferenceList(for: site, replicationFactor: 3)
            #expect(list.count == 3 && Set(list).count == 3)
        }
        let small = Ring(epoch: 1, members: ["only"])
        #expect(small.preferenceList(for: RingTests.sites[0], replicationFactor: 3) == ["only"])
        #expect(Ring(epoch: 1, members: []).preferenceList(for: RingTests.sites[0], replicationFactor: 3) == [])
    }

    /// Stated bound: with 256 virtual nodes, every member's share of primaries is within
    /// [0.7, 1.3] × the mean, for 3 to 50 members (20,000 sites).
    @Test(arguments: [3, 5, 10, 25, 50])
    func load_isBalancedWithinBound(memberCount: Int) {
        let ring = Ring(epoch: 1, members: RingTests.members(memberCount))
        var load = [String: Int]()
        for site in RingTests.sites { load[ring.preferenceList(for: site, replicationFactor: 1)[0], default: 0] += 1 }
        let mean = Double(RingTests.sites.count) / Double(memberCount)
        let ratios = ring.members.map { Double(load[$0, default: 0]) / mean }
        #expect(ratios.max()! <= 1.3, "busiest member at \(ratios.max()!) × mean")
        #expect(ratios.min()! >= 0.7, "idlest member at \(ratios.min()!) × mean")
    }

    /// A join moves about 1/N of sites, and only onto the new member; the other members of each
    /// moved site's list keep their order.
    @Test(arguments: [3, 10, 30])
    func join_movesAboutOneNthOfSites_andNothingElse(memberCount: Int) {
        let before = Ring(epoch: 1, members: RingTests.members(memberCount))
        let after = before.joining("newcomer")
        #expect(after.epoch == 2)
        var moved = 0
        for site in RingTests.sites {
            let old = before.preferenceList(for: site, replicationFactor: 3)
            let new = after.preferenceList(for: site, replicationFactor: 3)
            if old != new {
                moved += 1
                #expect(new.contains("newcomer"), "a site moved without the newcomer taking it")
                #expect(new.filter { $0 != "newcomer" } == Array(old.prefix(new.count - 1)))
            }
            let oldPrimary = old[0], newPrimary = new[0]
            #expect(oldPrimary == newPrimary || newPrimary == "newcomer")
        }
        // RF=3: a site's list changes when the newcomer lands in it, about 3/(N+1) of sites.
        let expected = 3.0 / Double(memberCount + 1) * Double(RingTests.sites.count)
        #expect(Double(moved) > expected * 0.7 && Double(moved) < expected * 1.3, "moved \(moved), expected about \(Int(expected))")
    }

    @Test func leave_movesOnlyTheLeaversSites() {
        let before = Ring(epoch: 7, members: RingTests.members(10))
        let after = before.leaving("node-4")
        for site in RingTests.sites.prefix(5000) {
            let old = before.preferenceList(for: site, replicationFactor: 3)
            let new = after.preferenceList(for: site, replicationFactor: 3)
            if !old.contains("node-4") { #expect(old == new) } else { #expect(!new.contains("node-4")) }
        }
    }
}
