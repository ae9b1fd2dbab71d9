import FootfallProtocols

/// A fingerprint of everything a simulated run did, in order (FNV-1a over each step's time, kind
/// and nodes, and every line of the trace): two runs of one seed must end with the same value, or
/// a failing seed would not replay. Cheap enough to take every step of every seed.
struct TraceHash: Equatable, CustomStringConvertible {
    private(set) var value: UInt64 = 0xcbf2_9ce4_8422_2325

    mutating func add(_ number: UInt64) {
        for shift in stride(from: 0, to: 64, by: 8) { mix(UInt8(truncatingIfNeeded: number >> UInt64(shift))) }
    }

    mutating func add(_ time: MonotonicTime) { add(UInt64(bitPattern: time.nanoseconds)) }

    mutating func add(_ text: String) {
        for byte in text.utf8 { mix(byte) }
        mix(0)
    }

    /// Folds another run's fingerprint in (the report's one value over all seeds).
    mutating func add(_ other: TraceHash) { add(other.value) }

    private mutating func mix(_ byte: UInt8) { value = (value ^ UInt64(byte)) &* 0x100_0000_01b3 }

    var description: String { String(value, radix: 16) }
}
