import FootfallModel
import Synchronization

/// Per-IP token buckets, in memory only (the IP never leaves this process). Old buckets are
/// dropped when the table grows past `clientsMax`, so memory stays bounded under a flood of
/// distinct addresses.
public final class RateLimiter: Sendable {
    private struct Bucket {
        var tokens: Double
        var updatedMs: Int64
    }

    let ratePerSecond: Double
    let burst: Double
    let clientsMax: Int
    private let buckets = Mutex([IPAddress: Bucket]())

    public init(ratePerSecond: Double, burst: Double, clientsMax: Int = 100_000) {
        self.ratePerSecond = ratePerSecond
        self.burst = burst
        self.clientsMax = clientsMax
    }

    /// Takes `cost` tokens from the IP's bucket; false when it has too few.
    public func allow(_ address: IPAddress, cost: Double = 1, nowMs: Int64) -> Bool {
        // One IPv6 client usually holds a whole /64: count the network, not each address in it.
        let ip = address.isV4 ? address : IPAddress(bytes: Array(address.bytes.prefix(8)) + [UInt8](repeating: 0, count: 8))!
        return buckets.withLock { all in
            if all.count >= clientsMax && all[ip] == nil {
                all = all.filter { nowMs - $0.value.updatedMs < 10_000 }
                if all.count >= clientsMax { all.removeAll(keepingCapacity: true) }
            }
            var bucket = all[ip] ?? Bucket(tokens: burst, updatedMs: nowMs)
            let elapsed = Double(max(0, nowMs - bucket.updatedMs)) / 1000
            bucket.tokens = min(burst, bucket.tokens + elapsed * ratePerSecond)
            bucket.updatedMs = nowMs
            let allowed = bucket.tokens >= cost
            if allowed { bucket.tokens -= cost }
            all[ip] = bucket
            return allowed
        }
    }
}
