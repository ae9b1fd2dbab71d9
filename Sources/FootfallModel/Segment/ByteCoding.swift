/// Building blocks of the segment encoding: LEB128 varints, bit-packed code arrays and a
/// bounds-checked reader that returns nil instead of trapping on any malformed input (a stored
/// value may come from a bad disk or a peer).
struct ByteWriter {
    private(set) var bytes: [UInt8] = []

    mutating func byte(_ value: UInt8) { bytes.append(value) }

    mutating func varint(_ value: UInt64) {
        var rest = value
        while rest >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: rest) | 0x80)
            rest >>= 7
        }
        bytes.append(UInt8(rest))
    }

    mutating func varint(_ value: Int) { varint(UInt64(value)) }

    mutating func raw(_ data: some Collection<UInt8>) { bytes.append(contentsOf: data) }

    /// A length-prefixed UTF-8 string.
    mutating func string(_ text: String) {
        varint(text.utf8.count)
        bytes.append(contentsOf: text.utf8)
    }

    /// `codes`, each below 2^width, packed least significant bit first.
    mutating func packed(_ codes: [UInt32], width: Int) {
        precondition((0...32).contains(width))
        guard width > 0 else { return }
        var accumulator: UInt64 = 0, bits = 0
        bytes.reserveCapacity(bytes.count + (codes.count * width + 7) / 8)
        for code in codes {
            assert(width == 32 || code >> UInt32(width) == 0, "code \(code) wider than \(width) bits")
            accumulator |= UInt64(code) << UInt64(bits)
            bits += width
            while bits >= 8 {
                bytes.append(UInt8(truncatingIfNeeded: accumulator))
                accumulator >>= 8
                bits -= 8
            }
        }
        if bits > 0 { bytes.append(UInt8(truncatingIfNeeded: accumulator)) }
    }

    /// Bits needed for codes below `count`.
    static func width(for count: Int) -> Int {
        count <= 1 ? 0 : Int.bitWidth - (count - 1).leadingZeroBitCount
    }
}

struct ByteReader {
    let bytes: [UInt8]
    private(set) var offset = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    var isAtEnd: Bool { offset == bytes.count }
    var remaining: Int { bytes.count - offset }

    mutating func byte() -> UInt8? {
        guard offset < bytes.count else { return nil }
        defer { offset += 1 }
        return bytes[offset]
    }

    mutating func take(_ count: Int) -> ArraySlice<UInt8>? {
        guard count >= 0, count <= remaining else { return nil }
        defer { offset += count }
        return bytes[offset..<offset + count]
    }

    /// A varint of at most 10 bytes that fits 64 bits.
    mutating func varint() -> UInt64? {
        var value: UInt64 = 0
        for shift in stride(from: 0, to: 70, by: 7) {
            guard let next = byte() else { return nil }
            if shift == 63 && next > 1 { return nil }
            value |= UInt64(next & 0x7f) << UInt64(shift)
            if next & 0x80 == 0 { return value }
        }
        return nil
    }

    /// A varint no greater than `limit`, as an Int (nil for any value when `limit` is negative).
    mutating func count(atMost limit: Int) -> Int? {
        guard limit >= 0, let value = varint(), value <= UInt64(limit) else { return nil }
        return Int(value)
    }

    mutating func string(lengthMax: Int) -> String? {
        guard let length = count(atMost: lengthMax), let utf8 = take(length) else { return nil }
        return String(validating: utf8, as: UTF8.self)
    }

    /// `count` codes of `width` bits, each checked to be below `bound`.
    mutating func packed(count: Int, width: Int, bound: Int) -> [UInt32]? {
        guard (0...32).contains(width), count >= 0 else { return nil }
        guard width > 0 else { return bound > 0 || count == 0 ? [UInt32](repeating: 0, count: count) : nil }
        let (bitCount, overflow) = count.multipliedReportingOverflow(by: width)
        guard !overflow, let data = take((bitCount + 7) / 8) else { return nil }
        var codes = [UInt32]()
        codes.reserveCapacity(count)
        var accumulator: UInt64 = 0, bits = 0
        var index = data.startIndex
        let mask: UInt64 = (1 << UInt64(width)) - 1
        for _ in 0..<count {
            while bits < width {
                accumulator |= UInt64(data[index]) << UInt64(bits)
                index += 1
                bits += 8
            }
            let code = UInt32(truncatingIfNeeded: accumulator & mask)
            guard code < bound else { return nil }
            codes.append(code)
            accumulator >>= UInt64(width)
            bits -= width
        }
        return codes
    }
}

/// CRC-32C (Castagnoli), the checksum RocksDB and iSCSI use: guards a segment against a torn or
/// damaged value that still decodes.
enum CRC32C {
    private static let table: [UInt32] = (0..<256).map { index in
        var crc = UInt32(index)
        for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0x82F6_3B78 : crc >> 1 }
        return crc
    }

    static func checksum(_ bytes: some Sequence<UInt8>) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes { crc = table[Int((crc ^ UInt32(byte)) & 0xff)] ^ (crc >> 8) }
        return ~crc
    }
}
