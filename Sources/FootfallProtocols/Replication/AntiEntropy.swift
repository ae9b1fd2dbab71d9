import FootfallModel

/// One replica of a site as anti-entropy sees it: the node's own store, or a peer over the wire.
public protocol RepairReplica: Sendable {
    var name: String { get }
    /// Answers a repair session's question (`Replication.AntiEntropy.Query` says what each
    /// asks) with the answer of the same case.
    func answer(_ query: Replication.AntiEntropy.Query) async throws -> Replication.AntiEntropy.Answer
    /// Applies what the other replica had, idempotently, through the same rules as any write
    /// (erasure fence, retention cutoff, duplicates).
    func apply(_ payload: Replication.Payload) async throws
    /// The `AntiEntropy.SiteSummary` of each window, in order; nil when this replica cannot
    /// summarise (a peer of an earlier version): its sites are then compared whole.
    func summaries(_ windows: [Replication.AntiEntropy.Window]) async throws -> [UInt64]?
}

extension RepairReplica {
    /// The per-day slice digests of a window's events (a read repair compares their roots before
    /// it runs any session).
    public func digests(of window: Replication.AntiEntropy.Window) async throws -> [Day: [EventSetDigest]] {
        guard case .digests(let tree) = try await answer(.digests(window)) else { throw Replication.AntiEntropy.UnexpectedAnswer() }
        return tree
    }
}

extension Replication {
    /// Replicas of a site compare a digest tree — site root, then (site, day), then 16 slices of
    /// each day — and exchange only the slices that differ: erasure records first, so a fence is in
    /// place before any event streams, then the events each side lacks, in both directions, then
    /// the CRM records whose owner edits differ (each side sends the edits that rebuild its record;
    /// edits merge in any order, so both end alike).
    ///
    /// Both sides compare the same window: from the site's retention cutoff (so repair never
    /// streams back an expired event) to `settleMs` before the session's time (writes still in
    /// flight are not mistaken for gaps).
    public enum AntiEntropy {
        /// Events per `events`/`apply` exchange.
        public static let streamBatch = 500
        /// Visitors per `rebuildingEdits` exchange.
        public static let visitorBatch = 200
        public struct Outcome: Hashable, Sendable {
            public var slicesCompared = 0
            public var slicesDiffering = 0
            public var eventsPulled = 0
            public var eventsPushed = 0
            public var erasuresPulled = 0
            public var erasuresPushed = 0
            /// CRM records whose owner edits differed between the two replicas.
            public var visitorRecordsRepaired = 0

            public init() {}

            public mutating func add(_ other: Outcome) {
                slicesCompared += other.slicesCompared
                slicesDiffering += other.slicesDiffering
                eventsPulled += other.eventsPulled
                eventsPushed += other.eventsPushed
                erasuresPulled += other.erasuresPulled
                erasuresPushed += other.erasuresPushed
                visitorRecordsRepaired += other.visitorRecordsRepaired
            }

            public var transferred: Int { eventsPulled + eventsPushed + erasuresPulled + erasuresPushed + visitorRecordsRepaired }
        }

        /// Makes `local` and `remote` hold the same erasures, events of `site` in [fromMs, untilMs)
        /// and CRM records: drives a `Session` with the two replicas, one step at a time.
        public static func repair(site: SiteID, fromMs: Int64, untilMs: Int64,
                                  local: some RepairReplica, remote: some RepairReplica) async throws -> Outcome {
            var session = Session(window: Window(site: site, fromMs: fromMs, untilMs: untilMs), local: local.name, remote: remote.name)
            var step = session.start()
            while true {
                switch step {
                case .finished(let outcome):
                    return outcome
                case .ask(let side, let query):
                    let answer = side == .local ? try await local.answer(query) : try await remote.answer(query)
                    step = try session.onAnswer(answer)
                case .apply(let side, let payload):
                    if side == .local { try await local.apply(payload) } else { try await remote.apply(payload) }
                    step = try session.onApplied()
                }
            }
        }

        /// The digest of a whole tree.
        public static func root(_ tree: [Day: [EventSetDigest]]) -> EventSetDigest {
            var root = EventSetDigest()
            for slices in tree.values { for slice in slices { root.absorb(slice) } }
            return root
        }

        public static func dayRoots(_ tree: [Day: [EventSetDigest]]) -> [Day: EventSetDigest] {
            tree.mapValues { slices in slices.reduce(into: EventSetDigest()) { $0.absorb($1) } }
        }

        /// Keys whose digests differ, a key one side lacks included, in order.
        public static func differing<Key: Hashable & Comparable>(_ a: [Key: EventSetDigest], _ b: [Key: EventSetDigest]) -> [Key] {
            Set(a.keys).union(b.keys).filter { a[$0] ?? EventSetDigest() != b[$0] ?? EventSetDigest() }.sorted()
        }

        /// What each side lacks, given both sides' sorted id lists.
        public static func missing(have: [EventID], other: [EventID]) -> (iLack: [EventID], otherLacks: [EventID]) {
            let mine = Set(have), theirs = Set(other)
            return (other.filter { !mine.contains($0) }, have.filter { !theirs.contains($0) })
        }

        /// The orders in `other` that supersede what `have` holds of their visitor.
        public static func erasuresToApply(have: [ErasureOrder], other: [ErasureOrder]) -> [ErasureOrder] {
            var held = [VisitorID: ErasureOrder]()
            for order in have where held[order.visitor].map({ order.supersedes($0) }) ?? true { held[order.visitor] = order }
            return other.filter { order in held[order.visitor].map { order.supersedes($0) } ?? true }
                .sorted { ($0.visitor.rawValue, $0.fenceMs) < ($1.visitor.rawValue, $1.fenceMs) }
        }
    }
}

