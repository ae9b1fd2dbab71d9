import FootfallCrypto

/// The cookieless visitor hash's key, one per UTC day and the same on every node.
///
/// A one-way ratchet: the seed for day d+1 is a hash of the seed for day d, and the day's salt is
/// a KDF of its seed. A node that holds today's seed can make today's and every later salt but
/// none of the earlier ones, so once yesterday's seed is overwritten nobody — not even the
/// operator — can recompute yesterday's visitor ids and link a visitor across days.
public struct DailySaltRatchet: Hashable, Sendable {
    public private(set) var day: Day
    public private(set) var seed: [UInt8]

    public init(day: Day, seed: [UInt8]) {
        precondition(seed.count == 32, "a ratchet seed is 32 bytes, got \(seed.count)")
        self.day = day
        self.seed = seed
    }

    /// Moves the ratchet forward to `target`. It never goes back: the earlier seeds are gone.
    public mutating func advance(to target: Day) {
        while day < target {
            seed = Crypto.sha256(Array("footfall.ratchet".utf8) + seed)
            day = day.advanced(by: 1)
        }
    }

    /// The salt for the ratchet's current day.
    public var salt: [UInt8] {
        Crypto.hmacSHA256(key: seed, data: Array("footfall.salt\u{0}\(day.index)".utf8))
    }
}
