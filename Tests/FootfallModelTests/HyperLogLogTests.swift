@testable import FootfallModel
import Testing

/// The sketch's documented promise (HyperLogLog.swift): p = 14, relative standard error 0.81 %,
/// every estimate within 3 standard errors (2.5 %) of the exact count from 1 to 1,000,000.
@Suite struct HyperLogLogTests {
    static let tolerance = 0.025

    func sketch(_ ids: some Sequence<Int>, seed: UInt64 = 0) -> HyperLogLog {
        var sketch = HyperLogLog()
        for i in ids { sketch.insert(visitor(i, seed: seed)) }
        return sketch
    }

    /// The sketch's registers whatever its storage, so sparse and dense forms can be compared.
    func registers(_ sketch: HyperLogLog) -> [UInt8] {
        switch sketch.storage {
        case .sparse(let entries): HyperLogLog.densify(entries)
        case .dense(let registers): registers
        }
    }

    func isSparse(_ sketch: HyperLogLog) -> Bool {
        if case .sparse = sketch.storage { return true }
        return false
    }

    func relativeError(_ estimate: Int, exact: Int) -> Double {
        exact == 0 ? Double(estimate) : abs(Double(estimate - exact)) / Double(exact)
    }

    // MARK: Accuracy

    /// Built at once from a list (with repeats, in any order) it is the sketch the inserts make,
    /// storage included: sparse below the switch to dense, dense above.
    @Test(arguments: [0, 1, 100, 2_000, 2_100, 50_000])
    func sketchOfAList_isTheSketchOfItsInserts(count: Int) {
        let ids = (0..<count).map { visitor($0 % max(1, count - count / 5)) }.reversed()
        var inserted = HyperLogLog()
        for id in ids { inserted.insert(id) }
        #expect(HyperLogLog(visitors: ids) == inserted)
    }

    /// A list long enough to go straight into registers, of few visitors, is still sparse.
    @Test func aLongListOfFewVisitors_isTheSketchOfItsInserts() {
        let ids = (0..<20_000).map { visitor($0 % 1_000) }
        var inserted = HyperLogLog()
        for id in ids { inserted.insert(id) }
        #expect(HyperLogLog(visitors: ids) == inserted)
        guard case .sparse = HyperLogLog(visitors: ids).storage else { Issue.record("1,000 visitors make a dense sketch"); return }
    }

    @Test func emptySketch_estimatesZero() {
        #expect(HyperLogLog().estimate == 0)
        #expect(HyperLogLog(encoded: [HyperLogLog.denseTag] + [UInt8](repeating: 0, count: HyperLogLog.registerCount))?.estimate == 0)
    }

    @Test(arguments: [0, 1, 10, 100, 1_000, 10_000, 100_000, 1_000_000])
    func estimate_staysWithinThreeStandardErrors(cardinality: Int) {
        let seed: UInt64 = 0x5EED_0000_0000_0000 | UInt64(cardinality)
        let estimate = sketch(0..<cardinality, seed: seed).estimate
        if cardinality == 0 {
            #expect(estimate == 0)
        } else {
            #expect(relativeError(estimate, exact: cardinality) <= Self.tolerance,
                    "estimate \(estimate) for \(cardinality) distinct ids")
        }
    }

    @Test(arguments: [1, 10, 100, 1_000, 10_000] as [Int])
    func estimate_staysWithinBound_forOtherSeeds(cardinality: Int) {
        for seed: UInt64 in [1, 0xDEAD_BEEF, 0x0123_4567_89AB_CDEF, .max] {
            let estimate = sketch(0..<cardinality, seed: seed).estimate
            #expect(relativeError(estimate, exact: cardinality) <= Self.tolerance,
                    "estimate \(estimate) for \(cardinality) distinct ids, seed \(seed)")
        }
    }

    @Test func estimate_staysWithinBound_atEveryCheckpointUpToOneMillion() {
        var sketch = HyperLogLog()
        var checkpoint = 1
        var worst = (error: 0.0, at: 0)
        for i in 1...1_000_000 {
            sketch.insert(visitor(i, seed: 0xC0FFEE))
            if i == checkpoint {
                let error = relativeError(sketch.estimate, exact: i)
                if error > worst.error { worst = (error, i) }
                checkpoint = max(checkpoint + 1, Int(Double(checkpoint) * 1.07))
            }
        }
        #expect(worst.error <= Self.tolerance, "worst relative error \(worst.error) at \(worst.at) distinct ids")
    }

    @Test func smallCardinalities_areExact() {
        // With 16,384 registers and few ids, collisions are rare and the estimator is near exact.
        for n in [1, 2, 3, 5, 8, 13, 21, 34] {
            #expect(sketch(0..<n, seed: 99).estimate == n)
        }
    }

    @Test func duplicates_doNotChangeTheSketch() {
        var once = sketch(0..<5_000)
        let snapshot = once
        for i in 0..<5_000 { once.insert(visitor(i)) }
        #expect(once == snapshot)
    }

    @Test func insertionOrder_doesNotMatter() {
        var rng = SplitMix64(seed: 42)
        for n in [700, 30_000] {
            let ordered = sketch(0..<n)
            let shuffled = sketch(Array(0..<n).shuffled(using: &rng))
            #expect(registers(ordered) == registers(shuffled))
            #expect(ordered.encoded == shuffled.encoded)
        }
    }

    // MARK: Merge

    @Test(arguments: [(0..<500, 250..<1_000), (0..<60_000, 40_000..<100_000), (0..<1_500, 1_000..<3_000), (0..<300, 0..<50_000)])
    func mergingOverlappingSets_estimatesTheUnion(a: Range<Int>, b: Range<Int>) {
        var merged = sketch(a)
        merged.merge(sketch(b))
        let union = min(a.lowerBound, b.lowerBound)..<max(a.upperBound, b.upperBound)
        #expect(relativeError(merged.estimate, exact: union.count) <= Self.tolerance)
        // Merging sketches is the same as sketching the union directly.
        #expect(registers(merged) == registers(sketch(union)))
    }

    @Test(arguments: [(10, 20), (1_500, 1_500), (100, 50_000), (50_000, 100), (40_000, 80_000)])
    func mergingEncoded_equalsMergingTheDecodedSketch(sizeA: Int, sizeB: Int) {
        let a = sketch(0..<sizeA, seed: 1), b = sketch(0..<sizeB, seed: 2)
        var decoded = a
        decoded.merge(b)
        var encoded = a
        let merged = encoded.merge(encoded: b.encoded[...])
        #expect(merged)
        #expect(registers(encoded) == registers(decoded))
        #expect(encoded.estimate == decoded.estimate)
    }

    @Test func mergingEncodedGarbage_changesNothing() {
        let a = sketch(0..<100)
        var dense = [HyperLogLog.denseTag] + [UInt8](repeating: 1, count: HyperLogLog.registerCount)
        dense[500] = HyperLogLog.rhoMax + 1
        for garbage in [[], [0x07], [HyperLogLog.denseTag, 1, 2], dense, [HyperLogLog.legacySparseTag, 0], [HyperLogLog.sparseTag, 0x80]] as [[UInt8]] {
            var merged = a
            let accepted = merged.merge(encoded: garbage[...])
            #expect(!accepted)
            #expect(merged == a)
        }
    }

    /// `RollupTotal` unites cells into a dense sketch from the start, where sparse bytes take a
    /// path of their own: the same registers as uniting the decoded sketches.
    @Test(arguments: [[10, 20], [1_500, 1_500, 3], [100, 50_000], [1, 2_049, 700, 0]])
    func mergingEncoded_intoADenseUnion_equalsMergingTheDecodedSketches(sizes: [Int]) {
        var decoded = HyperLogLog(), union = HyperLogLog(registers: [UInt8](repeating: 0, count: HyperLogLog.registerCount))
        for (seed, size) in sizes.enumerated() {
            let part = sketch(0..<size, seed: UInt64(seed))
            decoded.merge(part)
            let accepted = union.merge(encoded: part.encoded[...])
            #expect(accepted)
        }
        #expect(registers(union) == registers(decoded))
        #expect(union.estimate == decoded.estimate)
        #expect(union.inUsualForm() == decoded)
    }

    @Test(arguments: garbage)
    func mergingGarbage_intoADenseUnion_changesNothing(label: String, bytes: [UInt8]) {
        var union = HyperLogLog(registers: [UInt8](repeating: 0, count: HyperLogLog.registerCount))
        union.merge(encoded: sketch(0..<50).encoded[...])
        let before = union
        let accepted = union.merge(encoded: bytes[...])
        #expect(!accepted, "\(label)")
        #expect(union == before, "\(label)")
    }

    @Test(arguments: [(10, 20), (1_500, 1_500), (100, 50_000), (50_000, 100), (40_000, 80_000)])
    func merge_isCommutative(sizeA: Int, sizeB: Int) {
        let a = sketch(0..<sizeA, seed: 1)
        let b = sketch(0..<sizeB, seed: 2)
        var ab = a
        ab.merge(b)
        var ba = b
        ba.merge(a)
        #expect(registers(ab) == registers(ba))
        #expect(ab.estimate == ba.estimate)
        #expect(ab.encoded == ba.encoded)
    }

    @Test(arguments: [0, 10, 3_000, 50_000])
    func merge_isIdempotent(size: Int) {
        let a = sketch(0..<size, seed: 3)
        var self_ = a
        self_.merge(a)
        #expect(self_ == a)

        let b = sketch(0..<size / 2 + 1, seed: 4)
        var once = a
        once.merge(b)
        var twice = once
        twice.merge(b)
        #expect(registers(twice) == registers(once))
        #expect(twice.estimate == once.estimate)
    }

    @Test func merge_isAssociative() {
        let a = sketch(0..<800, seed: 5), b = sketch(0..<1_900, seed: 6), c = sketch(0..<20_000, seed: 7)
        var left = a
        left.merge(b)
        left.merge(c)
        var bc = b
        bc.merge(c)
        var right = a
        right.merge(bc)
        #expect(registers(left) == registers(right))
    }

    @Test func mergingAnEmptySketch_changesNothing() {
        for size in [0, 25, 40_000] {
            var a = sketch(0..<size)
            let before = a
            a.merge(HyperLogLog())
            #expect(a == before)
            var empty = HyperLogLog()
            empty.merge(before)
            #expect(registers(empty) == registers(before))
        }
    }

    @Test func mergingTwoSparseSketches_goesDensePastTheSparseLimit() {
        var a = sketch(0..<1_500, seed: 8)
        let b = sketch(0..<1_500, seed: 9)
        #expect(isSparse(a) && isSparse(b))
        a.merge(b)
        #expect(!isSparse(a))
        #expect(relativeError(a.estimate, exact: 3_000) <= Self.tolerance)
    }

    // MARK: Sparse and dense storage

    @Test func sparseSketch_goesDense_justPastTheSparseLimit() {
        func sparseCount(_ sketch: HyperLogLog) -> Int? {
            if case .sparse(let entries) = sketch.storage { return entries.count }
            return nil
        }
        var sketch = HyperLogLog()
        var i = 0
        var lastSparseCount = 0
        while let count = sparseCount(sketch) {
            #expect(count <= HyperLogLog.sparseEntriesMax)
            if count % 256 == 0 || count == HyperLogLog.sparseEntriesMax {
                #expect(sketch.encoded.count <= 1 + 2 * count, "\(sketch.encoded.count) bytes for \(count) registers")
            }
            lastSparseCount = count
            sketch.insert(visitor(i, seed: 10))
            i += 1
        }
        #expect(lastSparseCount == HyperLogLog.sparseEntriesMax)
        #expect(registers(sketch).filter { $0 != 0 }.count == HyperLogLog.sparseEntriesMax + 1)
        #expect(sketch.encoded.count == 1 + HyperLogLog.registerCount)
        #expect(sketch.encoded.first == HyperLogLog.denseTag)
    }

    @Test func sparseAndDenseForms_ofTheSameRegisters_estimateTheSame() {
        for size in [1, 7, 300, 2_000] {
            let sparse = sketch(0..<size, seed: 11)
            #expect(isSparse(sparse))
            let dense = HyperLogLog(encoded: [HyperLogLog.denseTag] + registers(sparse))
            #expect(dense.map(isSparse) == false)
            #expect(dense?.estimate == sparse.estimate)
        }
    }

    @Test func aQuietBucket_costsAFewBytes() {
        var one = HyperLogLog()
        one.insert(VisitorID(rawValue: 1))
        #expect(one.encoded.count <= 4)
        #expect(HyperLogLog().encoded == [HyperLogLog.sparseTag])
    }

    // MARK: Encoding

    @Test(arguments: [0, 1, 5, 1_000, 2_048])
    func sparseSketch_roundTripsThroughItsEncoding(size: Int) {
        let original = sketch(0..<size, seed: 12)
        #expect(isSparse(original))
        let decoded = HyperLogLog(encoded: original.encoded)
        #expect(decoded == original)
        #expect(decoded?.estimate == original.estimate)
        #expect(decoded?.encoded == original.encoded)
    }

    @Test(arguments: [5_000, 250_000])
    func denseSketch_roundTripsThroughItsEncoding(size: Int) {
        let original = sketch(0..<size, seed: 13)
        #expect(!isSparse(original))
        let decoded = HyperLogLog(encoded: original.encoded)
        #expect(decoded == original)
        #expect(decoded?.estimate == original.estimate)
    }

    @Test func decoding_acceptsAnArraySlice() {
        let original = sketch(0..<100)
        let framed = [0xAA] + original.encoded + [0xBB]
        #expect(HyperLogLog(encoded: framed[1..<(framed.count - 1)]) == original)
    }

    @Test func sparseEncodingPastTheSparseLimit_decodesDense() {
        var bytes: [UInt8] = [HyperLogLog.legacySparseTag]
        for index in 0..<3_000 {
            let packed = UInt32(index * 5) << 6 | 3
            bytes += [UInt8(packed >> 16), UInt8((packed >> 8) & 0xff), UInt8(packed & 0xff)]
        }
        let decoded = HyperLogLog(encoded: bytes)
        #expect(decoded.map(isSparse) == false)
        #expect(decoded.map { registers($0).filter { $0 == 3 }.count } == 3_000)
    }

    @Test func sparseEncoding_acceptsTheLargestRho() {
        // rho = 64 - p + 1 = 51 is the largest a 64-bit hash can give.
        let decoded = HyperLogLog(encoded: [HyperLogLog.legacySparseTag, 0x00, 0x00, 51])
        #expect(decoded.map { registers($0)[0] } == 51)
        let lastIndex = UInt32(HyperLogLog.registerCount - 1) << 6 | 1
        let last = HyperLogLog(encoded: [HyperLogLog.legacySparseTag, UInt8(lastIndex >> 16), UInt8((lastIndex >> 8) & 0xff), UInt8(lastIndex & 0xff)])
        #expect(last.map { registers($0)[HyperLogLog.registerCount - 1] } == 1)
    }

    /// The bytes of the earlier 3-byte sparse encoding of `sketch`.
    static func legacyEncoding(_ sketch: HyperLogLog) -> [UInt8] {
        guard case .sparse(let entries) = sketch.storage else { return [] }
        return [HyperLogLog.legacySparseTag] + entries.flatMap { entry -> [UInt8] in
            let packed = (entry >> 8) << 6 | (entry & 0x3f)
            return [UInt8(packed >> 16), UInt8((packed >> 8) & 0xff), UInt8(packed & 0xff)]
        }
    }

    /// Stores written before the delta-coded encoding keep every sketch: the earlier bytes
    /// decode to the very sketch the new ones do.
    @Test(arguments: [1, 100, 2_048])
    func theEarlierSparseEncoding_decodesToTheSameSketch(size: Int) {
        let original = sketch(0..<size, seed: 21)
        let legacy = HyperLogLogTests.legacyEncoding(original)
        #expect(legacy.count > 1 && (legacy.count - 1) % 3 == 0)
        #expect(HyperLogLog(encoded: legacy) == original)
        #expect(HyperLogLog(encoded: legacy)?.encoded == original.encoded)
    }

    /// A full sparse sketch (2,048 registers of 16,384) costs under two bytes a register.
    @Test func aSparseEntry_costsUnderTwoBytes() {
        let full = sketch(0..<2_048, seed: 22)
        #expect(isSparse(full))
        let entries = HyperLogLogTests.legacyEncoding(full).count / 3
        #expect(full.encoded.count < 1 + 2 * entries, "\(full.encoded.count) bytes for \(entries) registers")
    }

    /// Every index from the first register to the last, and every rho from 1 to the largest
    /// (those of 8 and more take an extra byte), round-trip.
    @Test func everyIndexAndRho_roundTrip() {
        var sketch = HyperLogLog()
        for (i, rho) in (1...HyperLogLog.rhoMax).enumerated() { sketch.set(index: i * 300, rho: rho) }
        sketch.set(index: HyperLogLog.registerCount - 1, rho: HyperLogLog.rhoMax)
        #expect(isSparse(sketch))
        #expect(HyperLogLog(encoded: sketch.encoded) == sketch)
        #expect(HyperLogLog(encoded: [HyperLogLog.sparseTag, 0x00]).map { registers($0)[0] } == 1)
    }

    static let garbage: [(String, [UInt8])] = [
        ("delta, truncated varint", [HyperLogLog.sparseTag, 0x80]),
        ("delta, the same index twice", [HyperLogLog.sparseTag, 0x08, 0x00]),
        ("delta, index past the registers", [HyperLogLog.sparseTag] + varint(UInt64(HyperLogLog.registerCount) << 3)),
        ("delta, a gap past the registers", [HyperLogLog.sparseTag, 0x08] + varint(UInt64(HyperLogLog.registerCount - 1) << 3)),
        ("delta, a varint past 17 bits", [HyperLogLog.sparseTag, 0xff, 0xff, 0xff, 0x7f]),
        ("delta, rho escape without its byte", [HyperLogLog.sparseTag, 0x07]),
        ("delta, rho escape holding 7", [HyperLogLog.sparseTag, 0x07, 7]),
        ("delta, rho escape holding 52", [HyperLogLog.sparseTag, 0x07, 52]),
        ("empty", []),
        ("zero tag", [0x00]),
        ("unknown tag", [0x04, 0x00, 0x00, 0x01]),
        ("0xff tag", [0xff]),
        ("legacy sparse, one byte over", [HyperLogLog.legacySparseTag, 0x00]),
        ("legacy sparse, two bytes over", [HyperLogLog.legacySparseTag, 0x00, 0x00, 0x41, 0x00, 0x01]),
        ("legacy sparse, rho 0", [HyperLogLog.legacySparseTag, 0x00, 0x00, 0x00]),
        ("legacy sparse, rho 52", [HyperLogLog.legacySparseTag, 0x00, 0x00, 52]),
        ("legacy sparse, rho 63", [HyperLogLog.legacySparseTag, 0x00, 0x00, 63]),
        ("legacy sparse, good then rho 0", [HyperLogLog.legacySparseTag, 0x00, 0x00, 0x01, 0x00, 0x40, 0x00]),
        ("dense, one register short", [HyperLogLog.denseTag] + [UInt8](repeating: 1, count: HyperLogLog.registerCount - 1)),
        ("dense, one register over", [HyperLogLog.denseTag] + [UInt8](repeating: 1, count: HyperLogLog.registerCount + 1)),
        ("dense, tag only", [HyperLogLog.denseTag]),
    ]

    @Test(arguments: garbage)
    func decodingGarbage_returnsNil(label: String, bytes: [UInt8]) {
        #expect(HyperLogLog(encoded: bytes) == nil, "\(label)")
    }

    // MARK: Known bugs (see the report): garbage that decodes, or decodes and then traps.

    @Test
    func sparseEntryWithIndexPastTheRegisters_returnsNil() {
        let packed = UInt32(HyperLogLog.registerCount) << 6 | 1 // index 16,384
        #expect(HyperLogLog(encoded: [HyperLogLog.legacySparseTag, UInt8(packed >> 16), UInt8((packed >> 8) & 0xff), UInt8(packed & 0xff)]) == nil)
    }

    @Test
    func sparseEntryWithIndexOver16Bits_returnsNil_withoutTrapping() async {
        await #expect(processExitsWith: .success) {
            // packed 0xFFFFC1: index 0x3FFFF, rho 1.
            precondition(HyperLogLog(encoded: [0x01, 0xFF, 0xFF, 0xC1]) == nil)
        }
    }

    @Test
    func denseRegisterAboveTheLargestRho_returnsNil() async {
        await #expect(processExitsWith: .success) {
            let bytes = [HyperLogLog.denseTag] + [UInt8](repeating: 0, count: HyperLogLog.registerCount - 1) + [52]
            if let sketch = HyperLogLog(encoded: bytes) { _ = sketch.estimate }
            precondition(HyperLogLog(encoded: bytes) == nil)
        }
    }

    @Test
    func saturatedSketch_estimateDoesNotTrap() async {
        await #expect(processExitsWith: .success) {
            for rho: UInt8 in [50, 51] {
                let bytes = [HyperLogLog.denseTag] + [UInt8](repeating: rho, count: HyperLogLog.registerCount)
                guard let sketch = HyperLogLog(encoded: bytes) else { continue }
                precondition(sketch.estimate > 0)
            }
        }
    }

    @Test
    func decodingRandomBytes_neverTraps_andMergesSafely() async {
        await #expect(processExitsWith: .success) {
            var rng = SplitMix64(seed: 2024)
            var dense = HyperLogLog()
            for i in 0..<5_000 { dense.insert(VisitorID(rawValue: UInt64(i))) }
            for round in 0..<20_000 {
                var bytes: [UInt8]
                if round % 50 == 0 {
                    bytes = [HyperLogLog.denseTag] + (0..<HyperLogLog.registerCount).map { _ in UInt8.random(in: 0...255, using: &rng) }
                } else {
                    bytes = [UInt8.random(in: 1...2, using: &rng)] + (0..<(3 * Int.random(in: 0...4, using: &rng))).map { _ in UInt8.random(in: 0...255, using: &rng) }
                }
                guard let sketch = HyperLogLog(encoded: bytes) else { continue }
                _ = sketch.estimate
                var a = dense
                a.merge(sketch)
                _ = a.estimate
            }
        }
    }
}

/// A LEB128 varint, as the sparse encoding writes it.
private func varint(_ value: UInt64) -> [UInt8] {
    var out = [UInt8](), rest = value
    while rest >= 0x80 {
        out.append(UInt8(truncatingIfNeeded: rest) | 0x80)
        rest >>= 7
    }
    return out + [UInt8(rest)]
}
