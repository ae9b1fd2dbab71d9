import FootfallModel
import FootfallProtocols
import Testing

/// When a node may trust its copy of the cluster's accounts, sites and tokens.
@Suite struct SystemDataStalenessTests {
    static let minute: Int64 = 60_000

    static func start(pendingPersisted: Bool = false, joinsCluster: Bool, holdsSystemData: Bool,
                      nowMs: Int64 = 0) -> (SystemDataStaleness, [SystemDataStaleness.Effect]) {
        SystemDataStaleness.onStart(pendingPersisted: pendingPersisted, joinsCluster: joinsCluster, holdsSystemData: holdsSystemData,
                                    now: MonotonicTime(milliseconds: nowMs), staleAfterMs: minute)
    }

    /// Two nodes joining at once on empty folders: a sync with each other (both empty) must not
    /// make either current, or it answers 404 for every site of the cluster (a chaos run of
    /// scale-out-two met it). A sync with a node holding the cluster's copy does, and clears the
    /// persisted flag.
    @Test func aNodeJoiningOnAnEmptyFolder_isCurrentOnlyAfterASyncWithANodeThatIsNotPending() {
        var (joiner, effects) = SystemDataStalenessTests.start(joinsCluster: true, holdsSystemData: false)
        #expect(effects == [.persistPending])
        #expect(joiner.isPending && joiner.isStale)

        #expect(joiner.onSyncCompleted(peerPending: true, now: MonotonicTime(milliseconds: 1_000)) == [])
        #expect(joiner.onTick(hasPeers: true, now: MonotonicTime(milliseconds: 1_000)) == nil)
        #expect(joiner.isStale && joiner.isPending && joiner.lastSync == nil)

        #expect(joiner.onSyncCompleted(peerPending: false, now: MonotonicTime(milliseconds: 2_000)) == [.clearPending])
        #expect(joiner.onTick(hasPeers: true, now: MonotonicTime(milliseconds: 2_000)) == .becameCurrent)
        #expect(!joiner.isStale && !joiner.isPending)
        #expect(joiner.onSyncCompleted(peerPending: false, now: MonotonicTime(milliseconds: 3_000)) == [], "cleared once")
    }

    /// The flag survives a restart before the first sync, even though pushes may have brought some
    /// records meanwhile; a folder written before the flag existed (it holds records) is not
    /// pending, so a whole cluster upgraded at once does not wait on itself.
    @Test func thePendingFlag_survivesARestart_andAnOlderFolderWithRecordsIsNotPending() {
        let (restarted, effects) = SystemDataStalenessTests.start(pendingPersisted: true, joinsCluster: true, holdsSystemData: true)
        #expect(effects == [] && restarted.isPending && restarted.isStale)

        let (member, memberEffects) = SystemDataStalenessTests.start(joinsCluster: true, holdsSystemData: true)
        #expect(memberEffects == [] && !member.isPending)
        #expect(member.isStale, "a member started with seeds still waits for its first sync")

        let (founder, founderEffects) = SystemDataStalenessTests.start(joinsCluster: false, holdsSystemData: false)
        #expect(founderEffects == [] && !founder.isPending && !founder.isStale)
    }

    /// A node with peers turns stale when no sync counted for `staleAfterMs`, and current again
    /// with the next; a node alone never does.
    @Test func aNodeWithPeers_turnsStaleWithoutASync_andCurrentWithTheNext() {
        var (founder, _) = SystemDataStalenessTests.start(joinsCluster: false, holdsSystemData: true)
        #expect(founder.onTick(hasPeers: false, now: MonotonicTime(milliseconds: 10 * SystemDataStalenessTests.minute)) == nil, "alone, nothing to sync with")
        #expect(founder.onTick(hasPeers: true, now: MonotonicTime(milliseconds: SystemDataStalenessTests.minute)) == nil, "not yet too long")
        #expect(founder.onTick(hasPeers: true, now: MonotonicTime(milliseconds: SystemDataStalenessTests.minute + 1)) == .becameStale)
        _ = founder.onSyncCompleted(peerPending: true, now: MonotonicTime(milliseconds: 2 * SystemDataStalenessTests.minute))
        #expect(founder.onTick(hasPeers: true, now: MonotonicTime(milliseconds: 2 * SystemDataStalenessTests.minute)) == nil, "a pending peer does not vouch")
        _ = founder.onSyncCompleted(peerPending: false, now: MonotonicTime(milliseconds: 2 * SystemDataStalenessTests.minute))
        #expect(founder.onTick(hasPeers: true, now: MonotonicTime(milliseconds: 2 * SystemDataStalenessTests.minute)) == .becameCurrent)
    }

    /// Any start and any run of syncs (with pending peers or not) and ticks (with peers or alone)
    /// leave a consistent state: never pending yet current, nor pending after a sync that counts.
    @Test func anyRunOfInputs_keepsTheStateConsistent() {
        for seed in UInt64(1)...200 {
            var random = SplitMix64(seed: seed)
            var (state, _) = SystemDataStaleness.onStart(
                pendingPersisted: .random(using: &random), joinsCluster: .random(using: &random), holdsSystemData: .random(using: &random),
                now: .zero, staleAfterMs: SystemDataStalenessTests.minute)
            var nowMs: Int64 = 0
            for step in 0..<50 {
                nowMs += Int64.random(in: 0...(2 * SystemDataStalenessTests.minute), using: &random)
                let now = MonotonicTime(milliseconds: nowMs)
                if Bool.random(using: &random) {
                    _ = state.onSyncCompleted(peerPending: Int.random(in: 0..<4, using: &random) == 0, now: now)
                } else {
                    _ = state.onTick(hasPeers: .random(using: &random), now: now)
                }
                if let problem = state.invariantViolation {
                    Issue.record("seed \(seed), step \(step): \(problem)")
                    break
                }
            }
        }
    }

    /// Times at either end of the range decide without trapping.
    @Test func timesAtEitherEndOfTheRange_doNotTrap() {
        var (node, _) = SystemDataStalenessTests.start(joinsCluster: false, holdsSystemData: true, nowMs: .min)
        #expect(node.onTick(hasPeers: true, now: MonotonicTime(milliseconds: .max)) == .becameStale)
        _ = node.onSyncCompleted(peerPending: false, now: MonotonicTime(milliseconds: .max))
        #expect(node.onTick(hasPeers: true, now: MonotonicTime(milliseconds: .min)) == .becameCurrent)
    }
}
