/// Distinct visitors: exact up to `exactMax`, an open-addressing hash set of raw visitor ids; past
/// that a HyperLogLog sketch (`HyperLogLog`'s registers and estimator, 0.81 % standard error), as
/// the rollups count them. A filtered report counts each matching event's visitor here; on a big
/// site that is hundreds of thousands of inserts, and an exact set that large misses the cache on
/// nearly every one.
struct VisitorSet {
    /// Distinct visitors counted exactly (the hash set then holds 8,192 slots, 64 KiB: a
    /// breakdown holds one set per value, and larger sets stopped fitting the caches).
    static let exactMax = 4_096

    /// Slots hold `rawValue &+ 1`, so 0 marks an empty slot (a raw value of `UInt64.max` is
    /// kept aside in `holdsMax`).
    private var slots: [UInt64]
    private var mask: Int
    private var holdsMax = false
    private var exactCount = 0
    /// The sketch's registers, once past `exactMax`; then `slots` is empty.
    private var registers: [UInt8]?
    /// The last visitor inserted (`rawValue &+ 1`; 0 none): rows come grouped by visitor, so most
    /// inserts repeat the one before and need no hash.
    private var lastKey: UInt64 = 0

    init() {
        slots = [UInt64](repeating: 0, count: 16)
        mask = slots.count - 1
    }

    /// Exact up to `exactMax`, an estimate beyond.
    var count: Int {
        registers.map { HyperLogLog(registers: $0).estimate } ?? exactCount
    }

    mutating func insert(_ visitor: VisitorID) {
        let key = visitor.rawValue &+ 1
        if key == lastKey, key != 0 { return }
        lastKey = key
        if registers != nil {
            let (index, rho) = HyperLogLog.register(of: visitor)
            if rho > registers![index] { registers![index] = rho }
            return
        }
        guard visitor.rawValue != .max else {
            if !holdsMax { holdsMax = true; exactCount += 1 }
            return
        }
        var slot = VisitorSet.slot(of: key, mask: mask)
        while true {
            let held = slots[slot]
            if held == key { return }
            if held == 0 { break }
            slot = (slot &+ 1) & mask
        }
        slots[slot] = key
        exactCount += 1
        // Four times the slots at a time: rehashing was as costly as the inserts when doubling.
        if exactCount > VisitorSet.exactMax { becomeSketch() } else if exactCount * 2 > slots.count { grow(to: slots.count * 4) }
    }

    /// Adds `other`'s visitors: the set of both, exact or a sketch as if each had been inserted
    /// here (a sketch's registers are those of its visitors, whatever the order).
    mutating func formUnion(_ other: VisitorSet) {
        guard let theirs = other.registers else {
            // Room for both at once, not grown insert by insert.
            if registers == nil, (exactCount + other.exactCount) * 2 > slots.count { grow(to: (exactCount + other.exactCount) * 2) }
            for key in other.slots where key != 0 { insert(VisitorID(rawValue: key &- 1)) }
            if other.holdsMax { insert(VisitorID(rawValue: .max)) }
            return
        }
        if registers == nil { becomeSketch() }
        // Taken out of the optional first, so raising them copies nothing.
        var mine = registers!
        registers = nil
        theirs.withUnsafeBufferPointer { HyperLogLog.raise(&mine, to: $0) }
        registers = mine
    }

    /// Fibonacci hashing: visitor ids of consenting visitors are not uniformly spread.
    private static func slot(of key: UInt64, mask: Int) -> Int {
        Int(truncatingIfNeeded: (key &* 0x9E37_79B9_7F4A_7C15) >> 32) & mask
    }

    /// At least `slotCount` slots (a power of two), at most the `2 * exactMax` an exact set needs.
    private mutating func grow(to slotCount: Int) {
        var count = slots.count
        while count < min(slotCount, 2 * VisitorSet.exactMax) { count *= 2 }
        guard count > slots.count else { return }
        let old = slots
        slots = [UInt64](repeating: 0, count: count)
        mask = slots.count - 1
        for key in old where key != 0 {
            var slot = VisitorSet.slot(of: key, mask: mask)
            while slots[slot] != 0 { slot = (slot &+ 1) & mask }
            slots[slot] = key
        }
    }

    private mutating func becomeSketch() {
        let held = slots.lazy.filter { $0 != 0 }.map { VisitorID(rawValue: $0 &- 1) }
        self.registers = HyperLogLog.registers(of: holdsMax ? Array(held) + [VisitorID(rawValue: .max)] : Array(held))
        slots = []
    }
}
