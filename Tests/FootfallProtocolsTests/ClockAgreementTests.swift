import FootfallProtocols
import Testing

/// When a node decides its own clock is off the cluster's (and so refuses writes).
@Suite struct ClockAgreementTests {
    static let minute: Int64 = 60_000

    /// Readings of `peers` whose clocks are `offsetMs` ahead of this node's, over a 10 ms round trip.
    static func reading(_ peers: [String], offsetMs: Int64, at now: Int64 = 1_000_000, into agreement: inout ClockAgreement) {
        for peer in peers {
            agreement.onReading(peer: peer, sentMs: now - 10, peerMs: now - 5 + offsetMs, receivedMs: now, receivedMonotonicMs: now)
        }
    }

    @Test func aNodeTenMinutesBehind_decidesOnceMostOfTheClusterSawIt() {
        var agreement = ClockAgreement()
        ClockAgreementTests.reading(["b", "c"], offsetMs: 10 * ClockAgreementTests.minute, into: &agreement)
        #expect(agreement.disagreementMs(clusterSize: 5, nowMs: 1_000_000, monotonicMs: 1_000_000) == nil, "two of five are not a majority")
        ClockAgreementTests.reading(["d"], offsetMs: 10 * ClockAgreementTests.minute, into: &agreement)
        #expect(agreement.disagreementMs(clusterSize: 5, nowMs: 1_000_000, monotonicMs: 1_000_000) == 10 * ClockAgreementTests.minute)
    }

    @Test func onePeerWithAWildClock_doesNotMakeAHealthyNodeDoubtItself() {
        var agreement = ClockAgreement()
        ClockAgreementTests.reading(["wild"], offsetMs: -10 * ClockAgreementTests.minute, into: &agreement)
        ClockAgreementTests.reading(["b", "c", "d"], offsetMs: 20, into: &agreement)
        #expect(agreement.disagreementMs(clusterSize: 5, nowMs: 1_000_000, monotonicMs: 1_000_000) == nil)
    }

    @Test func inAClusterOfTwo_neitherSideDecides() {
        var agreement = ClockAgreement()
        ClockAgreementTests.reading(["b"], offsetMs: 10 * ClockAgreementTests.minute, into: &agreement)
        #expect(agreement.disagreementMs(clusterSize: 2, nowMs: 1_000_000, monotonicMs: 1_000_000) == nil)
    }

    /// A joiner knows no members yet and asks its seed; a founder knows only itself and asks the
    /// nodes whose uids it refused. One reading must not outvote the node (a joiner would refuse
    /// writes for its seed's wrong clock); two joiners must outvote a founder whose clock is off,
    /// or it never takes their uids and the cluster never forms.
    @Test func beforeANodeKnowsItsMembers_theNodesItAsked_andItself_makeTheCluster() {
        var agreement = ClockAgreement()
        ClockAgreementTests.reading(["seed 10.0.0.1:7946"], offsetMs: -10 * ClockAgreementTests.minute, into: &agreement)
        let joiner = ClockAgreement.clusterSize(members: 0, asked: 1)
        #expect(joiner == 2)
        #expect(agreement.disagreementMs(clusterSize: joiner, nowMs: 1_000_000, monotonicMs: 1_000_000) == nil)

        var founder = ClockAgreement()
        ClockAgreementTests.reading(["node-2", "node-3"], offsetMs: 10 * ClockAgreementTests.minute, into: &founder)
        let size = ClockAgreement.clusterSize(members: 1, asked: 2)
        #expect(size == 3)
        #expect(founder.disagreementMs(clusterSize: size, nowMs: 1_000_000, monotonicMs: 1_000_000) == 10 * ClockAgreementTests.minute)
        #expect(ClockAgreement.clusterSize(members: 5, asked: 2) == 5, "a ring's members count when they are more")
    }

    @Test func anOffsetWithinTheRoundTripsUncertainty_doesNotCount() {
        var agreement = ClockAgreement()
        // 61 s apart, but the answer took 10 s: the peer may be as little as 56 s ahead.
        for peer in ["b", "c", "d"] {
            agreement.onReading(peer: peer, sentMs: 0, peerMs: 5_000 + 61_000, receivedMs: 10_000, receivedMonotonicMs: 10_000)
        }
        #expect(agreement.disagreementMs(clusterSize: 4, nowMs: 10_000, monotonicMs: 10_000) == nil)
        for peer in ["b", "c", "d"] {
            agreement.onReading(peer: peer, sentMs: 20_000, peerMs: 20_005 + 61_000, receivedMs: 20_010, receivedMonotonicMs: 20_010)
        }
        #expect(agreement.disagreementMs(clusterSize: 4, nowMs: 20_010, monotonicMs: 20_010) == 61_000)
    }

    @Test func aPeerReadingAtEitherEndOfInt64_countsAsFarOff_withoutOverflow() {
        var agreement = ClockAgreement()
        for (peer, reading) in [("b", Int64.max), ("c", Int64.min), ("d", Int64.max)] {
            agreement.onReading(peer: peer, sentMs: 1_000_000, peerMs: reading, receivedMs: 1_000_010, receivedMonotonicMs: 1_000_010)
        }
        #expect(agreement.disagreementMs(clusterSize: 4, nowMs: 1_000_010, monotonicMs: 1_000_010).map { $0 > 0 } == true)
    }

    @Test func staleReadingsAndFormerMembers_stopCounting() {
        var agreement = ClockAgreement()
        ClockAgreementTests.reading(["b", "c", "d"], offsetMs: -5 * ClockAgreementTests.minute, at: 0, into: &agreement)
        #expect(agreement.disagreementMs(clusterSize: 4, nowMs: 0, monotonicMs: 0) == -5 * ClockAgreementTests.minute)
        #expect(agreement.disagreementMs(clusterSize: 4, nowMs: agreement.settings.freshForMs + 1, monotonicMs: agreement.settings.freshForMs + 1) == nil, "old readings expire")
        agreement.onMembers(only: ["b"])
        #expect(agreement.disagreementMs(clusterSize: 4, nowMs: 0, monotonicMs: 0) == nil, "c and d left the cluster")
    }

    /// The wall clock stepped an hour back (or ahead) after the peers were read: the same readings
    /// show the node off at once, not after the next round; stepped back again, it agrees.
    @Test func aWallClockStep_countsFromTheFirstQuestionAfterIt_ineitherDirection() {
        var agreement = ClockAgreement()
        let hour: Int64 = 3_600_000, now: Int64 = 1_000_000_000
        for peer in ["b", "c", "d"] {
            agreement.onReading(peer: peer, sentMs: now - 10, peerMs: now - 5, receivedMs: now, receivedMonotonicMs: 5_000)
        }
        #expect(agreement.disagreementMs(clusterSize: 4, nowMs: now + 1_000, monotonicMs: 6_000) == nil, "agrees as time passes")
        #expect(agreement.disagreementMs(clusterSize: 4, nowMs: now - hour + 1_000, monotonicMs: 6_000) == hour,
                "stepped back: the peers are an hour ahead")
        #expect(agreement.disagreementMs(clusterSize: 4, nowMs: now + hour + 1_000, monotonicMs: 6_000) == -hour,
                "stepped ahead: the readings are a second old, not an hour, and the peers are an hour behind")
        #expect(agreement.disagreementMs(clusterSize: 4, nowMs: now + 2_000, monotonicMs: 7_000) == nil, "stepped back again")
        #expect(agreement.disagreementMs(clusterSize: 4, nowMs: now - hour, monotonicMs: 5_000 + agreement.settings.freshForMs + 1) == nil,
                "readings expire by the monotonic clock")
    }

    @Test func ownClocksAtEitherEndOfInt64_countAsFarOff_withoutOverflow() {
        var agreement = ClockAgreement()
        agreement.onReading(peer: "b", sentMs: Int64.min, peerMs: Int64.max, receivedMs: Int64.max, receivedMonotonicMs: Int64.min)
        for peer in ["c", "d", "e"] {
            agreement.onReading(peer: peer, sentMs: 0, peerMs: 5, receivedMs: 10, receivedMonotonicMs: 10)
        }
        #expect(agreement.disagreementMs(clusterSize: 5, nowMs: Int64.max, monotonicMs: Int64.min).map { $0 < 0 } == true,
                "a wall clock stepped to the end of time: the peers are far behind")
        #expect(agreement.disagreementMs(clusterSize: 5, nowMs: Int64.min, monotonicMs: 20).map { $0 > 0 } == true,
                "stepped to the start of time: the peers are far ahead")
    }
}
