/// Distinct visitors, counted exactly: an open-addressing hash set of raw visitor ids, the
/// structure a report's unique-visitor counts go through (tens of thousands of inserts per
/// filtered report, where `Set<VisitorID>`'s hashing and resizing cost more than the scan).
struct VisitorSet {
    /// Slots hold `rawValue &+ 1`, so 0 marks an empty slot (a raw value of `UInt64.max` is
    /// kept aside in `holdsMax`).
    private var slots: [UInt64]
    private var mask: Int
    private var holdsMax = false
    private(set) var count = 0

    init(capacity: Int = 16) {
        var size = 16
        while size < capacity * 2 { size *= 2 }
        slots = [UInt64](repeating: 0, count: size)
        mask = size - 1
    }

    mutating func insert(_ visitor: VisitorID) {
        guard visitor.rawValue != .max else {
            if !holdsMax { holdsMax = true; count += 1 }
            return
        }
        let key = visitor.rawValue &+ 1
        var slot = VisitorSet.slot(of: key, mask: mask)
        while true {
            let held = slots[slot]
            if held == key { return }
            if held == 0 { break }
            slot = (slot &+ 1) & mask
        }
        slots[slot] = key
        count += 1
        if count * 2 > slots.count { grow() }
    }

    /// Fibonacci hashing: visitor ids of consenting visitors are not uniformly spread.
    private static func slot(of key: UInt64, mask: Int) -> Int {
        Int(truncatingIfNeeded: (key &* 0x9E37_79B9_7F4A_7C15) >> 32) & mask
    }

    private mutating func grow() {
        let old = slots
        slots = [UInt64](repeating: 0, count: old.count * 2)
        mask = slots.count - 1
        for key in old where key != 0 {
            var slot = VisitorSet.slot(of: key, mask: mask)
            while slots[slot] != 0 { slot = (slot &+ 1) & mask }
            slots[slot] = key
        }
    }
}
