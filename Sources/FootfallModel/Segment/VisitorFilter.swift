/// A Bloom filter of the visitors a sealed day holds, stored beside its segment: an erasure or a
/// visitor's access request asks every day of a retention whether the visitor is there, and the
/// filter answers "surely not" for nearly every day without reading the day. Ten bits and seven
/// probes per visitor: about 1 % of days without the visitor are read anyway; none with the
/// visitor is ever skipped.
public struct VisitorFilter: Equatable, Sendable {
    private static let version: UInt8 = 1
    static let bitsPerVisitor = 10
    static let probes = 7
    /// A day holds at most `partsMax × rowsMax` rows; a filter claiming more bits is damaged.
    static let bytesMax = 1 << 28

    private let bits: [UInt8]

    public init(_ visitors: some Collection<VisitorID>) {
        var bits = [UInt8](repeating: 0, count: max(8, (visitors.count * VisitorFilter.bitsPerVisitor + 7) / 8))
        for visitor in visitors {
            for bit in VisitorFilter.positions(of: visitor, bitCount: bits.count * 8) { bits[bit >> 3] |= 1 << UInt8(bit & 7) }
        }
        self.bits = bits
    }

    public func mayHold(_ visitor: VisitorID) -> Bool {
        VisitorFilter.positions(of: visitor, bitCount: bits.count * 8).allSatisfy { bits[$0 >> 3] & (1 << UInt8($0 & 7)) != 0 }
    }

    public var encoded: [UInt8] { [VisitorFilter.version] + bits }

    /// Nil for bytes this version did not write.
    public init?(encoded bytes: [UInt8]) {
        guard bytes.count >= 9, bytes.count <= VisitorFilter.bytesMax + 1, bytes[0] == VisitorFilter.version else { return nil }
        bits = Array(bytes.dropFirst())
    }

    /// Double hashing over the visitor id (already a hash) and a mix of it.
    private static func positions(of visitor: VisitorID, bitCount: Int) -> [Int] {
        let first = visitor.rawValue, step = SplitMix64.finalize(visitor.rawValue) | 1
        return (0..<UInt64(probes)).map { Int((first &+ $0 &* step) % UInt64(bitCount)) }
    }
}
