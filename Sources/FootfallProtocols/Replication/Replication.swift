import FootfallModel

/// Replication of site data between the replicas of each site: the vocabulary shared by the
/// coordinator state machine (`Replication.Coordinator`), the node's shell that drives it over
/// mutual-TLS gRPC, and the simulated cluster that proves it.
public enum Replication {
    /// How many replicas must acknowledge a write before the client hears it succeeded.
    public enum Consistency: String, Sendable, CaseIterable, Codable {
        case one, quorum, all

        /// Acknowledgements needed from `replicas` replicas (a hint never counts as one).
        public func required(replicas: Int) -> Int {
            switch self {
            case .one: min(1, replicas)
            case .quorum: replicas / 2 + 1
            case .all: replicas
            }
        }
    }

    /// Every setting of the replication protocol, with its default.
    public struct Settings: Hashable, Sendable {
        /// Replicas per site (1 on a single node; the ring gives fewer while the cluster is smaller).
        public var replicationFactor = 3
        /// The consistency of a write that names none.
        public var defaultConsistency = Consistency.quorum
        /// How long a coordinator waits for a replica's acknowledgement before hinting it.
        public var writeTimeoutMs: Int64 = 2_000
        /// How long a hint is kept for a replica that stays away (3 h, Cassandra's default). An
        /// older hint is dropped and the target is told to repair before it serves reads.
        public var hintWindowMs: Int64 = 3 * 3_600_000
        /// Events the hint store holds for all targets together. Past it, a missed write is not
        /// hinted but recorded as a gap, and the target repairs before it serves reads.
        public var hintCapacityEvents = 1_000_000
        /// Pause before a hint that could not be delivered is offered again.
        public var hintRetryMs: Int64 = 1_000
        /// Events one replay carries at most: a target's consecutive hints of events go together
        /// up to this many. A replica takes up to 5,000 in one request (this version and the one
        /// before), and a thousand events as ingest bounds them (a few KB each at most: 2,048-byte
        /// URLs, 300-byte titles, ten properties) stay well under the 16 MiB request limit. One
        /// hint per round trip, a busy node's fifteen-second absence was still being replayed 90 s
        /// later, and anti-entropy meanwhile copied the same events a second time.
        public var replayEventsMax = 1_000
        /// Client writes (hits and CRM edits) a coordinator waits on at once. Each is answered
        /// within `writeTimeoutMs`, so only a flood reaches it; past it a write is refused at once
        /// (`.overloaded`, which the client retries) instead of the coordinator's tables of
        /// writes, replica groups and outstanding messages growing with the flood.
        public var writesInFlightMax = 10_000

        public init() {}
    }

    /// A request to erase one visitor of one site on a replica: delete every stored event of the
    /// visitor at or before `fenceMs` and refuse any such event from then on.
    public struct ErasureOrder: Hashable, Sendable {
        public var requestID: String
        public var site: SiteID
        public var visitor: VisitorID
        public var fenceMs: Int64

        public init(requestID: String, site: SiteID, visitor: VisitorID, fenceMs: Int64) {
            self.requestID = requestID
            self.site = site
            self.visitor = visitor
            self.fenceMs = fenceMs
        }

        /// Whether replicas keep this order's record over `other`'s, of the same visitor: the later
        /// fence wins, ties go to the greater request id. Replicas apply orders in any order (a
        /// hint of an earlier request can land after a later one), and they must all end up naming
        /// the same request or its status never turns complete.
        public func supersedes(_ other: ErasureOrder) -> Bool {
            (fenceMs, requestID) > (other.fenceMs, other.requestID)
        }

        /// Whether the order removes `event`.
        public func covers(_ event: Event) -> Bool {
            event.site == site && event.visitor == visitor && event.timestampMs <= fenceMs
        }

        /// Whether the order removes what `edit` adds (an edit made before the erasure).
        public func covers(_ edit: VisitorEdit) -> Bool {
            edit.site == site && edit.visitor == visitor && edit.atMs <= fenceMs
        }
    }

    /// What a replica is asked to apply. Applying is idempotent: events by event id, erasures by
    /// (site, visitor) with the later fence kept, CRM edits by note id and edit time.
    public enum Payload: Hashable, Sendable {
        case events([Event])
        case erasure(ErasureOrder)
        case visitorEdit(VisitorEdit)

        var eventCount: Int {
            if case .events(let events) = self { return events.count }
            return 0
        }
    }

    /// A durable note on a coordinator of something a replica missed, replayed when the replica
    /// is alive again.
    public struct Hint: Hashable, Sendable {
        public var id: UInt64
        public var target: String
        /// Wall-clock time the hint was made; the hint window counts from here.
        public var createdMs: Int64
        public var payload: Payload

        public init(id: UInt64, target: String, createdMs: Int64, payload: Payload) {
            self.id = id
            self.target = target
            self.createdMs = createdMs
            self.payload = payload
        }
    }

    /// Messages between coordinators and replicas. Every request carries an id that its
    /// acknowledgement repeats; ids are unique per coordinator process.
    public enum Message: Hashable, Sendable {
        /// Apply this (write, erasure or hint replay) and acknowledge once it is durable.
        case apply(id: UInt64, Payload)
        /// The receiver missed writes that no hint holds: repair before serving reads.
        case repairNeeded(id: UInt64)
        /// The request `id` is applied (durably), at the replica's wall-clock time `atMs`.
        case ack(id: UInt64, atMs: Int64, Applied)
    }

    /// What became of a batch's events on the replica that applied it.
    public struct Applied: Hashable, Sendable {
        public var stored = 0
        public var duplicates = 0
        public var expired = 0
        public var fenced = 0
        /// Dropped: past the hits a visitor may have in a day.
        public var capped = 0

        public init(stored: Int = 0, duplicates: Int = 0, expired: Int = 0, fenced: Int = 0, capped: Int = 0) {
            self.stored = stored
            self.duplicates = duplicates
            self.expired = expired
            self.fenced = fenced
            self.capped = capped
        }

        public mutating func add(_ other: Applied) {
            stored += other.stored
            duplicates += other.duplicates
            expired += other.expired
            fenced += other.fenced
            capped += other.capped
        }
    }

    /// How a client's write ended.
    public enum WriteOutcome: Hashable, Sendable {
        case succeeded
        /// Too few replicas acknowledged in time; the client retries with the same hit ids.
        case failed(acknowledged: Int, required: Int)
        /// Fewer replicas are alive than the consistency level needs: nothing was sent.
        case unavailable(alive: Int, required: Int)
        /// `writesInFlightMax` writes were already waiting: nothing was sent.
        case overloaded
    }

    /// What the coordinator asks its shell to do, in the order the shell carries it out, as raft's
    /// `Ready`: first `persist`, in one write (a failure goes back to the coordinator with
    /// `onPersistFailed`, which writes it again later), then `send`, then `complete`. So no replay
    /// leaves before the hint behind it is on disk, and no client hears of a write before the
    /// hints of the replicas that missed it are.
    public struct Effects: Hashable, Sendable {
        public enum Persist: Hashable, Sendable {
            case hint(Hint)
            case deleteHint(id: UInt64)
            /// Deleted hints must leave the files too (the write-ahead log and the hint family's
            /// tables keep them until a flush and a compaction): after an erasure purged hints,
            /// when a target refused a replayed hint's events as erased, or when a target's hints
            /// are all delivered or expired (one may have held a visitor erased through another
            /// node meanwhile).
            case scrubHints
            /// `target` missed writes no hint holds (the store was full or a hint expired).
            case recordGap(target: String)
            case clearGap(target: String)
        }

        public struct Outgoing: Hashable, Sendable {
            public let to: String
            public let message: Message
        }

        public enum Completion: Hashable, Sendable {
            /// A client's write is decided; `applied` is what the first replica to acknowledge
            /// each replica set reported (replicas that agree on the data report alike).
            case writeFinished(request: UInt64, WriteOutcome, applied: Applied)
            case erasureConfirmed(requestID: String, replica: String, atMs: Int64)
            /// The erasure round is over: every replica confirmed (`pending` empty) or the rest are
            /// hinted and will confirm when they return. `.succeeded` when a quorum of the replicas
            /// (and every pending owner) confirmed: a hint is not a copy, and an erasure held by
            /// one replica and hints on one coordinator is lost with that replica's disk, so below
            /// a quorum the client hears `.failed` and sends the erasure again (what did apply
            /// stays applied).
            case erasureFinished(requestID: String, WriteOutcome, pending: [String])
        }

        public var persist: [Persist] = []
        public var send: [Outgoing] = []
        public var complete: [Completion] = []

        public init() {}

        public static let none = Effects()
        public var isEmpty: Bool { persist.isEmpty && send.isEmpty && complete.isEmpty }

        static func persist(_ persist: Persist) -> Effects {
            var effects = Effects()
            effects.persist = [persist]
            return effects
        }

        static func send(to target: String, _ message: Message) -> Effects {
            var effects = Effects()
            effects.send = [Outgoing(to: target, message: message)]
            return effects
        }

        static func complete(_ completion: Completion) -> Effects {
            var effects = Effects()
            effects.complete = [completion]
            return effects
        }

        /// `other`'s effects after these, each part in its own order.
        public static func += (effects: inout Effects, other: Effects) {
            effects.persist += other.persist
            effects.send += other.send
            effects.complete += other.complete
        }

        public static func + (effects: Effects, other: Effects) -> Effects {
            var sum = effects
            sum += other
            return sum
        }
    }
}
