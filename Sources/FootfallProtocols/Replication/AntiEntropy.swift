import FootfallModel

/// One replica of a site as anti-entropy sees it: the node's own store, or a peer over the wire.
public protocol RepairReplica: Sendable {
    var name: String { get }
    func erasures(site: SiteID) async throws -> [Replication.ErasureOrder]
    /// Per-day slice digests of the ids in [fromMs, untilMs) (`EventStore.digests`).
    func digests(site: SiteID, fromMs: Int64, untilMs: Int64) async throws -> [Day: [EventSetDigest]]
    /// A page of the ids of `slices` of one day in [fromMs, untilMs), in id order: at most
    /// `limit` of those after `after` (nil: from the first), and whether more follow.
    func eventIDs(site: SiteID, day: Day, slices: [Int], after: EventID?, limit: Int,
                  fromMs: Int64, untilMs: Int64) async throws -> Replication.AntiEntropy.Page<EventID>
    func events(site: SiteID, ids: [EventID]) async throws -> [Event]
    /// A page of the digests of the visitors whose CRM record holds owner edits or given
    /// personal data (`VisitorEdit.digest` of the edits that rebuild it), in visitor order: at
    /// most `limit` after `after` (nil: from the first), and whether more follow.
    func visitorEditDigests(site: SiteID, after: VisitorID?, limit: Int) async throws -> Replication.AntiEntropy.Page<VisitorEditDigest>
    /// The edits that rebuild these visitors' CRM records.
    func rebuildingEdits(site: SiteID, visitors: [VisitorID]) async throws -> [VisitorEdit]
    /// Applies what the other replica had, idempotently, through the same rules as any write
    /// (erasure fence, retention cutoff, duplicates).
    func apply(_ payload: Replication.Payload) async throws
    /// The `AntiEntropy.SiteSummary` of each window, in order; nil when this replica cannot
    /// summarise (a peer of an earlier version): its sites are then compared whole.
    func summaries(_ windows: [Replication.AntiEntropy.Window]) async throws -> [UInt64]?
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
        /// and CRM records. CRM records go last: a failure there (a peer's reply too large, say)
        /// leaves the events repaired.
        public static func repair(site: SiteID, fromMs: Int64, untilMs: Int64,
                                  local: some RepairReplica, remote: some RepairReplica) async throws -> Outcome {
            var outcome = Outcome()
            let mine = try await local.erasures(site: site), theirs = try await remote.erasures(site: site)
            for order in erasuresToApply(have: mine, other: theirs) {
                try await local.apply(.erasure(order))
                outcome.erasuresPulled += 1
            }
            for order in erasuresToApply(have: theirs, other: mine) {
                try await remote.apply(.erasure(order))
                outcome.erasuresPushed += 1
            }
            if fromMs < untilMs {
                try await repairEvents(site: site, fromMs: fromMs, untilMs: untilMs, local: local, remote: remote, into: &outcome)
            }
            outcome.visitorRecordsRepaired = try await repairVisitorRecords(site: site, local: local, remote: remote)
            return outcome
        }

        private static func repairEvents(site: SiteID, fromMs: Int64, untilMs: Int64, local: some RepairReplica,
                                         remote: some RepairReplica, into outcome: inout Outcome) async throws {
            let localTree = try await local.digests(site: site, fromMs: fromMs, untilMs: untilMs)
            let remoteTree = try await remote.digests(site: site, fromMs: fromMs, untilMs: untilMs)
            if root(localTree) == root(remoteTree) { return }
            for day in differing(dayRoots(localTree), dayRoots(remoteTree)) {
                let empty = Array(repeating: EventSetDigest(), count: EventSetDigest.slicesPerDay)
                let a = localTree[day] ?? empty, b = remoteTree[day] ?? empty
                let slices = (0..<EventSetDigest.slicesPerDay).filter { a[$0] != b[$0] }
                outcome.slicesCompared += EventSetDigest.slicesPerDay
                outcome.slicesDiffering += slices.count
                // The differing slices of the day are listed together, a page at a time from each
                // side, and compared as far as both have listed: each side reads the day once (one
                // listing per slice read it sixteen times), and no more than two pages are held.
                var mine = Listing<EventID>(replica: local.name) { after in
                    try await local.eventIDs(site: site, day: day, slices: slices, after: after, limit: pageMax, fromMs: fromMs, untilMs: untilMs)
                }
                var theirs = Listing<EventID>(replica: remote.name) { after in
                    try await remote.eventIDs(site: site, day: day, slices: slices, after: after, limit: pageMax, fromMs: fromMs, untilMs: untilMs)
                }
                try await walk(&mine, &theirs) { have, other in
                    let (localLacks, remoteLacks) = missing(have: have, other: other)
                    outcome.eventsPulled += try await stream(site, localLacks, from: remote, to: local)
                    outcome.eventsPushed += try await stream(site, remoteLacks, from: local, to: remote)
                }
            }
        }

        /// CRM records are compared by a digest per visitor, listed in pages like a day's ids
        /// (a site with hundreds of thousands of identified visitors outgrew one message), and
        /// each side sends the edits that rebuild the records that differ or that the other
        /// lacks. Runs after erasures are exchanged: an edit an erasure covers is dropped by the
        /// replica's fence.
        private static func repairVisitorRecords(site: SiteID, local: some RepairReplica, remote: some RepairReplica) async throws -> Int {
            var mine = Listing<VisitorEditDigest>(replica: local.name) { try await local.visitorEditDigests(site: site, after: $0, limit: pageMax) }
            var theirs = Listing<VisitorEditDigest>(replica: remote.name) { try await remote.visitorEditDigests(site: site, after: $0, limit: pageMax) }
            var repaired = 0
            try await walk(&mine, &theirs) { have, other in
                let visitors = Set(Set(have).symmetricDifference(other).map(\.visitor)).sorted()
                for (source, sink) in [(remote as any RepairReplica, local as any RepairReplica), (local, remote)] {
                    var start = 0
                    while start < visitors.count {
                        let batch = Array(visitors[start..<min(visitors.count, start + visitorBatch)])
                        for edit in try await source.rebuildingEdits(site: site, visitors: batch) {
                            try await sink.apply(.visitorEdit(edit))
                        }
                        start += batch.count
                    }
                }
                repaired += visitors.count
            }
            return repaired
        }

        private static func stream(_ site: SiteID, _ ids: [EventID], from source: some RepairReplica,
                                   to sink: some RepairReplica) async throws -> Int {
            var moved = 0
            var start = 0
            while start < ids.count {
                let batch = Array(ids[start..<min(ids.count, start + streamBatch)])
                let events = try await source.events(site: site, ids: batch)
                if !events.isEmpty { try await sink.apply(.events(events)) }
                moved += events.count
                start += batch.count
            }
            return moved
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
