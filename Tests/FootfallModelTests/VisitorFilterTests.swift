@testable import FootfallModel
import Testing

/// The per-day visitor filter: never says "not here" of a visitor it holds, seldom "maybe" of one
/// it does not, and refuses bytes it did not write.
@Suite struct VisitorFilterTests {
    @Test(arguments: [0, 1, 100, 20_000])
    func holdsEveryVisitorAdded_andFewOthers(count: Int) {
        var random = SplitMix64(seed: UInt64(count) + 3)
        let held = (0..<count).map { _ in VisitorID(rawValue: random.next()) }
        let filter = VisitorFilter(held)
        #expect(held.allSatisfy(filter.mayHold))
        let others = (0..<20_000).map { _ in VisitorID(rawValue: random.next()) }
        let falsePositives = others.filter(filter.mayHold).count
        #expect(Double(falsePositives) / Double(others.count) < 0.02, "\(falsePositives) of \(others.count) strangers pass")
        #expect(VisitorFilter(encoded: filter.encoded) == filter)
    }

    @Test func bytesItDidNotWrite_areRefused() {
        let encoded = VisitorFilter([VisitorID(rawValue: 7)]).encoded
        #expect(VisitorFilter(encoded: []) == nil)
        #expect(VisitorFilter(encoded: [2] + encoded.dropFirst()) == nil)
        #expect(VisitorFilter(encoded: Array(encoded.prefix(5))) == nil)
    }
}
