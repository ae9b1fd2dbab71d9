@testable import FootfallModel
import Testing

/// Distinct visitors in filtered reports: exact up to `VisitorSet.exactMax`, a HyperLogLog
/// estimate within its stated bound beyond.
@Suite struct VisitorSetTests {
    @Test func upToTheLimit_theCountIsExact_andRepeatsCountOnce() {
        var set = VisitorSet()
        for round in 0..<2 {
            for raw in 0..<UInt64(VisitorSet.exactMax - 1) { set.insert(VisitorID(rawValue: raw &* 0x1_0000_0001)) }
            set.insert(VisitorID(rawValue: .max))
            #expect(set.count == VisitorSet.exactMax, "round \(round)")
        }
    }

    /// Past the limit the estimate holds HyperLogLog's bound (three standard errors, 2.5 %), for
    /// sequential ids (consented visitors' ids need not look random) and repeats change nothing.
    @Test(arguments: [20_000, 200_000, 1_000_000])
    func pastTheLimit_theEstimateIsWithinTheBound(distinct: Int) {
        var set = VisitorSet()
        for raw in 0..<UInt64(distinct) { set.insert(VisitorID(rawValue: raw)) }
        let estimate = set.count
        #expect(abs(Double(estimate - distinct)) <= 0.025 * Double(distinct), "\(estimate) for \(distinct)")
        for raw in 0..<UInt64(distinct) { set.insert(VisitorID(rawValue: raw)) }
        #expect(set.count == estimate)
    }

    /// A union (two shards' visitors, `ShardedAnalysis`) counts what one set of all of them
    /// counts, exact or estimated alike, whichever side is past the limit and however they overlap.
    @Test(arguments: [(10, 20), (3_000, 3_000), (100, 6_000), (6_000, 100), (9_000, 9_000)])
    func aUnion_countsAsOneSetOfBoth(sizes: (Int, Int)) {
        for overlap in [0, sizes.0 / 2] {
            var left = VisitorSet(), right = VisitorSet(), both = VisitorSet()
            let leftIDs = (0..<UInt64(sizes.0)).map { VisitorID(rawValue: $0 &* 0x9E37_79B9) }
            let rightIDs = (0..<UInt64(sizes.1)).map { VisitorID(rawValue: (UInt64(sizes.0 - overlap) + $0) &* 0x9E37_79B9) }
            for id in leftIDs { left.insert(id); both.insert(id) }
            for id in rightIDs { right.insert(id); both.insert(id) }
            left.formUnion(right)
            #expect(left.count == both.count, "\(sizes), overlap \(overlap)")
            if Set(leftIDs + rightIDs).count <= VisitorSet.exactMax { #expect(left.count == Set(leftIDs + rightIDs).count) }
        }
    }
}
