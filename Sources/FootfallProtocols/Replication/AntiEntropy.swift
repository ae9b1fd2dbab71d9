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
                  fromMs: Int64, untilMs: Int64) async throws -> Replication.AntiEntropy.IDPage
    func events(site: SiteID, ids: [EventID]) async throws -> [Event]
    /// A digest per visitor whose CRM record holds owner edits or given personal data
    /// (`VisitorEdit.digest` of the edits that rebuild it).
    func visitorEditDigests(site: SiteID) async throws -> [VisitorID: UInt64]
    /// The edits that rebuild these visitors' CRM records.
    func rebuildingEdits(site: SiteID, visitors: [VisitorID]) async throws -> [VisitorEdit]
    /// Applies what the other replica had, idempotently, through the same rules as any write
    /// (erasure fence, retention cutoff, duplicates).
    func apply(_ payload: Replication.Payload) async throws
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
        /// Ids per `eventIDs` page: some 0.9 MB on the wire, well below the message limit.
        public static let idPageMax = 50_000

        /// A page of a day's ids (`RepairReplica.eventIDs`).
        public struct IDPage: Hashable, Sendable {
            public var ids: [EventID]
            /// More ids follow the last of `ids`.
            public var more: Bool

            public init(ids: [EventID], more: Bool) {
                self.ids = ids
                self.more = more
            }
        }

        /// A replica's page that breaks the listing's rules: not in increasing order after the
        /// cursor, or longer than asked. Listing it further could loop for ever.
        public struct MalformedPage: Error, CustomStringConvertible {
            public let replica: String
            public var description: String { "\(replica) sent an id page out of order or longer than asked" }
        }

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
                var mine = IDListing(replica: local, site: site, day: day, slices: slices, fromMs: fromMs, untilMs: untilMs)
                var theirs = IDListing(replica: remote, site: site, day: day, slices: slices, fromMs: fromMs, untilMs: untilMs)
                while true {
                    try await mine.fill()
                    try await theirs.fill()
                    guard !(mine.isFinished && theirs.isFinished) else { break }
                    // Both have listed every id up to the lower of the last ids a side still
                    // listing holds (everything, when neither is).
                    let bound = [mine.listedThrough, theirs.listedThrough].compactMap { $0 }.min()
                    let (localLacks, remoteLacks) = missing(have: mine.take(through: bound), other: theirs.take(through: bound))
                    outcome.eventsPulled += try await stream(site, localLacks, from: remote, to: local)
                    outcome.eventsPushed += try await stream(site, remoteLacks, from: local, to: remote)
                }
            }
        }

        /// One replica's ids of some slices of a day, read a page at a time.
        private struct IDListing<Replica: RepairReplica> {
            let replica: Replica
            let site: SiteID
            let day: Day
            let slices: [Int]
            let fromMs: Int64
            let untilMs: Int64
            /// Listed and not compared yet, in increasing order.
            private(set) var buffered = [EventID]()
            /// The last id listed.
            private var after: EventID?
            /// The replica has listed its last id.
            private var exhausted = false

            init(replica: Replica, site: SiteID, day: Day, slices: [Int], fromMs: Int64, untilMs: Int64) {
                (self.replica, self.site, self.day, self.slices, self.fromMs, self.untilMs) = (replica, site, day, slices, fromMs, untilMs)
            }

            var isFinished: Bool { exhausted && buffered.isEmpty }
            /// The last id listed while more may follow: every id of the replica up to it is listed.
            var listedThrough: EventID? { exhausted ? nil : buffered.last }

            /// Reads the next page once everything listed was compared.
            mutating func fill() async throws {
                guard buffered.isEmpty, !exhausted else { return }
                let page = try await replica.eventIDs(site: site, day: day, slices: slices, after: after, limit: idPageMax,
                                                      fromMs: fromMs, untilMs: untilMs)
                var previous = after
                for id in page.ids {
                    // A peer's page is checked before it is trusted: ids that do not move the
                    // cursor on would list the same page for ever.
                    guard previous.map({ $0 < id }) ?? true else { throw MalformedPage(replica: replica.name) }
                    previous = id
                }
                guard page.ids.count <= idPageMax else { throw MalformedPage(replica: replica.name) }
                buffered = page.ids
                after = page.ids.last ?? after
                exhausted = !page.more || page.ids.isEmpty
            }

            /// Removes and returns the listed ids up to `bound`, all of them when nil.
            mutating func take(through bound: EventID?) -> [EventID] {
                let end = bound.map { bound in buffered.firstIndex { $0 > bound } ?? buffered.count } ?? buffered.count
                defer { buffered.removeFirst(end) }
                return Array(buffered[..<end])
            }
        }

        /// Owner edits of CRM records are few (people type them), so all of a site's digests are
        /// compared at once; a record differs or is missing on one side. Runs after erasures are
        /// exchanged: an edit an erasure covers is dropped by the replica's fence.
        private static func repairVisitorRecords(site: SiteID, local: some RepairReplica, remote: some RepairReplica) async throws -> Int {
            let mine = try await local.visitorEditDigests(site: site), theirs = try await remote.visitorEditDigests(site: site)
            let differing = Set(mine.keys).union(theirs.keys).filter { mine[$0] != theirs[$0] }.sorted()
            guard !differing.isEmpty else { return 0 }
            for (source, sink) in [(remote as any RepairReplica, local as any RepairReplica), (local, remote)] {
                var start = 0
                while start < differing.count {
                    let batch = Array(differing[start..<min(differing.count, start + visitorBatch)])
                    for edit in try await source.rebuildingEdits(site: site, visitors: batch) {
                        try await sink.apply(.visitorEdit(edit))
                    }
                    start += batch.count
                }
            }
            return differing.count
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
