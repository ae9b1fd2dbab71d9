/// SplitMix64 (Steele, Lea and Flood 2014): a tiny, seedable generator. Protocol state machines,
/// simulations, benchmarks and randomised tests hold one of these, never the system generator,
/// so every run replays exactly from its seed.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        return SplitMix64.finalize(state)
    }

    /// The output function alone: a good 64-bit mixer (HyperLogLog uses it on visitor ids).
    public static func finalize(_ value: UInt64) -> UInt64 {
        var z = value
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
