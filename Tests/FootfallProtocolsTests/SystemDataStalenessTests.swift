import FootfallProtocols
import Testing

/// When a node may trust its copy of the cluster's accounts, sites and tokens.
@Suite struct SystemDataStalenessTests {
    static let minute: Int64 = 60_000

    static func start(pendingPersisted: Bool = false, joinsCluster: Bool, holdsSystemData: Bool,
                      nowMs: Int64 = 0) -> (SystemDataStaleness, [SystemDataStaleness.Effect]) {
        SystemDataStaleness.onStart(pendingPersisted: pendingPersisted, joinsCluster: joinsCluster, holdsSystemData: holdsSystemData,
                                    nowMs: nowMs, staleAfterMs: minute)
    }

    /// Two nodes joining at once on empty folders: a sync with each other (both empty) must not
    /// make either current, or it answers 404 for every site of the cluster (a chaos run of
    /// scale-out-two met it). A sync with a node holding the cluster's copy does, and clears the
    /// persisted flag.
    @Test func aNodeJoiningOnAnEmptyFolder_isCurrentOnlyAfterASyncWithANodeThatIsNotPending() {
        var (joiner, effects) = SystemDataStalenessTests.start(joinsCluster: true, holdsSystemData: false)
        #expect(effects == [.persistPending])
        #expect(joiner.isPending && joiner.isStale)

        #expect(joiner.onSyncCompleted(peerPending: true, nowMs: 1_000) == [])
        #expect(joiner.onTick(hasPeers: true, nowMs: 1_000) == nil)
        #expect(joiner.isStale && joiner.isPending && joiner.lastSyncMs == nil)

        #expect(joiner.onSyncCompleted(peerPending: false, nowMs: 2_000) == [.clearPending])
        #expect(joiner.onTick(hasPeers: true, nowMs: 2_000) == .becameCurrent)
        #expect(!joiner.isStale && !joiner.isPending)
        #expect(joiner.onSyncCompleted(peerPending: false, nowMs: 3_000) == [], "cleared once")
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
        #expect(founder.onTick(hasPeers: false, nowMs: 10 * SystemDataStalenessTests.minute) == nil, "alone, nothing to sync with")
        #expect(founder.onTick(hasPeers: true, nowMs: SystemDataStalenessTests.minute) == nil, "not yet too long")
        #expect(founder.onTick(hasPeers: true, nowMs: SystemDataStalenessTests.minute + 1) == .becameStale)
        _ = founder.onSyncCompleted(peerPending: true, nowMs: 2 * SystemDataStalenessTests.minute)
        #expect(founder.onTick(hasPeers: true, nowMs: 2 * SystemDataStalenessTests.minute) == nil, "a pending peer does not vouch")
        _ = founder.onSyncCompleted(peerPending: false, nowMs: 2 * SystemDataStalenessTests.minute)
        #expect(founder.onTick(hasPeers: true, nowMs: 2 * SystemDataStalenessTests.minute) == .becameCurrent)
    }

    /// Wall-clock times at either end of Int64 (a clock stepped anywhere) decide without trapping.
    @Test func wallClockTimesAtEitherEndOfInt64_doNotTrap() {
        var (node, _) = SystemDataStalenessTests.start(joinsCluster: false, holdsSystemData: true, nowMs: .min)
        #expect(node.onTick(hasPeers: true, nowMs: .max) == .becameStale)
        _ = node.onSyncCompleted(peerPending: false, nowMs: .max)
        #expect(node.onTick(hasPeers: true, nowMs: .min) == .becameCurrent)
    }
}
