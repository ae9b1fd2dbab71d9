import FootfallModel
import FootfallProtocols
import Testing

/// Which erasure records anti-entropy hands from one replica to another.
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
}
