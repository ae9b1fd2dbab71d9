import FootfallProtocols
import Testing

/// When a node's own copy answers reads: its phase from start, through missed writes, to repair.
@Suite struct DataLifecycleTests {
    typealias Lifecycle = Replication.DataLifecycle
    static let hourMs: Int64 = 3_600_000
    static let hintWindowMs = 3 * hourMs
    static let horizonMs = 800 * 24 * hourMs
    static let nowMs: Int64 = 1_800_000_000_000

    static func start(repairPending: Bool = false, lastAliveMs: Int64?, joinsCluster: Bool = true) -> (Lifecycle, [Lifecycle.Effect]) {
        Lifecycle.onStart(repairPending: repairPending, lastAliveMs: lastAliveMs, joinsCluster: joinsCluster, nowMs: nowMs,
                          hintWindowMs: hintWindowMs, horizonMs: horizonMs)
    }

    static let everything = Lifecycle.PassCoverage(everySite: true, everyReplica: true, knewTheSites: true)

    @Test func aNodeBackWithinTheHintWindow_serves_andOneAwayLonger_repairsFirst() {
        let (back, backEffects) = Self.start(lastAliveMs: Self.nowMs - Self.hourMs)
        #expect(back.phase == .serving && backEffects.isEmpty, "hints bring it what it missed")
        let (away, awayEffects) = Self.start(lastAliveMs: Self.nowMs - 4 * Self.hourMs)
        #expect(away.phase == .repairing && awayEffects == [.persistRepairNeeded], "hints for it have expired")
        let (pending, pendingEffects) = Self.start(repairPending: true, lastAliveMs: Self.nowMs - 1)
        #expect(pending.phase == .repairing && pendingEffects.isEmpty, "a repair left pending before the restart still is")
    }

    @Test func aFolderThatNeverRan_repairsWhenJoining_andServesWhenFoundingAlone() {
        let (joining, joiningEffects) = Self.start(lastAliveMs: nil, joinsCluster: true)
        #expect(joining.phase == .repairing && joiningEffects == [.persistRepairNeeded], "a lost disk or a new node comes back empty")
        let (founder, founderEffects) = Self.start(lastAliveMs: nil, joinsCluster: false)
        #expect(founder.phase == .serving && founderEffects.isEmpty, "a node that starts alone has nothing to miss")
    }

    @Test func aNodeAwayPastTheRetentionHorizon_isWipedBeforeItRepairs() {
        let (away, effects) = Self.start(lastAliveMs: Self.nowMs - Self.horizonMs - 1)
        #expect(away.phase == .repairing && effects == [.wipeRawData, .persistRepairNeeded], "wipe first: nothing it held may come back")
    }

    /// The stamp is read from disk: any value gives a phase, none traps.
    @Test func aHostileOrSteppedBackStamp_neitherTraps_norCountsAsAway() {
        let (ancient, effects) = Self.start(lastAliveMs: Int64.min)
        #expect(ancient.phase == .repairing && effects == [.wipeRawData, .persistRepairNeeded])
        let (future, futureEffects) = Self.start(lastAliveMs: Int64.max)
        #expect(future.phase == .serving && futureEffects.isEmpty, "a clock stepped back is not an absence")
    }

    @Test func aCompletePassUpToNow_repairs_andNothingLessDoes() {
        var lifecycle = Self.start(lastAliveMs: nil).0
        let ticket = lifecycle.onPassStarted(byOperator: false)
        #expect(ticket.comparesUpToNow, "a repairing node compares up to now")
        for partial in [Lifecycle.PassCoverage(everySite: false, everyReplica: true, knewTheSites: true),
                        Lifecycle.PassCoverage(everySite: true, everyReplica: false, knewTheSites: true),
                        Lifecycle.PassCoverage(everySite: true, everyReplica: true, knewTheSites: false)] {
            #expect(lifecycle.onPassFinished(ticket, coverage: partial).isEmpty && lifecycle.phase == .repairing, "\(partial)")
        }
        #expect(lifecycle.onPassFinished(ticket, coverage: Self.everything) == [.clearRepairNeeded])
        #expect(lifecycle.phase == .serving)
    }

    /// A missed write reported while a pass runs may be in a site the pass already compared: the
    /// pass must not clear the flag that report set. The next pass, started after it, does.
    @Test func missedWritesReportedDuringAPass_keepTheNodeRepairing() {
        var lifecycle = Self.start(lastAliveMs: Self.nowMs - 1).0
        #expect(lifecycle.phase == .serving)
        let background = lifecycle.onPassStarted(byOperator: false)
        #expect(!background.comparesUpToNow, "a serving node's background pass leaves out what is settling")
        #expect(lifecycle.onRepairNeeded() == [.persistRepairNeeded])
        #expect(lifecycle.onPassFinished(background, coverage: Self.everything).isEmpty && lifecycle.phase == .repairing)

        let repairing = lifecycle.onPassStarted(byOperator: false)
        #expect(lifecycle.onRepairNeeded().isEmpty, "already repairing: nothing more to persist")
        #expect(lifecycle.onPassFinished(repairing, coverage: Self.everything).isEmpty && lifecycle.phase == .repairing,
                "a second report during a repairing pass also outlives it")
        let next = lifecycle.onPassStarted(byOperator: false)
        #expect(lifecycle.onPassFinished(next, coverage: Self.everything) == [.clearRepairNeeded] && lifecycle.phase == .serving)
    }

    /// The report of a missed write is acknowledged only once the flag is on disk: a persist that
    /// failed is asked for again at the next report, and the node repairs meanwhile.
    @Test func aFailedPersist_isAskedForAgain_andTheNodeRepairsMeanwhile() {
        var lifecycle = Self.start(lastAliveMs: Self.nowMs - 1).0
        #expect(lifecycle.onRepairNeeded() == [.persistRepairNeeded])
        lifecycle.onPersistFailed(.persistRepairNeeded)
        #expect(lifecycle.phase == .repairing, "its reads go elsewhere whatever the disk did")
        #expect(lifecycle.onRepairNeeded() == [.persistRepairNeeded], "the retried report persists the flag")
        #expect(lifecycle.onRepairNeeded().isEmpty, "then it is on disk")
        #expect(lifecycle.invariantViolation == nil)
    }

    /// A flag that never reached the disk is forgotten once a pass repaired the node: serving, it
    /// has nothing left waiting to be persisted.
    @Test func aRepairAfterAFailedPersist_leavesNothingWaiting() {
        var lifecycle = Self.start(lastAliveMs: Self.nowMs - 1).0
        _ = lifecycle.onRepairNeeded()
        lifecycle.onPersistFailed(.persistRepairNeeded)
        let ticket = lifecycle.onPassStarted(byOperator: false)
        #expect(lifecycle.onPassFinished(ticket, coverage: Self.everything) == [.clearRepairNeeded])
        #expect(lifecycle.phase == .serving && lifecycle.invariantViolation == nil)
    }

    @Test func anOperatorsPass_comparesUpToNow_evenOnAServingNode() {
        let lifecycle = Self.start(lastAliveMs: Self.nowMs - 1).0
        #expect(lifecycle.onPassStarted(byOperator: true).comparesUpToNow)
    }

    @Test func aRepairingNode_answersNothingItself_whileTheSiteHasOtherReplicas() {
        let replicas = ["node-1", "node-2", "node-3"]
        let serving = Self.start(lastAliveMs: Self.nowMs - 1).0, repairing = Self.start(lastAliveMs: nil).0
        let served = serving.readRoute(replicas: replicas, myself: "node-1", alive: ["node-1", "node-2", "node-3"])
        #expect(served.local && served.remote == ["node-2", "node-3"], "a serving replica answers itself")
        let sent = repairing.readRoute(replicas: replicas, myself: "node-1", alive: ["node-1", "node-3"])
        #expect(!sent.local && sent.remote == ["node-3"], "a repairing one sends the read to a live replica")
        let alone = repairing.readRoute(replicas: replicas, myself: "node-1", alive: ["node-1"])
        #expect(!alone.local && alone.remote.isEmpty, "with no replica live (as right after a restart) it answers nothing from its copy")
        let only = repairing.readRoute(replicas: ["node-1"], myself: "node-1", alive: ["node-1"])
        #expect(only.local, "the site's only replica has nothing to repair from and answers")
        let elsewhere = serving.readRoute(replicas: ["node-2", "node-3"], myself: "node-1", alive: ["node-1", "node-2"])
        #expect(!elsewhere.local && elsewhere.remote == ["node-2"], "a site this node does not hold goes to its live replicas")
    }
}
