/// The rollup cells of one metric in one bucket (a local date or a quarter hour), one per
/// dimension value, stored as one value. A report reads a day of a breakdown as one value instead
/// of a key per dimension value: a 30-day breakdown of a thousand pages was 30,000 keys, and
/// iterating them was most of its time. Packs merge entry by entry (`RollupCell.merge`), which is
/// commutative and associative, so RocksDB's merge operator can apply them in any order.
///
/// Encoding: a tag byte, then one entry per dimension in dimension order: the dimension's UTF-8
/// length (LEB128) and bytes, then the encoded cell's length (LEB128) and bytes.
public enum RollupPack {
    public static let tag: UInt8 = 0x10

    public static func encode(_ cells: [String: RollupCell]) -> [UInt8] {
        var out: [UInt8] = [tag]
        for dimension in cells.keys.sorted() { append(dimension, cells[dimension]!.encoded[...], to: &out) }
        return out
    }

    /// The pack's entries: each dimension with its cell still encoded (a reader decodes only the
    /// cells it needs). Nil for bytes that are not a whole pack.
    public static func entries(_ bytes: [UInt8]) -> [(dimension: String, cell: ArraySlice<UInt8>)]? {
        guard bytes.first == tag else { return nil }
        var out = [(dimension: String, cell: ArraySlice<UInt8>)]()
        var offset = 1
        while offset < bytes.count {
            guard let dimensionCount = readLength(bytes, &offset), dimensionCount <= bytes.count - offset else { return nil }
            let dimension = String(decoding: bytes[offset..<offset + dimensionCount], as: UTF8.self)
            offset += dimensionCount
            guard let cellCount = readLength(bytes, &offset), cellCount <= bytes.count - offset else { return nil }
            out.append((dimension, bytes[offset..<offset + cellCount]))
            offset += cellCount
        }
        return out
    }

    /// The pack's cells, decoded; undecodable cells are left out. Nil for bytes that are not a pack.
    public static func decode(_ bytes: [UInt8]) -> [String: RollupCell]? {
        guard let entries = entries(bytes) else { return nil }
        var cells = [String: RollupCell]()
        for (dimension, cell) in entries {
            if let decoded = RollupCell(encoded: cell) { cells[dimension, default: RollupCell(count: 0)].merge(decoded) }
        }
        return cells
    }

    /// Folds an existing value and merge operands into one, as RocksDB's merge operator does. A
    /// dimension held by one of them keeps its bytes as they are; only cells of the same dimension
    /// are decoded and merged. Values that are not packs are skipped rather than poisoning the rest.
    public static func mergeEncoded(existing: [UInt8]?, operands: [[UInt8]]) -> [UInt8] {
        var parts = [String: [ArraySlice<UInt8>]]()
        for value in (existing.map { [$0] } ?? []) + operands {
            for (dimension, cell) in entries(value) ?? [] { parts[dimension, default: []].append(cell) }
        }
        var out: [UInt8] = [tag]
        for dimension in parts.keys.sorted() {
            let cells = parts[dimension]!
            if cells.count == 1 {
                append(dimension, cells[0], to: &out)
                continue
            }
            var merged = RollupCell(count: 0)
            for cell in cells { if let decoded = RollupCell(encoded: cell) { merged.merge(decoded) } }
            if merged.count != 0 || merged.visitors != nil { append(dimension, merged.encoded[...], to: &out) }
        }
        return out
    }

    private static func append(_ dimension: String, _ cell: ArraySlice<UInt8>, to out: inout [UInt8]) {
        let bytes = Array(dimension.utf8)
        writeLength(bytes.count, to: &out)
        out += bytes
        writeLength(cell.count, to: &out)
        out += cell
    }

    private static func writeLength(_ length: Int, to out: inout [UInt8]) {
        var rest = UInt(length)
        while rest >= 0x80 {
            out.append(UInt8(rest & 0x7f) | 0x80)
            rest >>= 7
        }
        out.append(UInt8(rest))
    }

    /// A LEB128 length, or nil past the end or beyond what any pack holds.
    private static func readLength(_ bytes: [UInt8], _ offset: inout Int) -> Int? {
        var value = 0, shift = 0
        while offset < bytes.count, shift <= 28 {
            let byte = bytes[offset]
            offset += 1
            value |= Int(byte & 0x7f) << shift
            if byte < 0x80 { return value }
            shift += 7
        }
        return nil
    }
}
