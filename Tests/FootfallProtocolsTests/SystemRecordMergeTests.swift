import FootfallProtocols
import Testing

/// The merge of one key's records, case by case (`SystemRecordMergeSimulationTests` runs it
/// between whole nodes).
@Suite struct SystemRecordMergeTests {
    typealias Version = SystemRecordMerge.Version
    typealias Record = SystemRecordMerge.Record

    static let stamp = Version(hlc: 1_000, origin: "node-1")

    static func resolve(held: Record?, _ incoming: [Record]) -> SystemRecordMerge.Resolution {
        SystemRecordMerge.resolve(held: held, incoming: incoming) { SystemRecordMergeTests.stamp }
    }

    @Test func plainRecords_lastWriterWins_byClockThenOrigin_inAnyOrder() {
        let older = Record(version: Version(hlc: 10, origin: "node-2"))
        let newer = Record(version: Version(hlc: 20, origin: "node-1"))
        let tie = Record(version: Version(hlc: 20, origin: "node-3"))
        #expect(SystemRecordMergeTests.resolve(held: nil, [older]) == .take(0))
        #expect(SystemRecordMergeTests.resolve(held: older, [newer]) == .take(0))
        #expect(SystemRecordMergeTests.resolve(held: newer, [older]) == .keepHeld)
        #expect(SystemRecordMergeTests.resolve(held: newer, [newer]) == .keepHeld, "the same record again changes nothing")
        #expect(SystemRecordMergeTests.resolve(held: older, [tie, newer]) == .take(0), "the origin breaks a tie")
        #expect(SystemRecordMergeTests.resolve(held: nil, [newer, tie, older]) == .take(1))
        #expect(SystemRecordMergeTests.resolve(held: nil, []) == .keepHeld)
    }

    /// A later write of a revocation that carries an earlier time (an operator on a node whose
    /// clock is behind) neither moves the time back nor is refused: the two join to the later time
    /// under a version later than both, so every node ends with the same record.
    @Test func revocations_joinToTheLaterTime_underAVersionLaterThanBoth() {
        let early = Record(version: Version(hlc: 30, origin: "node-2"), revokedMs: 5_000)
        let late = Record(version: Version(hlc: 20, origin: "node-3"), revokedMs: 9_000)
        #expect(SystemRecordMergeTests.resolve(held: late, [early]) == .joined(revokedMs: 9_000, version: SystemRecordMergeTests.stamp))
        #expect(SystemRecordMergeTests.resolve(held: early, [late]) == .joined(revokedMs: 9_000, version: SystemRecordMergeTests.stamp))
        let joined = Record(version: SystemRecordMergeTests.stamp, revokedMs: 9_000)
        #expect(SystemRecordMergeTests.resolve(held: early, [joined]) == .take(0), "the joined record wins where it arrives")
        #expect(SystemRecordMergeTests.resolve(held: joined, [early, late]) == .keepHeld)
        let later = Record(version: Version(hlc: 40, origin: "node-1"), revokedMs: 12_000)
        #expect(SystemRecordMergeTests.resolve(held: early, [later]) == .take(0), "a later time at a later version is taken as it is")
    }

    /// A stamp that is not later than the winner (this node's clock did not take in a stamp far
    /// ahead of it) is moved past it, or the joined record would lose to the one it joins.
    @Test func aJoinedRevocation_isStampedPastTheWinner_evenWhenTheLocalClockIsBehind() {
        let ahead = Record(version: Version(hlc: 5_000, origin: "node-2"), revokedMs: 1)
        let held = Record(version: Version(hlc: 4_000, origin: "node-3"), revokedMs: 9)
        #expect(SystemRecordMergeTests.resolve(held: held, [ahead]) == .joined(revokedMs: 9, version: Version(hlc: 5_001, origin: "node-1")))
    }

    @Test func aLocalRevocation_neverRecordsAnEarlierTimeThanTheOneHeld() {
        let held = Record(version: Version(hlc: 1, origin: "node-2"), revokedMs: 9_000)
        #expect(SystemRecordMerge.revokedMs(at: 8_000, held: held) == 9_000)
        #expect(SystemRecordMerge.revokedMs(at: 10_000, held: held) == 10_000)
        #expect(SystemRecordMerge.revokedMs(at: 8_000, held: nil) == 8_000)
    }

    @Test func aSync_sendsWhatThisNodeHoldsNewer_andAsksForWhatThePeerHoldsNewer() {
        let (a, b) = (Version(hlc: 1, origin: "x"), Version(hlc: 2, origin: "x"))
        let (newer, wanted) = SystemRecordMerge.compare(mine: ["both-mine-newer": b, "both-theirs-newer": a, "same": a, "only-mine": a],
                                                        theirs: ["both-mine-newer": a, "both-theirs-newer": b, "same": a, "only-theirs": b])
        #expect(newer == ["both-mine-newer", "only-mine"])
        #expect(wanted == ["both-theirs-newer", "only-theirs"])
    }
}
