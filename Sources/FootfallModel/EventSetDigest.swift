/// An order-independent digest of a set of event ids: how many, and the XOR of a 64-bit hash of
/// each. Two replicas holding the same ids have equal digests whatever order the events arrived
/// in, and a parent's digest is its children's combined, so the whole anti-entropy tree — site,
/// (site, day), (site, day, slice) — comes from one scan of the keys (Cassandra's Merkle trees
/// combine row hashes the same way).
public struct EventSetDigest: Hashable, Sendable {
    public var count: UInt64
    public var hash: UInt64

    public init(count: UInt64 = 0, hash: UInt64 = 0) {
        self.count = count
        self.hash = hash
    }

    /// Slices per (site, day) bucket: the tree's leaves, each an id list exchanged on mismatch.
    public static let slicesPerDay = 16

    public mutating func insert(_ id: EventID) {
        count += 1
        hash ^= EventSetDigest.hash(of: id)
    }

    /// Inserts `id` into the slice of `digests` (a day's `slicesPerDay`) that holds it, hashing
    /// it once: a day's digests are taken over every id it holds, at every anti-entropy pass.
    public static func insert(_ id: EventID, intoSliceOf digests: inout [EventSetDigest]) {
        let hashed = hash(of: id), slice = slice(ofHash: hashed)
        digests[slice].count += 1
        digests[slice].hash ^= hashed
    }

    /// Takes `id`, inserted before, back out of its slice of `digests`: a digest of a set less
    /// some of its ids, without hashing the rest again.
    public static func remove(_ id: EventID, fromSliceOf digests: inout [EventSetDigest]) {
        let hashed = hash(of: id), slice = slice(ofHash: hashed)
        digests[slice].count &-= 1
        digests[slice].hash ^= hashed
    }

    public mutating func absorb(_ other: EventSetDigest) {
        count += other.count
        hash ^= other.hash
    }

    /// The slice of a day's bucket that holds `id`: the top bits of its hash, so slices are even
    /// whatever the ids' timestamps.
    public static func slice(of id: EventID) -> Int {
        slice(ofHash: hash(of: id))
    }

    private static func slice(ofHash hashed: UInt64) -> Int {
        Int(hashed >> 60)
    }

    /// A 64-bit hash of the id's 16 bytes (SplitMix64's finalizer over each half). Ids are
    /// already mostly hash output; mixing keeps XOR cancellation of near-equal ids negligible.
    static func hash(of id: EventID) -> UInt64 {
        let bytes = id.bytes
        let high = UInt64(bigEndianBytes: bytes[0..<8]), low = UInt64(bigEndianBytes: bytes[8..<16])
        return SplitMix64.finalize(high &+ 0x9E37_79B9_7F4A_7C15) ^ SplitMix64.finalize(low ^ 0xD1B5_4A32_D192_ED03)
    }
}
