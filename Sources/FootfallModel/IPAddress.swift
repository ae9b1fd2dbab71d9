/// A parsed client IP, held in memory only: used for geo lookup, rate limiting and the cookieless
/// hash, then dropped. It has no description on purpose, so it cannot be interpolated into a log.
public struct IPAddress: Hashable, Sendable {
    /// 4 bytes for IPv4, 16 for IPv6 (IPv4-mapped IPv6 is folded to IPv4).
    public let bytes: [UInt8]

    public init?(_ text: some StringProtocol) {
        let trimmed = text.trimmingCharacters(in: " \t")
        if let v4 = IPAddress.parseV4(Substring(trimmed)) {
            bytes = v4
        } else if let v6 = IPAddress.parseV6(Substring(trimmed)) {
            if v6.prefix(12) == [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff] {
                bytes = Array(v6.suffix(4))
            } else {
                bytes = v6
            }
        } else {
            return nil
        }
    }

    public init?(bytes: [UInt8]) {
        guard bytes.count == 4 || bytes.count == 16 else { return nil }
        self.bytes = bytes
    }

    public var isV4: Bool { bytes.count == 4 }

    static func parseV4(_ text: Substring) -> [UInt8]? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var out = [UInt8]()
        for part in parts {
            guard (1...3).contains(part.count), part.allSatisfy({ $0.isASCII && $0.isNumber }), let value = UInt8(part) else { return nil }
            out.append(value)
        }
        return out
    }

    static func parseV6(_ raw: Substring) -> [UInt8]? {
        var text = raw
        if text.hasPrefix("[") && text.hasSuffix("]") { text = text.dropFirst().dropLast() }
        if let zone = text.firstIndex(of: "%") { text = text[..<zone] }
        guard text.contains(":"), text.count <= 45 else { return nil }
        let halves = text.components(separatedBy: "::")
        guard halves.count <= 2 else { return nil }
        // An embedded IPv4 may only end the address, so only the last part may hold one.
        func groups(_ part: String, mayEndWithV4: Bool) -> [UInt8]? {
            if part.isEmpty { return [] }
            var out = [UInt8]()
            let pieces = part.split(separator: ":", omittingEmptySubsequences: false)
            for (index, piece) in pieces.enumerated() {
                if mayEndWithV4, index == pieces.count - 1, piece.contains("."), let v4 = parseV4(piece) {
                    out += v4
                    continue
                }
                guard (1...4).contains(piece.count), piece.allSatisfy(\.isHexDigit), let value = UInt16(piece, radix: 16) else { return nil }
                out += [UInt8(value >> 8), UInt8(value & 0xff)]
            }
            return out
        }
        guard let head = groups(halves[0], mayEndWithV4: halves.count == 1) else { return nil }
        if halves.count == 1 { return head.count == 16 ? head : nil }
        guard let tail = groups(halves[1], mayEndWithV4: true), head.count + tail.count <= 14 else { return nil }
        return head + [UInt8](repeating: 0, count: 16 - head.count - tail.count) + tail
    }
}

extension StringProtocol {
    func trimmingCharacters(in set: String) -> String {
        let scalars = Set(set)
        var slice = Substring(self)
        while let first = slice.first, scalars.contains(first) { slice = slice.dropFirst() }
        while let last = slice.last, scalars.contains(last) { slice = slice.dropLast() }
        return String(slice)
    }
}
