import Foundation

/// A HyperLogLog sketch of distinct visitors, with precision p = 14 (16,384 registers).
///
/// Precision: the relative standard error is 1.04 / sqrt(16384) ≈ 0.81 %; tests hold every
/// estimate within 3 standard errors (2.5 %) of the exact count from 1 to 1,000,000 distinct ids.
/// The estimator is Ertl's improved raw estimator ("New cardinality estimation algorithms for
/// HyperLogLog sketches", 2017), which needs no empirical bias tables and no switch to linear
/// counting. Small sketches are stored sparse (about 1.5 bytes per non-zero register) and become
/// dense past `sparseEntriesMax`, so a quiet 15-minute bucket costs a few bytes, not 16 KiB.
public struct HyperLogLog: Hashable, Sendable {
    public static let precision = 14
    public static let registerCount = 1 << precision
    static let sparseEntriesMax = 2048
    /// The largest register value: 1 + the bits of the hash below the index.
    static let rhoMax = UInt8(64 - precision + 1)
    /// Sparse entries delta-coded (what this version writes): per non-zero register, in index
    /// order, a varint of `gap << 3 | min(rho - 1, 7)` (the gap from the previous index, the first
    /// from 0), and when those three bits are all set a byte holding rho itself (8 or more).
    /// Sparse sketches are most of the rollups' bytes, and the 3-byte entries of the earlier
    /// encoding compressed poorly (zstd: 2.43 bytes an entry on the bench's biggest site,
    /// against 1.46 for these).
    static let sparseTag: UInt8 = 0x03
    /// Sparse entries of 3 bytes each (`index << 6 | rho`, big-endian), as written before: still
    /// read, so stores need no conversion (merges rewrite them in time).
    static let legacySparseTag: UInt8 = 0x01
    static let denseTag: UInt8 = 0x02

    /// Sparse entries are `index << 8 | rho`, sorted by index, one per non-zero register: merging
    /// two sketches is a merge of sorted arrays, and decoding is a linear read (no hashing).
    enum Storage: Hashable, Sendable {
        case sparse([UInt32])
        case dense([UInt8])
    }

    var storage: Storage = .sparse([])

    public init() {}

    public mutating func insert(_ visitor: VisitorID) {
        let (index, rho) = HyperLogLog.register(of: visitor)
        set(index: index, rho: rho)
    }

    /// The sketch of `visitors` at once, as inserting them one by one makes it (the same registers,
    /// sparse or dense alike): one sort instead of a merge of sorted lists per insert.
    public init(visitors: some Sequence<VisitorID>) {
        // A long list goes straight into registers (no sort): a busy date's cells list hundreds of
        // thousands of visitors, and sorting them was a quarter of building its rollups.
        if visitors.underestimatedCount > HyperLogLog.sparseEntriesMax * 4 {
            self = HyperLogLog(storage: .dense(HyperLogLog.registers(of: visitors))).inUsualForm()
            return
        }
        var entries = visitors.map { visitor -> UInt32 in
            let (index, rho) = HyperLogLog.register(of: visitor)
            return UInt32(index) << 8 | UInt32(rho)
        }
        entries.sort()
        // Sorted, an index's entries are adjacent and its largest rho comes last.
        var kept = [UInt32]()
        kept.reserveCapacity(entries.count)
        for entry in entries {
            if let last = kept.last, last >> 8 == entry >> 8 { kept[kept.count - 1] = entry } else { kept.append(entry) }
        }
        storage = kept.count > HyperLogLog.sparseEntriesMax ? .dense(HyperLogLog.densify(kept)) : .sparse(kept)
    }

    /// The register a visitor sets, and the value it sets it to at least.
    static func register(of visitor: VisitorID) -> (index: Int, rho: UInt8) {
        let hash = HyperLogLog.mix(visitor.rawValue)
        let rest = hash << UInt64(HyperLogLog.precision)
        return (Int(hash >> UInt64(64 - HyperLogLog.precision)), UInt8(min(rest.leadingZeroBitCount, 64 - HyperLogLog.precision) + 1))
    }

    /// The dense registers `visitors` set.
    static func registers(of visitors: some Sequence<VisitorID>) -> [UInt8] {
        var registers = [UInt8](repeating: 0, count: HyperLogLog.registerCount)
        for visitor in visitors {
            let (index, rho) = HyperLogLog.register(of: visitor)
            registers[index] = max(registers[index], rho)
        }
        return registers
    }

    /// A dense sketch of `registers` (`registerCount` of them).
    init(registers: [UInt8]) {
        precondition(registers.count == HyperLogLog.registerCount, "a dense sketch has \(HyperLogLog.registerCount) registers")
        storage = .dense(registers)
    }

    mutating func set(index: Int, rho: UInt8) {
        merge(HyperLogLog(storage: .sparse([UInt32(index) << 8 | UInt32(rho)])))
    }

    private init(storage: Storage) { self.storage = storage }

    /// Unites `other` into this sketch. Each branch takes the register array out of `storage`
    /// before writing to it, so the write does not copy 16 KiB (copy-on-write) per merge.
    public mutating func merge(_ other: HyperLogLog) {
        switch other.storage {
        case .sparse(let theirs):
            switch storage {
            case .dense(var mine):
                storage = .sparse([])
                for entry in theirs {
                    let index = Int(entry >> 8), rho = UInt8(entry & 0xff)
                    if rho > mine[index] { mine[index] = rho }
                }
                storage = .dense(mine)
            case .sparse(let mine):
                let merged = HyperLogLog.mergeSorted(mine, theirs)
                storage = merged.count > HyperLogLog.sparseEntriesMax ? .dense(HyperLogLog.densify(merged)) : .sparse(merged)
            }
        case .dense(let registers):
            var mine: [UInt8]
            switch storage {
            case .dense(let existing): mine = existing
            case .sparse(let entries): mine = HyperLogLog.densify(entries)
            }
            storage = .sparse([])
            registers.withUnsafeBufferPointer { HyperLogLog.raise(&mine, to: $0) }
            storage = .dense(mine)
        }
    }

    /// Unites an encoded sketch (`encoded`) into this one without building it first: a dense
    /// sketch is 16 KiB, and a report unites hundreds. Returns false, changing nothing, for bytes
    /// that are not a sketch.
    @discardableResult
    public mutating func merge(encoded bytes: ArraySlice<UInt8>) -> Bool {
        if bytes.first == HyperLogLog.sparseTag, case .dense(var mine) = storage {
            // Into a dense union (`RollupTotal`'s), sparse bytes are applied as they are read:
            // checked in a first pass, so bytes that are not a sketch change nothing.
            return bytes.dropFirst().withUnsafeBufferPointer { theirs in
                guard HyperLogLog.forEachDeltaCodedEntry(theirs, { _, _ in }) else { return false }
                storage = .sparse([])
                mine.withUnsafeMutableBufferPointer { mine in
                    _ = HyperLogLog.forEachDeltaCodedEntry(theirs) { index, rho in mine[index] = max(mine[index], rho) }
                }
                storage = .dense(mine)
                return true
            }
        }
        guard bytes.first == HyperLogLog.denseTag else {
            guard let sketch = HyperLogLog(encoded: bytes) else { return false }
            merge(sketch)
            return true
        }
        guard bytes.count == 1 + HyperLogLog.registerCount else { return false }
        return bytes.dropFirst().withUnsafeBufferPointer { theirs in
            // Checked first, so bytes that are not a sketch change nothing.
            guard HyperLogLog.largest(theirs) <= HyperLogLog.rhoMax else { return false }
            var mine: [UInt8]
            switch storage {
            case .dense(let existing): mine = existing
            case .sparse(let entries): mine = HyperLogLog.densify(entries)
            }
            storage = .sparse([])
            HyperLogLog.raise(&mine, to: theirs)
            storage = .dense(mine)
            return true
        }
    }

    // Both loops below are branch-free maxima, which the compiler vectorizes: a breakdown's unique
    // visitors unite one dense sketch per row and day, and loops with a branch per register were
    // a quarter of a 30-day breakdown.

    /// Raises each of `registers` to the one of `theirs` at its index (`registerCount` of each).
    static func raise(_ registers: inout [UInt8], to theirs: UnsafeBufferPointer<UInt8>) {
        registers.withUnsafeMutableBufferPointer { mine in
            for i in 0..<registerCount { mine[i] = max(mine[i], theirs[i]) }
        }
    }

    /// The largest of `registers` (0 for none).
    static func largest(_ registers: UnsafeBufferPointer<UInt8>) -> UInt8 {
        var top: UInt8 = 0
        for register in registers { top = max(top, register) }
        return top
    }

    /// The same registers in the form a sketch built by inserts and merges would have: sparse
    /// while it holds no more than `sparseEntriesMax` of them. For a union made dense up front.
    func inUsualForm() -> HyperLogLog {
        guard case .dense(let registers) = storage else { return self }
        var nonZero = 0
        for register in registers { nonZero &+= register == 0 ? 0 : 1 }
        guard nonZero <= HyperLogLog.sparseEntriesMax else { return self }
        var entries = [UInt32]()
        entries.reserveCapacity(nonZero)
        for (index, rho) in registers.enumerated() where rho != 0 { entries.append(UInt32(index) << 8 | UInt32(rho)) }
        return HyperLogLog(storage: .sparse(entries))
    }

    /// Two sorted entry lists as one, keeping the larger value where both hold an index.
    static func mergeSorted(_ a: [UInt32], _ b: [UInt32]) -> [UInt32] {
        if a.isEmpty { return b }
        if b.isEmpty { return a }
        var out = [UInt32]()
        out.reserveCapacity(a.count + b.count)
        var i = 0, j = 0
        while i < a.count && j < b.count {
            let ia = a[i] >> 8, ib = b[j] >> 8
            if ia < ib { out.append(a[i]); i += 1 }
            else if ib < ia { out.append(b[j]); j += 1 }
            else { out.append(max(a[i], b[j])); i += 1; j += 1 }
        }
        out += a[i...]
        out += b[j...]
        return out
    }

    public var estimate: Int {
        let m = Double(HyperLogLog.registerCount)
        let q = 64 - HyperLogLog.precision
        var histogram = [Double](repeating: 0, count: q + 2)
        switch storage {
        case .sparse(let entries):
            histogram[0] = m - Double(entries.count)
            for entry in entries { histogram[Int(entry & 0xff)] += 1 }
        case .dense(let registers):
            // Counted as integers: a Double per increment chains each add on the one before.
            var counts = [Int](repeating: 0, count: q + 2)
            for rho in registers { counts[Int(rho)] += 1 }
            for (rho, count) in counts.enumerated() { histogram[rho] = Double(count) }
        }
        if histogram[0] == m { return 0 }
        var z = m * HyperLogLog.tau(1 - histogram[q + 1] / m)
        for k in stride(from: q, through: 1, by: -1) { z = 0.5 * (z + histogram[k]) }
        z += m * HyperLogLog.sigma(histogram[0] / m)
        let alphaInfinity = 1 / (2 * log(2.0))
        let estimate = (alphaInfinity * m * m / z).rounded()
        // A saturated sketch (every register at its largest value) estimates past anything an
        // Int holds; it means "more than can be counted", reported as Int.max.
        guard estimate.isFinite, estimate < Double(Int.max) else { return Int.max }
        return Int(estimate)
    }

    static func sigma(_ start: Double) -> Double {
        if start == 1 { return .infinity }
        var x = start, y = 1.0, z = start
        while true {
            x *= x
            let previous = z
            z += x * y
            y += y
            if z == previous { return z }
        }
    }

    static func tau(_ start: Double) -> Double {
        if start == 0 || start == 1 { return 0 }
        var x = start, y = 1.0, z = 1 - start
        while true {
            x = x.squareRoot()
            let previous = z
            y *= 0.5
            z -= (1 - x) * (1 - x) * y
            if z == previous { return z / 3 }
        }
    }

    /// SplitMix64's mixer: visitor ids are already hashes, but this keeps the sketch sound
    /// whatever their origin.
    static func mix(_ value: UInt64) -> UInt64 {
        SplitMix64.finalize(value &+ 0x9E37_79B9_7F4A_7C15)
    }

    // MARK: Encoding

    public var encoded: [UInt8] {
        switch storage {
        case .sparse(let entries):
            var out = ByteWriter()
            out.byte(HyperLogLog.sparseTag)
            var previous: UInt32 = 0
            for entry in entries {
                let index = entry >> 8, rho = entry & 0xff
                let short = min(rho - 1, 7)
                out.varint(UInt64((index - previous) << 3 | short))
                if short == 7 { out.byte(UInt8(rho)) }
                previous = index
            }
            return out.bytes
        case .dense(let registers):
            return [HyperLogLog.denseTag] + registers
        }
    }

    public init?(encoded bytes: some Collection<UInt8>) {
        let bytes = Array(bytes)
        guard let tag = bytes.first else { return nil }
        switch tag {
        case HyperLogLog.sparseTag:
            guard let entries = HyperLogLog.deltaCodedEntries(bytes) else { return nil }
            storage = entries.count > HyperLogLog.sparseEntriesMax ? .dense(HyperLogLog.densify(entries)) : .sparse(entries)
        case HyperLogLog.legacySparseTag:
            guard (bytes.count - 1) % 3 == 0 else { return nil }
            var entries = [UInt32]()
            entries.reserveCapacity((bytes.count - 1) / 3)
            var ordered = true
            var offset = 1
            while offset < bytes.count {
                let packed = UInt32(bytes[offset]) << 16 | UInt32(bytes[offset + 1]) << 8 | UInt32(bytes[offset + 2])
                let rho = packed & 0x3f
                let index = packed >> 6
                guard rho >= 1, rho <= UInt32(HyperLogLog.rhoMax), index < HyperLogLog.registerCount else { return nil }
                if let last = entries.last, last >> 8 >= index { ordered = false }
                entries.append(index << 8 | rho)
                offset += 3
            }
            // We always write entries in order, once each; anything else is repaired, not trusted.
            if !ordered { entries = entries.sorted().reduce(into: []) { HyperLogLog.appendKeepingMax(&$0, $1) } }
            storage = entries.count > HyperLogLog.sparseEntriesMax ? .dense(HyperLogLog.densify(entries)) : .sparse(entries)
        case HyperLogLog.denseTag:
            guard bytes.count == 1 + HyperLogLog.registerCount,
                  bytes.dropFirst().withUnsafeBufferPointer(HyperLogLog.largest) <= HyperLogLog.rhoMax else { return nil }
            storage = .dense(Array(bytes.dropFirst()))
        default:
            return nil
        }
    }

    /// The entries of a delta-coded sparse sketch (`sparseTag`), or nil unless every index is
    /// a register, each greater than the one before, and every rho is in range and written the
    /// one way `encoded` writes it.
    static func deltaCodedEntries(_ bytes: [UInt8]) -> [UInt32]? {
        guard bytes.first == sparseTag else { return nil }
        var entries = [UInt32]()
        entries.reserveCapacity(bytes.count / 2)
        let valid = bytes.dropFirst().withUnsafeBufferPointer { body in
            forEachDeltaCodedEntry(body) { index, rho in entries.append(UInt32(index) << 8 | UInt32(rho)) }
        }
        return valid ? entries : nil
    }

    /// Reads delta-coded sparse entries (the bytes after the tag), giving each register index and
    /// value in order; false, having stopped, at the first thing that is not such an entry.
    static func forEachDeltaCodedEntry(_ bytes: UnsafeBufferPointer<UInt8>, _ body: (Int, UInt8) -> Void) -> Bool {
        var offset = 0
        var previous: Int?
        while offset < bytes.count {
            // A varint as `ByteReader` reads one; a gap below 2^14 and 3 bits fit 17 bits, so a
            // larger value is not ours.
            var wide: UInt64 = 0, shift: UInt64 = 0
            while true {
                guard offset < bytes.count, shift < 70, shift != 63 || bytes[offset] <= 1 else { return false }
                let byte = bytes[offset]
                offset += 1
                wide |= UInt64(byte & 0x7f) << shift
                shift += 7
                if byte < 0x80 { break }
            }
            guard wide < UInt64(registerCount) << 3 else { return false }
            let value = Int(wide), gap = value >> 3, index = (previous ?? 0) + gap
            guard previous == nil || gap >= 1, index < registerCount else { return false }
            previous = index
            var rho = UInt8(value & 7) + 1
            if rho == 8 {
                guard offset < bytes.count, bytes[offset] >= 8, bytes[offset] <= rhoMax else { return false }
                rho = bytes[offset]
                offset += 1
            }
            body(index, rho)
        }
        return true
    }

    static func densify(_ entries: [UInt32]) -> [UInt8] {
        var registers = [UInt8](repeating: 0, count: registerCount)
        for entry in entries { registers[Int(entry >> 8)] = UInt8(entry & 0xff) }
        return registers
    }

    /// Appends an entry to a sorted list, or raises the last entry if it holds the same index.
    static func appendKeepingMax(_ list: inout [UInt32], _ entry: UInt32) {
        if let last = list.last, last >> 8 == entry >> 8 {
            list[list.count - 1] = max(last, entry)
        } else {
            list.append(entry)
        }
    }
}
