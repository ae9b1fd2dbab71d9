import FootfallModel
import FootfallProtocols
import Foundation
import Testing

/// System records spread by pushes (lost at random) and periodic syncs between random pairs
/// (whose last push is lost at random too), among nodes whose clocks are up to a minute apart,
/// through `SystemRecordMerge`: the rules each node's `SystemStore` follows. After the faults,
/// syncs without loss must bring every node to the same records: each plain key at the latest
/// write of it, each revocation at the latest time any operator revoked at (a certificate revoked
/// anywhere is revoked everywhere). `FOOTFALL_SIM_SEEDS` seeds (200 in `make test`);
/// `FOOTFALL_SIM_SEED=S` replays one.
@Suite struct SystemRecordMergeSimulationTests {
    static var seeds: [UInt64] {
        let environment = ProcessInfo.processInfo.environment
        if let one = environment["FOOTFALL_SIM_SEED"].flatMap(UInt64.init) { return [one] }
        return (1...UInt64(max(1, environment["FOOTFALL_SIM_SEEDS"].flatMap(Int.init) ?? 200))).map { $0 }
    }

    /// A record as one node holds it: what the merge reads, and what was written.
    struct Held: Equatable {
        var record: SystemRecordMerge.Record
        var deleted = false
        /// The value written (a revocation's is its time).
        var value: Int64
    }

    struct Node {
        let name: String
        /// How far this node's wall clock is from the true time.
        let offsetMs: Int64
        var clock = HybridLogicalClock()
        var held: [String: Held] = [:]

        func wallMs(at trueMs: Int64) -> Int64 { trueMs + offsetMs }

        /// Merges a batch from a peer as `SystemStore.merge` does: the clock takes every stamp in,
        /// then each key resolves against what is held.
        mutating func merge(_ batch: [(key: String, held: Held)], at trueMs: Int64) {
            let now = wallMs(at: trueMs)
            for item in batch { clock.observe(item.held.record.version.hlc, wallMs: now) }
            for (key, items) in Dictionary(grouping: batch, by: \.key) {
                let incoming = items.map(\.held)
                let resolution = SystemRecordMerge.resolve(held: held[key]?.record, incoming: incoming.map(\.record)) {
                    SystemRecordMerge.Version(hlc: clock.now(wallMs: now), origin: name)
                }
                switch resolution {
                case .keepHeld: break
                case .take(let index): held[key] = incoming[index]
                case .joined(let revokedMs, let version):
                    held[key] = Held(record: .init(version: version, revokedMs: revokedMs), value: revokedMs)
                }
            }
        }

        var versions: [String: SystemRecordMerge.Version] { held.mapValues(\.record.version) }
    }

    /// Every write any node made: what each key must end at.
    struct Ledger {
        var latestWrite: [String: (version: SystemRecordMerge.Version, held: Held)] = [:]
        var latestRevocation: [String: Int64] = [:]
    }

    static let plainKeys = ["site:a", "site:b", "token:c"]
    static let revocationKeys = ["revoked-node:node-9", "revoked-operator:ops"]

    struct Run {
        var nodes: [Node]
        var ledger = Ledger()
        var random: SplitMix64
        var trueMs: Int64 = 1_780_000_000_000

        init(seed: UInt64) {
            random = SplitMix64(seed: seed)
            let count = 3 + Int(seed % 3)
            var nodes = [Node]()
            for index in 0..<count {
                nodes.append(Node(name: "node-\(index + 1)", offsetMs: Int64.random(in: -59_000...59_000, using: &random)))
            }
            self.nodes = nodes
        }

        /// A local change at `node`, pushed to each other node unless the push is lost.
        mutating func write(at node: Int) {
            let now = nodes[node].wallMs(at: trueMs)
            let revocation = Bool.random(using: &random)
            let key = (revocation ? SystemRecordMergeSimulationTests.revocationKeys : SystemRecordMergeSimulationTests.plainKeys)
                .randomElement(using: &random)!
            let version = SystemRecordMerge.Version(hlc: nodes[node].clock.now(wallMs: now), origin: nodes[node].name)
            let written: Held
            if revocation {
                let revokedMs = SystemRecordMerge.revokedMs(at: now, held: nodes[node].held[key]?.record)
                written = Held(record: .init(version: version, revokedMs: revokedMs), value: revokedMs)
                ledger.latestRevocation[key] = max(ledger.latestRevocation[key] ?? .min, revokedMs)
            } else {
                written = Held(record: .init(version: version), deleted: random.next() % 5 == 0, value: Int64(random.next() % 1000))
            }
            nodes[node].held[key] = written
            if ledger.latestWrite[key].map({ version > $0.version }) ?? true { ledger.latestWrite[key] = (version, written) }
            for peer in nodes.indices where peer != node && Bool.random(using: &random) {
                nodes[peer].merge([(key, written)], at: trueMs)
            }
        }

        /// `SystemReplicator.syncOnce`: the caller sends its index, merges what the peer holds
        /// newer, and pushes what the peer wanted (a push that may be lost).
        mutating func sync(_ caller: Int, with peer: Int, lossy: Bool) {
            let (newer, wanted) = SystemRecordMerge.compare(mine: nodes[peer].versions, theirs: nodes[caller].versions)
            let sent: [(key: String, held: Held)] = newer.map { ($0, nodes[peer].held[$0]!) }
            nodes[caller].merge(sent, at: trueMs)
            guard !lossy || random.next() % 5 != 0 else { return }
            let pushed: [(key: String, held: Held)] = wanted.compactMap { key in nodes[caller].held[key].map { (key, $0) } }
            nodes[peer].merge(pushed, at: trueMs)
        }

        mutating func faultyPhase(steps: Int) {
            for _ in 0..<steps {
                trueMs += Int64(random.next() % 2_000)
                switch random.next() % 10 {
                case 0..<4: write(at: Int.random(in: nodes.indices, using: &random))
                case 4..<7:
                    let caller = Int.random(in: nodes.indices, using: &random)
                    let peer = (caller + 1 + Int.random(in: 0..<(nodes.count - 1), using: &random)) % nodes.count
                    sync(caller, with: peer, lossy: true)
                default: break
                }
            }
        }

        /// Syncs every ordered pair without loss until a round changes nothing; the rounds it took,
        /// or nil if it never settled within `maxRounds`.
        mutating func settle(maxRounds: Int) -> Int? {
            for round in 1...maxRounds {
                let before = nodes.map(\.held)
                for caller in nodes.indices {
                    for peer in nodes.indices where peer != caller {
                        trueMs += 100
                        sync(caller, with: peer, lossy: false)
                    }
                }
                if nodes.map(\.held) == before { return round }
            }
            return nil
        }
    }

    @Test func everyNodeEndsWithTheLatestWrite_andEveryRevocationAtItsLatestTime() async throws {
        for seed in SystemRecordMergeSimulationTests.seeds {
            var run = Run(seed: seed)
            run.faultyPhase(steps: 300)
            let rounds = run.settle(maxRounds: 10)
            #expect(rounds != nil, "seed \(seed): syncs without loss never settled")
            let first = run.nodes[0].held
            for node in run.nodes.dropFirst() where node.held != first {
                let differing = Set(first.keys).union(node.held.keys).filter { first[$0] != node.held[$0] }.sorted()
                Issue.record("seed \(seed): \(node.name) differs from node-1 on \(differing)")
            }
            for (key, latest) in run.ledger.latestWrite where !SystemRecordMergeSimulationTests.revocationKeys.contains(key) {
                #expect(first[key] == latest.held, "seed \(seed): \(key) ends at its latest write")
            }
            for (key, latest) in run.ledger.latestRevocation {
                #expect(first[key]?.record.revokedMs == latest, "seed \(seed): \(key) ends at its latest revocation time")
            }
        }
    }
}
