import FootfallModel
import FootfallProtocols
import FootfallStorage
import Foundation
import Testing

/// Whole-cluster replication runs over many seeds: quorum writes, reads, CRM edits, hints,
/// anti-entropy and erasure under overlapping crashes, disk loss, partitions, loss and duplication, checked against the
/// client's own log. Runs `FOOTFALL_REPLICATION_SEEDS` seeds, or `FOOTFALL_SIM_SEEDS / 10` (20 in
/// `make test`; `make simulate` runs 10,000 on a release build), on every core;
/// `FOOTFALL_SIM_SEED=S` replays one. A failure names its seed.
@Suite struct ReplicationSimulationTests {
    static var seeds: [UInt64] {
        let environment = ProcessInfo.processInfo.environment
        if let one = environment["FOOTFALL_SIM_SEED"].flatMap(UInt64.init) { return [one] }
        // A replication run costs about ten membership runs, so it takes a tenth of their seeds
        // unless told otherwise.
        let count = environment["FOOTFALL_REPLICATION_SEEDS"].flatMap(Int.init)
            ?? (environment["FOOTFALL_SIM_SEEDS"].flatMap(Int.init) ?? 200) / 10
        return (1...UInt64(max(1, count))).map { $0 }
    }

    static func settings() -> Replication.Settings {
        var settings = Replication.Settings()
        settings.writeTimeoutMs = 1_000
        // Small enough that long outages overflow or outlive hints: the gap path is exercised too.
        settings.hintWindowMs = 20_000
        settings.hintCapacityEvents = 400
        return settings
    }

    /// Every seed's run (`run(seed:)`) checked against the client's log.
    @Test func acknowledgedEventsSurvive_replicasConverge_erasedNeverReturns_rollupsMatch() async throws {
        // Each seed run and checked on a core of its own; only what the report sums comes back.
        let outcomes = try await SeedRunner.outcomes(of: ReplicationSimulationTests.seeds) { seed in
            let sim = try ReplicationSimulationTests.run(seed: seed)
            try ReplicationSimulationTests.check(sim)
            return (statistics: sim.statistics, trace: sim.traceHash)
        }
        var total = ReplicatedCluster.Statistics()
        var traces = TraceHash()
        for outcome in outcomes {
            total.add(outcome.statistics)
            traces.add(outcome.trace)
        }
        print("simulation replication: \(ReplicationSimulationTests.seeds.count) seeds; \(total); trace hash \(traces)")
    }

    /// A node repairing after a lost disk loses many of the replication messages sent to it while
    /// its passes run, and hint stores are so small that what it misses becomes gaps: notices of
    /// missed writes arrive while its passes run, and writes it missed moments ago lie in each
    /// site's newest seconds. Reads through every node check that it answers none until a pass
    /// that began after the last notice compared every site up to the present — the two rules of
    /// `DataLifecycle.onPassFinished` the random faults of `run(seed:)` do not reach.
    @Test func aRepairingNodeThatKeepsMissingWrites_answersReadsOnlyOnceRepaired() async throws {
        // One fault aimed at two rules: up to a thousand seeds (make simulate's 10,000 would double
        // its time for no new ground).
        let seeds = Array(ReplicationSimulationTests.seeds.prefix(1_000))
        let outcomes = try await SeedRunner.outcomes(of: seeds) { seed in
            let sim = try ReplicationSimulationTests.runLossyRepair(seed: seed)
            try ReplicationSimulationTests.check(sim)
            return sim.statistics
        }
        var total = ReplicatedCluster.Statistics()
        for statistics in outcomes { total.add(statistics) }
        print("simulation repair on a lossy link: \(seeds.count) seeds; \(total)")
        // The fault took effect: passes ended with the node still repairing, as gaps came in.
        #expect(total.passesOutrunByGaps > 0, "no repair pass saw missed writes reported while it ran")
    }

    static func runLossyRepair(seed: UInt64) throws -> ReplicatedCluster {
        var random = SplitMix64(seed: seed ^ 0x1055)
        var settings = ReplicationSimulationTests.settings()
        // A handful of events per coordinator: what the lossy node misses overflows into gaps.
        settings.hintCapacityEvents = 4
        var sim = ReplicatedCluster(seed: seed, nodeCount: 5, siteCount: 8, settings: settings)
        func traffic(for duration: Duration, readsPerWrite: Int) {
            let end = sim.now + duration
            while sim.now < end {
                sim.clientWrite(count: Int.random(in: 1...3, using: &random))
                sim.run(for: .milliseconds(Int64.random(in: 20...80, using: &random)))
                for _ in 0..<readsPerWrite { sim.clientRead() }
            }
        }
        sim.run(for: .seconds(2))
        traffic(for: .seconds(5), readsPerWrite: 1)
        let name = sim.names.randomElement(using: &random)!
        sim.wipe(name)
        traffic(for: .milliseconds(Int64.random(in: 500...3_000, using: &random)), readsPerWrite: 1)
        sim.start(name)
        sim.loseMessages(toward: name, rate: Double.random(in: 0.2...0.6, using: &random))
        traffic(for: .milliseconds(Int64.random(in: 3_000...10_000, using: &random)), readsPerWrite: 3)
        sim.heal()
        traffic(for: .seconds(10), readsPerWrite: 3)
        sim.run(for: .seconds(15))
        sim.repairedAtTheEnd = sim.runUntilRepaired(limit: .seconds(60))
        return sim
    }

    /// A seed replays: run twice, it leaves the same trace (and another seed a different one, so
    /// the hash does tell runs apart).
    @Test func oneSeedRunTwice_leavesTheSameTrace() async throws {
        let seed = ReplicationSimulationTests.seeds[0]
        let traces = try await SeedRunner.outcomes(of: [seed, seed, seed + 1]) { try ReplicationSimulationTests.run(seed: $0).traceHash }
        let (first, again, other) = (traces[0], traces[1], traces[2])
        #expect(first == again, "seed \(seed) left trace \(first), then \(again)")
        #expect(first != other, "seeds \(seed) and \(seed + 1) left the same trace \(first)")
    }

    /// Faults that overlap: up to two nodes away at once (crashed, cut off, crashed with its disk
    /// lost, or running with a disk that refuses writes), so some sites have two of their three replicas away, their writes and erasures
    /// fail and the client sends them again; a disk is lost only once no earlier loss still
    /// waits for repair (two lost disks of one quorum lose data under any protocol). Background
    /// loss and duplication; writes every 50–250 ms and an erasure every few seconds throughout;
    /// each node's repair passes in the background, their sessions' steps through the same
    /// network; then healing: every node back, the client's retries finish, hints drain, and
    /// every node completes a pass that began once the last write had settled.
    static func run(seed: UInt64) throws -> ReplicatedCluster {
        var random = SplitMix64(seed: seed ^ 0x5EED)
        var sim = ReplicatedCluster(seed: seed, nodeCount: 5, siteCount: 8, settings: ReplicationSimulationTests.settings())
        sim.network.lossRate = Double.random(in: 0...0.05, using: &random)
        sim.network.duplicateRate = Double.random(in: 0...0.05, using: &random)
        sim.run(for: .seconds(2))

        // Faults: 60 simulated seconds.
        var nextFault = sim.now + .seconds(3)
        var returns: [String: MonotonicTime] = [:]
        var nextErasure = sim.now + .seconds(2)
        let end = sim.now + .seconds(60)
        while sim.now < end {
            sim.clientWrite(count: Int.random(in: 1...4, using: &random))
            sim.run(for: .milliseconds(Int64.random(in: 50...250, using: &random)))
            if Int.random(in: 0..<10, using: &random) == 0 { sim.clientEdit() }
            sim.clientRead()
            if sim.now >= nextErasure {
                sim.clientErase()
                nextErasure = sim.now + .milliseconds(Int64.random(in: 2_000...6_000, using: &random))
            }
            for (name, at) in returns.sorted(by: { $0.key < $1.key }) where sim.now >= at {
                sim.heal(name)
                sim.start(name)
                returns[name] = nil
            }
            if returns.count < 2, sim.now >= nextFault {
                let name = sim.names.filter { returns[$0] == nil }.randomElement(using: &random)!
                let kind = Int.random(in: 0..<10, using: &random)
                if kind < 5 {
                    sim.crash(name)
                } else if kind < 7, sim.mayWipe {
                    sim.wipe(name)
                } else if kind < 9 {
                    sim.isolate(name)
                } else {
                    sim.failDisk(name)
                }
                if !returns.isEmpty { sim.noteOverlap() }
                // Some outages outlast the hint window.
                returns[name] = sim.now + .milliseconds(Int64.random(in: 1_000...25_000, using: &random))
                nextFault = sim.now + .milliseconds(Int64.random(in: 2_000...8_000, using: &random))
            }
        }

        sim.heal()
        for name in sim.names { sim.start(name) }
        sim.run(for: .seconds(15))
        sim.repairedAtTheEnd = sim.runUntilRepaired(limit: .seconds(60))
        return sim
    }

    static func check(_ sim: ReplicatedCluster) throws {
        func fail(_ what: String, sourceLocation: SourceLocation = #_sourceLocation) {
            Issue.record("seed \(sim.seed): \(what) — replay with FOOTFALL_SIM_SEED=\(sim.seed)\n\(sim.recentTrace())",
                         sourceLocation: sourceLocation)
        }
        for violation in sim.violations.prefix(3) { fail(violation) }
        if !sim.repairedAtTheEnd { fail("a node never completed a repair pass within a minute of healing") }
        // Every coordinator's hints and gap marks are on its disk: what a refusing disk did not
        // take was written again once it healed.
        for name in sim.runningNames {
            let node = sim.nodes[name]!
            if node.disk.hints != node.coordinator!.hints || node.disk.gaps != node.coordinator!.gaps {
                fail("\(name) holds \(node.coordinator!.hints.count) hints and gaps \(node.coordinator!.gaps.sorted()), "
                     + "its disk \(node.disk.hints.count) and \(node.disk.gaps.sorted())")
            }
        }
        // Every node serves its own reads again: the last pass repaired whoever still waited.
        for name in sim.runningNames where sim.nodes[name]!.lifecycle!.phase != .serving {
            fail("\(name) still sends its reads elsewhere after healing and a complete repair pass")
        }
        if sim.unfinishedWrites > 0 { fail("\(sim.unfinishedWrites) client writes never succeeded after healing") }
        if sim.unfinishedErasures > 0 { fail("\(sim.unfinishedErasures) client erasures never succeeded after healing") }
        let erased = { (event: Event) in sim.erasures.contains { $0.covers(event) } }
        for site in sim.sites {
            let replicas = sim.replicas(of: site)
            let held = try replicas.map { try sim.storedIDs($0, site: site) }
            // Convergence: every replica holds the same events.
            if Set(held).count != 1 { fail("replicas of \(site) differ: \(zip(replicas, held.map(\.count)).map { "\($0) \($1)" })") }
            for (replica, ids) in zip(replicas, held) {
                // Lost: an acknowledged event that no erasure covers is on every replica.
                let lost = sim.acknowledged.values.filter { $0.site == site && !erased($0) && !ids.contains($0.id) }
                if !lost.isEmpty { fail("\(lost.count) acknowledged events of \(site) missing on \(replica)") }
                // Nothing appears that the client never sent; nothing erased is stored.
                for id in ids {
                    guard let event = sim.sent[id] else {
                        fail("\(replica) holds an event of \(site) that was never sent")
                        break
                    }
                    if erased(event) { fail("\(replica) holds an erased visitor's event \(id) of \(site)") }
                }
                // Rollups: page counts (one path per visitor) equal a recount of the client's
                // acknowledged events, for visitors never erased (rollups keep counting erased
                // visitors' events that a replica applied before the erasure reached it).
                let store = sim.nodes[replica]!.store
                let cells = try store.dayTotals(site: site, metric: .page, days: ReplicatedCluster.span.days)
                var expected = [String: Int64]()
                for event in sim.acknowledged.values where event.site == site {
                    expected[event.path, default: 0] += 1
                }
                for (path, count) in expected where !sim.erasures.contains(where: { $0.site == site && ReplicatedCluster.path(of: $0.visitor) == path }) {
                    if cells[path]?.count != count {
                        fail("\(replica) counts \(cells[path]?.count ?? 0) pageviews of \(site)\(path), the client's log \(count)")
                    }
                }
                // Reads are fenced, and the erasure record is on every replica.
                for order in sim.erasures where order.site == site {
                    guard let record = try store.erasureRecord(site: site, visitor: order.visitor), record.erasedAtMs >= order.fenceMs else {
                        fail("\(replica) lacks erasure \(order.requestID)")
                        continue
                    }
                }
                var visible = 0
                try store.events(site: site, in: ReplicatedCluster.span, nowMs: sim.wallMs, retention: .default) { event in
                    if erased(event) { visible += 1 }
                    return true
                }
                if visible > 0 { fail("\(replica) returns \(visible) erased events of \(site) on reads") }
                // CRM: every acknowledged note that no erasure covers is in the replica's record.
                for edit in sim.acknowledgedEdits where edit.site == site && !sim.erasures.contains(where: { $0.covers(edit) }) {
                    guard case .addNote(let id, _) = edit.change else { continue }
                    if try store.visitorRecord(site: site, visitor: edit.visitor)?.notes.contains(where: { $0.id == id }) != true {
                        fail("\(replica) lacks acknowledged note \(id) of visitor \(edit.visitor) of \(site)")
                    }
                }
            }
            // CRM: every replica ends with the same notes and tags.
            let crm = try replicas.map { try sim.nodes[$0]!.store.visitorEditDigests(site: site) }
            if Set(crm).count != 1 { fail("CRM records of \(site) differ between replicas \(replicas)") }
        }
    }
}
