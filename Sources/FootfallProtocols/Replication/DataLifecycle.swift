extension Replication {
    /// Whether a node's own copy of its sites may answer reads, from its start on: a node that was
    /// away past the hint window, came back with an empty folder, or was told it missed writes no
    /// hint holds must first be repaired by anti-entropy. The shell persists what this returns
    /// before it acts on the new phase (the phase is read back at the next start), and asks
    /// `readRoute` where a read goes.
    public struct DataLifecycle: Sendable, Equatable {
        public enum Phase: Sendable, Equatable {
            /// The node's copy holds every acknowledged write it is a replica for, as far as it knows.
            case serving
            /// The node's copy is known to lack writes: its reads go to other replicas until a
            /// repair pass has compared everything.
            case repairing
        }

        /// What the shell carries out, in order.
        public enum Effect: Sendable, Equatable {
            /// Delete every raw event and erasure record, and the hints and gaps held for others:
            /// what the node held may have been erased elsewhere long ago (before anything reads it).
            case wipeRawData
            /// Persist "repair before serving reads" durably (before the message that caused it is
            /// acknowledged).
            case persistRepairNeeded
            /// Clear the persisted flag: the node serves reads again.
            case clearRepairNeeded
        }

        /// What a repair pass must remember from its start: it repairs the node only if no writes
        /// were reported missed after it began, and only if it compared up to the present.
        public struct PassTicket: Sendable, Equatable {
            fileprivate let gapsReported: UInt64
            /// Whether the pass compares up to now rather than leaving out the last moments
            /// still settling (a background pass of a serving node leaves them out).
            public let comparesUpToNow: Bool
        }

        public private(set) var phase: Phase
        /// Missed writes reported so far in this process (each `onRepairNeeded`).
        private var gapsReported: UInt64 = 0
        /// Whether the repairing phase is on disk: false after its persist failed, so the next
        /// report asks for it again rather than being acknowledged with nothing persisted.
        private var repairPersisted = true

        /// The phase at start, from what the folder held: whether repair was pending, when the
        /// node last ran (nil for a folder that never ran one, or lost its disk), and whether it
        /// starts into a cluster (with seeds); a node with no stamp that starts alone founds a
        /// cluster and has nothing to miss.
        public static func onStart(repairPending: Bool, lastAliveMs: Int64?, joinsCluster: Bool, nowMs: Int64,
                                   hintWindowMs: Int64, horizonMs: Int64) -> (DataLifecycle, [Effect]) {
            // A clock that stepped back makes a negative absence: not away at all. Overflow-safe,
            // as the stamp is read from disk.
            let awayMs = lastAliveMs.map { nowMs.subtractingReportingOverflow($0) }.map { $0.overflow ? Int64.max : max(0, $0.partialValue) }
            var effects = [Effect]()
            if let awayMs, awayMs > horizonMs { effects.append(.wipeRawData) }
            let missedWrites = awayMs.map { $0 > hintWindowMs } ?? joinsCluster
            if missedWrites, !repairPending { effects.append(.persistRepairNeeded) }
            return (DataLifecycle(phase: missedWrites || repairPending ? .repairing : .serving), effects)
        }

        init(phase: Phase) { self.phase = phase }

        /// A coordinator reports writes this node missed that no hint holds.
        public mutating func onRepairNeeded() -> [Effect] {
            gapsReported &+= 1
            guard phase == .serving || !repairPersisted else { return [] }
            phase = .repairing
            repairPersisted = true
            return [.persistRepairNeeded]
        }

        /// The shell could not carry out `effect`. The node stays repairing whatever happened
        /// (its reads go elsewhere); an unpersisted flag is asked for again at the next report.
        /// A flag that could not be cleared stays on disk, and the next start repairs again.
        public mutating func onPersistFailed(_ effect: Effect) {
            if effect == .persistRepairNeeded { repairPersisted = false }
        }

        /// A repair pass begins. It compares up to now when the node is repairing or an operator
        /// asked for it; a background pass of a serving node leaves out what is still settling.
        public func onPassStarted(byOperator: Bool) -> PassTicket {
            PassTicket(gapsReported: gapsReported, comparesUpToNow: byOperator || phase == .repairing)
        }

        /// How much of the cluster a finished pass compared.
        public struct PassCoverage: Sendable, Equatable {
            /// Every site this node replicates, not an operator's chosen few.
            public var everySite: Bool
            /// Each site with every other replica of it.
            public var everyReplica: Bool
            /// The node knew the cluster's sites: a node that joins through seeds (a lost disk, a
            /// long absence) knows them only once system data has synced from a peer, unless it
            /// founds the cluster alone.
            public var knewTheSites: Bool

            public init(everySite: Bool, everyReplica: Bool, knewTheSites: Bool) {
                self.everySite = everySite
                self.everyReplica = everyReplica
                self.knewTheSites = knewTheSites
            }
        }

        /// A pass ended. It repairs the node only when it compared everything (`coverage`) up to
        /// now, and no missed writes were reported after it began: they may be in a site it had
        /// already compared.
        public mutating func onPassFinished(_ ticket: PassTicket, coverage: PassCoverage) -> [Effect] {
            guard phase == .repairing, coverage.everySite, coverage.everyReplica, coverage.knewTheSites,
                  ticket.comparesUpToNow, ticket.gapsReported == gapsReported else { return [] }
            phase = .serving
            // A flag that never reached the disk is not asked for again: the node is repaired.
            repairPersisted = true
            return [.clearRepairNeeded]
        }

        /// What is inconsistent in this state, or nil; the replication simulation asks after
        /// every input.
        public var invariantViolation: String? {
            phase == .serving && !repairPersisted ? "serving, with a repair flag still waiting to be persisted" : nil
        }

        /// Where a read is answered: here when this node is one of the site's `replicas` and is
        /// serving; otherwise by the live replicas, in preference order. A repairing node answers
        /// from its own copy only when it is the site's only replica (there is nothing to repair
        /// from): with other replicas, none of them live, the read is refused, as its copy is
        /// known to lack events (right after a restart it holds no peer alive yet, and it answered
        /// from a half-repaired copy; chaos scenario disk-loss-restart).
        public func readRoute(replicas: [String], myself: String, alive: Set<String>) -> (local: Bool, remote: [String]) {
            let remote = replicas.filter { $0 != myself && alive.contains($0) }
            let here = replicas.contains(myself)
            return (here && (phase == .serving || replicas == [myself]), remote)
        }
    }
}
