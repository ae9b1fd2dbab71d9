/// Whether this node's wall clock agrees with its cluster's.
///
/// A node stamps hits that carry no time, checks the time of those that do (a client clock may be
/// at most minutes ahead), fences erasures at "now" and stamps CRM edits: with a clock minutes
/// off, a hit retried through another node gets another time (so another event id), and an
/// erasure fenced minutes in the past leaves the visitor's newest events behind. So a node whose
/// clock is off refuses those writes and lets its peers take them, like CockroachDB's max offset.
///
/// Each peer's offset is estimated from one round trip: the peer read its clock between our send
/// and our receipt, so it is `peerMs - midpoint`, give or take half the round trip. The node counts
/// as off when more than half of the cluster (itself counted as agreeing with itself) saw it off by
/// more than `maxOffsetMs` beyond that uncertainty, within `freshForMs`. So one peer with a wild
/// clock cannot make healthy nodes doubt themselves, and in a cluster of two neither side decides
/// (nothing tells which one is wrong).
///
/// A reading keeps what this node's wall clock minus its monotonic clock was when it was taken: a
/// wall-clock step since then (an NTP step, an operator's `date -s`) moves that difference by the
/// step, and every reading is corrected by it when asked. So a node stepped an hour back counts as
/// off from its first write after the step, not from its next round of readings (until which it
/// would have stamped and checked hits with the wrong hour), and a step forward does not age its
/// readings into irrelevance. Freshness is monotonic time. Pure: times come in as arguments, all
/// read from this node's own clocks except the peer's reading.
public struct ClockAgreement: Sendable {
    public struct Settings: Sendable, Equatable {
        /// How far this node's clock may be from its peers' before it refuses writes: a minute,
        /// well inside the five minutes a client clock may be ahead.
        public var maxOffsetMs: Int64 = 60_000
        /// Readings older than this no longer count.
        public var freshForMs: Int64 = 30_000
        public init() {}
    }

    struct Reading: Sendable {
        var offsetMs: Int64
        var uncertaintyMs: Int64
        /// This node's monotonic clock when the answer arrived.
        var atMonotonicMs: Int64
        /// This node's wall clock minus its monotonic clock then.
        var wallAheadOfMonotonicMs: Int64
    }

    public let settings: Settings
    private var readings: [String: Reading] = [:]

    public init(settings: Settings = Settings()) {
        self.settings = settings
    }

    /// A peer answered with its clock reading `peerMs`; the call left at `sentMs` and the answer
    /// arrived at `receivedMs`, both on this node's wall clock, and at `receivedMonotonicMs` on its
    /// monotonic clock.
    /// A peer's reading is a number from the network: it is clamped to ±2^52 ms (the year
    /// 144,000), so a wild or hostile one counts as far off rather than overflowing the offset.
    /// This node's own clocks are clamped the same way (a wall clock stepped to a wild date is
    /// far off, not a trap).
    public mutating func onReading(peer: String, sentMs: Int64, peerMs: Int64, receivedMs: Int64, receivedMonotonicMs: Int64) {
        let (sent, received, monotonic) = (Self.clamped(sentMs), Self.clamped(receivedMs), Self.clamped(receivedMonotonicMs))
        guard received >= sent else { return }
        let midpoint = sent + (received - sent) / 2
        readings[peer] = Reading(offsetMs: Self.clamped(peerMs) - midpoint, uncertaintyMs: (received - sent + 1) / 2,
                                 atMonotonicMs: monotonic, wallAheadOfMonotonicMs: received - monotonic)
    }

    private static func clamped(_ ms: Int64) -> Int64 { min(max(ms, -(Int64(1) << 52)), Int64(1) << 52) }

    /// The cluster a decision counts against: the ring's members, and at least this node plus
    /// every node it asked. So before a node knows its members (a joiner asking its seed, a founder
    /// asking the nodes that try to join it) one reading cannot outvote it: of two clocks, nothing
    /// tells which is wrong; two nodes joining a founder whose clock is off do.
    public static func clusterSize(members: Int, asked: Int) -> Int {
        max(members, asked + 1)
    }

    /// The members now: readings of any other node are dropped.
    public mutating func onMembers(only members: Set<String>) {
        readings = readings.filter { members.contains($0.key) }
    }

    /// How far the peers' clocks are from this one (their median, positive when they are ahead)
    /// when more than half of a cluster of `clusterSize` nodes saw this node's clock off; nil when
    /// it agrees, or too few fresh readings say otherwise. `nowMs` and `monotonicMs` are this
    /// node's two clocks now: each reading is corrected by how far the wall clock was stepped since.
    public func disagreementMs(clusterSize: Int, nowMs: Int64, monotonicMs: Int64) -> Int64? {
        let (now, monotonic) = (Self.clamped(nowMs), Self.clamped(monotonicMs))
        let off = readings.values
            .filter { monotonic - $0.atMonotonicMs <= settings.freshForMs }
            .map { ($0.offsetMs - ((now - monotonic) - $0.wallAheadOfMonotonicMs), $0.uncertaintyMs) }
            .filter { offset, uncertainty in abs(offset) - uncertainty > settings.maxOffsetMs }
            .map(\.0)
            .sorted()
        guard off.count * 2 > clusterSize else { return nil }
        return off[off.count / 2]
    }
}
