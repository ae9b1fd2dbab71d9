import FootfallModel
import Synchronization

/// Token buckets per client (an IP network, an account), in memory only: an IP never leaves this
/// process. The table holds at most `clientsMax` buckets. A bucket that has refilled says nothing
/// a missing one would not, so those are dropped when the table is full; while every bucket is
/// still draining, new clients share one overflow bucket. A flood of distinct clients so can
/// neither grow memory nor reset anyone's budget (emptying the table would hand every client,
/// the flood's own included, a fresh burst).
public final class RateLimiter<Client: Hashable & Sendable>: Sendable {
    private struct Bucket {
        var tokens: Double
        var updatedMs: Int64
    }

    private struct Table {
        var buckets: [Client: Bucket] = [:]
        var overflow: Bucket?
        /// When refilled buckets were last dropped: at most once a second, so a flood of new
        /// clients costs one scan a second, not one per request.
        var prunedMs: Int64?
    }

    let ratePerSecond: Double
    let burst: Double
    let clientsMax: Int
    private let table = Mutex(Table())

    public init(ratePerSecond: Double, burst: Double, clientsMax: Int = 100_000) {
        precondition(ratePerSecond > 0 && burst >= 1 && clientsMax > 0, "rate \(ratePerSecond), burst \(burst), clients \(clientsMax)")
        self.ratePerSecond = ratePerSecond
        self.burst = burst
        self.clientsMax = clientsMax
    }

    /// Takes `cost` tokens from the client's bucket; false when it has too few.
    public func allow(_ client: Client, cost: Double = 1, nowMs: Int64) -> Bool {
        table.withLock { table in
            if table.buckets[client] == nil && table.buckets.count >= clientsMax {
                if table.prunedMs.map({ nowMs < $0 || nowMs - $0 >= 1000 }) ?? true {
                    table.buckets = table.buckets.filter { refilled($0.value, nowMs: nowMs).tokens < burst }
                    table.prunedMs = nowMs
                }
                if table.buckets.count >= clientsMax { return take(cost, from: &table.overflow, nowMs: nowMs) }
            }
            return take(cost, from: &table.buckets[client], nowMs: nowMs)
        }
    }

    /// Buckets held for single clients (for tests and gauges).
    public var clientCount: Int { table.withLock { $0.buckets.count } }

    private func take(_ cost: Double, from bucket: inout Bucket?, nowMs: Int64) -> Bool {
        var current = bucket.map { refilled($0, nowMs: nowMs) } ?? Bucket(tokens: burst, updatedMs: nowMs)
        let allowed = current.tokens >= cost
        if allowed { current.tokens -= cost }
        bucket = current
        return allowed
    }

    private func refilled(_ bucket: Bucket, nowMs: Int64) -> Bucket {
        // A clock that stepped back refills nothing (and the subtraction cannot overflow: both
        // are this node's own clock readings).
        let elapsedSeconds = Double(max(0, nowMs &- bucket.updatedMs)) / 1000
        return Bucket(tokens: min(burst, bucket.tokens + elapsedSeconds * ratePerSecond), updatedMs: max(bucket.updatedMs, nowMs))
    }
}

extension IPAddress {
    /// What a rate limit counts: an IPv4 address, or the /64 network of an IPv6 one (one client
    /// usually holds a whole /64).
    public var rateLimitClient: IPAddress {
        isV4 ? self : IPAddress(bytes: Array(bytes.prefix(8)) + [UInt8](repeating: 0, count: 8))!
    }
}
