import FootfallModel

extension Replication.AntiEntropy {
    /// One node's repair pass: which sites it compares with which other replicas, over which
    /// window, and whether it covered enough to repair the node (`DataLifecycle.onPassFinished`).
    /// A node's `AntiEntropyRunner` and the replication simulation run their passes through it.
    public struct Pass: Sendable {
        public let ticket: Replication.DataLifecycle.PassTicket
        /// Writes younger than this are still arriving: a pass that does not compare up to now
        /// leaves them out, so they are not mistaken for gaps.
        public let settleMs: Int64
        /// Every site the node replicates, not an operator's chosen few.
        private let everySite: Bool
        /// Other replicas some site could not be compared with to the end (down, unreachable, a
        /// session that failed part way).
        public private(set) var missed = Set<String>()

        public init(ticket: Replication.DataLifecycle.PassTicket, settleMs: Int64, everySite: Bool) {
            self.ticket = ticket
            self.settleMs = settleMs
            self.everySite = everySite
        }

        /// The other replicas `myself` compares `site` with: none when it is not a replica.
        public static func peers(of site: SiteID, ring: Ring, replicationFactor: Int, myself: String) -> [String] {
            let replicas = ring.preferenceList(for: site, replicationFactor: replicationFactor)
            return replicas.contains(myself) ? replicas.filter { $0 != myself } : []
        }

        /// What of `site` is compared when its turn comes at `nowMs`: from its retention cutoff to
        /// the present (a repairing node, an operator's pass), or to `settleMs` before it.
        /// Overflow-safe: the cutoff and the clock are the node's own, the margin a setting.
        public func window(of site: SiteID, cutoffMs: Int64, nowMs: Int64) -> Window {
            Window(site: site, fromMs: cutoffMs, untilMs: ticket.comparesUpToNow ? nowMs &+ 1 : nowMs &- settleMs)
        }

        /// A site could not be compared with `peer` to the end.
        public mutating func onMissed(_ peer: String) { missed.insert(peer) }

        /// What the pass covered, for `DataLifecycle.onPassFinished`.
        public func coverage(knewTheSites: Bool) -> Replication.DataLifecycle.PassCoverage {
            .init(everySite: everySite, everyReplica: missed.isEmpty, knewTheSites: knewTheSites)
        }
    }
}
