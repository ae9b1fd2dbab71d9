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
}
