/// A hybrid logical clock (Kulkarni et al., 2014) packed in 64 bits: wall-clock milliseconds in
/// the high 48, a counter in the low 16. Timestamps it issues strictly grow, never fall behind the
/// wall clock, and never fall behind any timestamp observed from another node, so a change made
/// after seeing another orders after it even when this node's clock is behind. System records
/// (accounts, sites, tokens, sessions) are last-writer-wins by (timestamp, origin node).
public struct HybridLogicalClock: Sendable {
    public private(set) var last: UInt64 = 0

    public init() {}

    public static func timestamp(wallMs: Int64) -> UInt64 { UInt64(max(0, wallMs)) << 16 }

    /// The wall-clock milliseconds of a timestamp.
    public static func wallMs(of timestamp: UInt64) -> Int64 { Int64(timestamp >> 16) }

    /// A timestamp for a local change at `wallMs`.
    public mutating func now(wallMs: Int64) -> UInt64 {
        last = max(last &+ 1, HybridLogicalClock.timestamp(wallMs: wallMs))
        return last
    }

    /// Takes in a timestamp seen in another node's record, so later local changes order after it.
    /// A timestamp more than `maxAheadMs` ahead of the local wall clock is not taken in (a peer
    /// with a wild clock must not drag every node's clock forward); the record still merges.
    public mutating func observe(_ remote: UInt64, wallMs: Int64, maxAheadMs: Int64 = 60_000) {
        guard HybridLogicalClock.wallMs(of: remote) <= wallMs + maxAheadMs else { return }
        last = max(last, remote)
    }
}
