@testable import FootfallCluster
@testable import FootfallNode
import Testing

@Suite struct InFlightLimitTests {
    @Test func callsBeyondTheLimit_areRefused_untilOneFinishes() {
        var limit = InFlightLimit<String>(limit: 2)
        let first = limit.start("a"), second = limit.start("a"), third = limit.start("a")
        #expect(first && second)
        #expect(!third, "a third call to a while two are in flight")
        #expect(limit.inFlight("a") == 2, "a refused call counts nothing")
        let other = limit.start("b")
        #expect(other, "each peer has its own limit")
        limit.finish("a")
        let again = limit.start("a")
        #expect(again)
    }

    @Test func peersWithNothingInFlight_areForgotten() {
        var limit = InFlightLimit<String>(limit: 4)
        for peer in ["a", "b", "c"] { _ = limit.start(peer) }
        for peer in ["a", "b", "c"] { limit.finish(peer) }
        #expect(limit.keysInFlight == 0 && limit.inFlight("a") == 0)
    }
}
