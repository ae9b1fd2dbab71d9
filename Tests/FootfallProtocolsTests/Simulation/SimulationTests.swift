import FootfallModel
import FootfallProtocols
import Foundation
import Testing

/// Whole-cluster membership runs over many seeds. `FOOTFALL_SIM_SEEDS=N` sets seeds per scenario
/// (default 200 here; `make simulate` runs 2,000); `FOOTFALL_SIM_SEED=S` replays one seed.
/// Any failure names its seed and prints the last events of that run.
@Suite struct SimulationTests {
    static var seeds: [UInt64] {
        let environment = ProcessInfo.processInfo.environment
        if let one = environment["FOOTFALL_SIM_SEED"].flatMap(UInt64.init) { return [one] }
        let count = environment["FOOTFALL_SIM_SEEDS"].flatMap(Int.init) ?? 200
        return (1...UInt64(max(1, count))).map { $0 }
    }

    /// Bounds the checks hold the protocol to, with default settings (1 s probes).
    static let formBound: Duration = .seconds(30)
    static let healBound: Duration = .seconds(60)
    static let detectionBound: Duration = .seconds(30)

    /// Starts `count` nodes: node-1 bootstraps, each later node joins through one or two earlier ones.
    static func formCluster(_ sim: inout SimulatedCluster, count: Int, random: inout SplitMix64) -> Bool {
        sim.start("node-1", seeds: [])
        for index in 2...count {
            let seedCount = Int.random(in: 1...min(2, index - 1), using: &random)
            let seeds = (1..<index).shuffled(using: &random).prefix(seedCount).map { "node-\($0)" }
            sim.start("node-\(index)", seeds: seeds)
            sim.run(for: .milliseconds(Int64.random(in: 0...2000, using: &random)))
        }
        return sim.run(until: formBound) { $0.liveViewsAgree() && $0.ringsAgree(on: Set($0.names)) } != nil
    }

    static func fail(_ sim: SimulatedCluster, _ what: String, sourceLocation: SourceLocation = #_sourceLocation) {
        let rings = sim.runningNames.map { name in
            "\(name): epoch \(sim.instance(name)!.ring().epoch) \(sim.instance(name)!.ring().members)"
        }
        Issue.record(
            "seed \(sim.seed): \(what)\nrings: \(rings.joined(separator: "; ")) — replay with FOOTFALL_SIM_SEED=\(sim.seed)\n\(sim.recentTrace())",
            sourceLocation: sourceLocation
        )
    }

    /// Replication follows the views the membership shell publishes when the core's actions say
    /// the view changed, with no poll behind them: a change no action announces would leave it on
    /// the old ring or members for good. And no instance's own consistency check
    /// (`invariantViolation`) failed after any input.
    static func checkCores(_ sim: SimulatedCluster, sourceLocation: SourceLocation = #_sourceLocation) {
        if let first = sim.staleViews.first {
            fail(sim, "\(sim.staleViews.count) unannounced view changes, the first: \(first)", sourceLocation: sourceLocation)
        }
        if let first = sim.brokenInvariants.first {
            fail(sim, "\(sim.brokenInvariants.count) broken invariants, the first: \(first)", sourceLocation: sourceLocation)
        }
    }

    static func report(_ scenario: String, _ statistics: SimulatedCluster.FaultStatistics, seeds: Int, extra: String = "") {
        print("simulation \(scenario): \(seeds) seeds; \(statistics)\(extra.isEmpty ? "" : "; " + extra)")
    }

    static func summary(_ durations: [Duration]) -> String {
        guard !durations.isEmpty else { return "none" }
        let sorted = durations.sorted()
        let median = sorted[sorted.count / 2]
        return String(format: "median %.1f s, max %.1f s", median.seconds, sorted.last!.seconds)
    }

    /// One seeded run of the heal scenario: a cluster of 3–7 nodes formed under loss, duplication
    /// and delay, one to four faults (isolation, split, one-way cut, crash, restart), then healed.
    struct HealRun {
        var sim: SimulatedCluster
        var formed: Bool
        /// How long after healing the live views agreed, or nil if not within `healBound`.
        var healed: Duration?
    }

    static func healRun(seed: UInt64) -> HealRun {
        var random = SplitMix64(seed: seed ^ 0xA5A5)
        var sim = SimulatedCluster(seed: seed)
        sim.network = .init(
            lossRate: Double.random(in: 0...0.1, using: &random),
            duplicateRate: Double.random(in: 0...0.05, using: &random),
            delayMin: .milliseconds(1), delayMax: .milliseconds(Int64.random(in: 2...80, using: &random))
        )
        let count = Int.random(in: 3...7, using: &random)
        guard SimulationTests.formCluster(&sim, count: count, random: &random) else { return HealRun(sim: sim, formed: false) }
        for _ in 0..<Int.random(in: 1...4, using: &random) {
            let names = sim.names
            switch Int.random(in: 0..<5, using: &random) {
            case 0: sim.isolate(names.randomElement(using: &random)!)
            case 1:
                let shuffled = names.shuffled(using: &random)
                let cut = Int.random(in: 1..<shuffled.count, using: &random)
                sim.split(Array(shuffled[..<cut]), Array(shuffled[cut...]))
            case 2:
                let pair = names.shuffled(using: &random).prefix(2)
                sim.cutOneWay(from: pair.first!, to: pair.last!)
            case 3:
                // Keep a majority of processes running so the check has something to agree on.
                if sim.runningNames.count > 2 { sim.crash(sim.runningNames.randomElement(using: &random)!) }
            default:
                if let crashed = names.first(where: { sim.instance($0) == nil }) {
                    sim.start(crashed, seeds: sim.runningNames.shuffled(using: &random).prefix(2).map { $0 })
                }
            }
            sim.run(for: .seconds(Int64.random(in: 2...40, using: &random)))
        }
        sim.heal()
        sim.network.lossRate = 0
        let healed = sim.run(until: SimulationTests.healBound, { $0.liveViewsAgree() })
        return HealRun(sim: sim, formed: true, healed: healed)
    }

    @Test func liveViewsAgree_afterPartitionsLossAndCrashesHeal() {
        var total = SimulatedCluster.FaultStatistics()
        var healTimes = [Duration]()
        var falseDeathsDuringFaults = 0
        var traces = TraceHash()
        for seed in SimulationTests.seeds {
            let run = SimulationTests.healRun(seed: seed)
            let sim = run.sim
            traces.add(sim.traceHash)
            guard run.formed else {
                SimulationTests.fail(sim, "the nodes did not agree on membership within \(SimulationTests.formBound)")
                continue
            }
            guard let healed = run.healed else {
                SimulationTests.fail(sim, "live views did not agree within \(SimulationTests.healBound) of healing")
                continue
            }
            healTimes.append(healed)
            falseDeathsDuringFaults += sim.falseDeaths.count
            SimulationTests.checkCores(sim)
            let rings = sim.rings()
            if Set(rings.map(\.members)).count != 1 || Set(rings.map(\.epoch)).count != 1 {
                SimulationTests.fail(sim, "rings differ after healing: \(rings.map { "\($0.epoch) \($0.members)" })")
            }
            total.add(sim.statistics)
        }
        SimulationTests.report("heal", total, seeds: SimulationTests.seeds.count, extra: "time to agree after healing: \(SimulationTests.summary(healTimes)); "
                                 + "live members declared dead during faults: \(falseDeathsDuringFaults); trace hash \(traces)")
    }

    /// A seed replays: run twice, it leaves the same trace (and another seed a different one, so
    /// the hash does tell runs apart).
    @Test func oneSeedRunTwice_leavesTheSameTrace() {
        let seed = SimulationTests.seeds[0]
        let first = SimulationTests.healRun(seed: seed).sim.traceHash
        let again = SimulationTests.healRun(seed: seed).sim.traceHash
        let other = SimulationTests.healRun(seed: seed + 1).sim.traceHash
        #expect(first == again, "seed \(seed) left trace \(first), then \(again)")
        #expect(first != other, "seeds \(seed) and \(seed + 1) left the same trace \(first)")
    }

    @Test func crashedMember_isDeclaredDeadByAll_withinBound() {
        var total = SimulatedCluster.FaultStatistics()
        var detectionTimes = [Duration]()
        var falseDeaths = 0
        for seed in SimulationTests.seeds {
            var random = SplitMix64(seed: seed ^ 0x5A5A)
            var sim = SimulatedCluster(seed: seed)
            sim.network = .init(
                lossRate: Double.random(in: 0...0.05, using: &random),
                duplicateRate: Double.random(in: 0...0.02, using: &random),
                delayMin: .milliseconds(1), delayMax: .milliseconds(Int64.random(in: 2...50, using: &random))
            )
            let count = Int.random(in: 3...7, using: &random)
            guard SimulationTests.formCluster(&sim, count: count, random: &random) else {
                SimulationTests.fail(sim, "\(count) nodes did not agree on membership within \(SimulationTests.formBound)")
                continue
            }
            sim.run(for: .seconds(Int64.random(in: 0...10, using: &random)))
            let victim = sim.names.randomElement(using: &random)!
            let generation = sim.generation(of: victim)
            sim.crash(victim)
            guard let detected = sim.run(until: SimulationTests.detectionBound, { $0.isSeenDeadByAll(victim, generation: generation) }) else {
                SimulationTests.fail(sim, "\(victim) was not declared dead by all within \(SimulationTests.detectionBound)")
                continue
            }
            detectionTimes.append(detected)
            // With loss, SWIM can lose every message between two members for a whole suspicion
            // timeout (seed 1902 of 2,000: a 3-node cluster whose third member crashed meanwhile):
            // counted here, and held to zero where the network only delays (below).
            falseDeaths += sim.falseDeaths.count
            // The restarted process is a new member: all see it alive under its new uid.
            sim.start(victim, seeds: sim.runningNames.filter { $0 != victim }.prefix(1).map { $0 })
            if sim.run(until: SimulationTests.formBound, { $0.liveViewsAgree() }) == nil {
                SimulationTests.fail(sim, "restarted \(victim) was not seen alive as generation \(generation + 1) by all")
            }
            SimulationTests.checkCores(sim)
            total.add(sim.statistics)
        }
        SimulationTests.report("crash", total, seeds: SimulationTests.seeds.count, extra: "detection: \(SimulationTests.summary(detectionTimes)); "
                                 + "live members declared dead under loss: \(falseDeaths)")
    }

    /// Lifeguard's point: slow messages raise local health scores and suspicions get refuted, so
    /// delay alone (no loss, no partition) never gets a healthy member declared dead.
    @Test func delaysAlone_neverGetAHealthyMemberDeclaredDead() {
        var total = SimulatedCluster.FaultStatistics()
        var falsePositives = 0
        for seed in SimulationTests.seeds {
            var random = SplitMix64(seed: seed ^ 0x3C3C)
            var sim = SimulatedCluster(seed: seed)
            let count = Int.random(in: 3...7, using: &random)
            guard SimulationTests.formCluster(&sim, count: count, random: &random) else {
                SimulationTests.fail(sim, "\(count) nodes did not agree on membership within \(SimulationTests.formBound)")
                continue
            }
            // Up to 1.5 × the probe timeout one way: most round trips miss the direct timeout.
            let timeoutMs = sim.settings.probeTimeout.nanoseconds / 1_000_000
            sim.network = .init(delayMin: .milliseconds(1),
                                delayMax: .milliseconds(Int64.random(in: (timeoutMs * 3 / 5)...(timeoutMs * 3 / 2), using: &random)))
            sim.run(for: .seconds(120))
            falsePositives += sim.falseDeaths.count
            if !sim.falseDeaths.isEmpty { SimulationTests.fail(sim, "healthy members declared dead: \(sim.falseDeaths)") }
            SimulationTests.checkCores(sim)
            total.add(sim.statistics)
        }
        SimulationTests.report("delay", total, seeds: SimulationTests.seeds.count, extra: "false positives \(falsePositives)")
    }

    @Test func gracefulLeave_isSeenByAll_withoutSuspicion() {
        for seed in SimulationTests.seeds.prefix(20) {
            var random = SplitMix64(seed: seed ^ 0x7171)
            var sim = SimulatedCluster(seed: seed)
            guard SimulationTests.formCluster(&sim, count: 4, random: &random) else {
                SimulationTests.fail(sim, "4 nodes did not form")
                continue
            }
            let leaver = sim.names.randomElement(using: &random)!
            sim.leave(leaver)
            let seen = sim.run(until: .seconds(2)) { sim in
                sim.runningNames.filter { $0 != leaver }.allSatisfy { name in
                    sim.instance(name)?.members.first { $0.member.name == leaver }?.status == .left
                }
            }
            if seen == nil { SimulationTests.fail(sim, "\(leaver)'s leave was not seen by all within 2 s") }
            // Leaving is not decommissioning: the ring keeps the member.
            if !sim.rings().allSatisfy({ $0.members.contains(leaver) }) { SimulationTests.fail(sim, "leave changed the ring") }
            SimulationTests.checkCores(sim)
        }
    }

    @Test func ownershipChanges_reachEveryNode_andRestartsMoveNothing() {
        for seed in SimulationTests.seeds.prefix(20) {
            var random = SplitMix64(seed: seed ^ 0x1F1F)
            var sim = SimulatedCluster(seed: seed)
            sim.network.lossRate = 0.05
            guard SimulationTests.formCluster(&sim, count: 5, random: &random) else {
                SimulationTests.fail(sim, "5 nodes did not form")
                continue
            }
            let formed = sim.rings()
            guard Set(formed.map(\.epoch)).count == 1, formed.first?.members.count == 5 else {
                SimulationTests.fail(sim, "rings after forming: \(formed.map { "\($0.epoch) \($0.members)" })")
                continue
            }
            let restarted = sim.names.randomElement(using: &random)!
            sim.crash(restarted)
            sim.run(for: .seconds(5))
            sim.start(restarted, seeds: [sim.names.first { $0 != restarted }!])
            _ = sim.run(until: .seconds(30)) { $0.liveViewsAgree() }
            if sim.rings() != formed { SimulationTests.fail(sim, "a restart changed the ring") }

            // The membership core refuses to drop a member it holds alive, and a name that holds
            // no ranges; the operator removes a member once it is seen dead.
            let removed = sim.names.filter { $0 != restarted }.randomElement(using: &random)!
            let operatorNode = sim.names.filter { $0 != removed }.randomElement(using: &random)!
            if sim.remove(removed, by: operatorNode) != .alive(removed) { SimulationTests.fail(sim, "removing \(removed), alive, was not refused") }
            if sim.remove("node-unknown", by: operatorNode) != .holdsNoRanges("node-unknown") {
                SimulationTests.fail(sim, "removing a name that holds no ranges was not refused")
            }
            sim.crash(removed)
            let generation = sim.generation(of: removed)
            guard sim.run(until: .seconds(30), { $0.isSeenDeadByAll(removed, generation: generation) }) != nil else {
                SimulationTests.fail(sim, "\(removed) was not seen dead")
                continue
            }
            if let refusal = sim.remove(removed, by: operatorNode) { SimulationTests.fail(sim, "removing \(removed), dead, was refused: \(refusal)") }
            let agreed = sim.run(until: .seconds(20)) { sim in
                let rings = sim.rings()
                return rings.allSatisfy { $0 == rings[0] && !$0.members.contains(removed) && $0.members.count == 4 }
            }
            if agreed == nil { SimulationTests.fail(sim, "the removal of \(removed) did not reach every node") }
            SimulationTests.checkCores(sim)
        }
    }
}
