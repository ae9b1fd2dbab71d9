import FootfallCrypto

/// A site's id is the domain its owner registered ("example.com"): lowercase letters, digits,
/// dots and dashes, 1...253 characters. It appears in every key of that site, length-prefixed,
/// so two sites never share a key prefix.
public struct SiteID: Hashable, Sendable, Comparable, CustomStringConvertible {
    public let rawValue: String

    public init?(_ text: String) {
        let lowered = text.lowercased()
        let bytes = Array(lowered.utf8)
        guard (1...253).contains(bytes.count),
              bytes.allSatisfy({ $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "-") || ($0 >= 48 && $0 <= 57) || ($0 >= 97 && $0 <= 122) }),
              bytes.first != UInt8(ascii: "."), bytes.last != UInt8(ascii: ".")
        else { return nil }
        rawValue = lowered
    }

    public var description: String { rawValue }
    public static func < (a: SiteID, b: SiteID) -> Bool { a.rawValue < b.rawValue }
}

/// Who did something on a site, as a 64-bit id that is only meaningful within that site.
///
/// Cookieless visitors get a keyed hash of (daily salt, site, IP, user agent) that changes every
/// UTC day; consenting visitors get a hash of (site, first-party id) that stays. Either way the
/// same person has unrelated ids on two sites, which is what promise 5 asks for.
public struct VisitorID: Hashable, Sendable, Comparable, CustomStringConvertible {
    public let rawValue: UInt64
    public init(rawValue: UInt64) { self.rawValue = rawValue }

    public static func cookieless(salt: [UInt8], site: SiteID, ip: [UInt8], userAgent: String) -> VisitorID {
        var message = Array(site.rawValue.utf8)
        message.append(0)
        message += ip
        message.append(0)
        message += Array(userAgent.utf8)
        return VisitorID(rawValue: UInt64(bigEndianBytes: Crypto.hmacSHA256(key: salt, data: message).prefix(8)))
    }

    /// The first-party id a consenting tracker keeps, mapped into the site's id space.
    public static func consented(site: SiteID, clientID: String) -> VisitorID {
        let digest = Crypto.sha256(Array("footfall.visitor\u{0}\(site.rawValue)\u{0}\(clientID)".utf8))
        return VisitorID(rawValue: UInt64(bigEndianBytes: digest.prefix(8)))
    }

    /// 16 hex digits, the form used in URLs and exports.
    public var description: String { Hex.encode(rawValue.bigEndianBytes) }

    public init?(hex: String) {
        guard hex.utf8.count == 16, let bytes = Hex.decode(hex) else { return nil }
        rawValue = UInt64(bigEndianBytes: bytes)
    }

    public static func < (a: VisitorID, b: VisitorID) -> Bool { a.rawValue < b.rawValue }
}

/// A 128-bit, time-ordered event id: 48 bits of Unix milliseconds, then 80 bits that identify the
/// hit. Ids from the tracker derive the 80 bits from the site and the hit's random id, so a retry
/// of the same hit is the same event; server-made ids use a per-process random node field and a
/// sequence number, so a restarted node whose clock stepped back still cannot collide.
public struct EventID: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// The 16 bytes as two big-endian words: an id is two integers to copy, hash and compare (a
    /// segment holds one per row), not an array on the heap.
    private let high: UInt64
    private let low: UInt64

    public init?(bytes: [UInt8]) {
        guard bytes.count == 16 else { return nil }
        high = UInt64(bigEndianBytes: bytes[0..<8])
        low = UInt64(bigEndianBytes: bytes[8..<16])
    }

    public var bytes: [UInt8] { high.bigEndianBytes + low.bigEndianBytes }

    public static func forHit(site: SiteID, hitID: String, timestampMs: Int64) -> EventID {
        let digest = Crypto.sha256(Array("footfall.hit\u{0}\(site.rawValue)\u{0}\(hitID)".utf8))
        return EventID(timestampMs: timestampMs, tail: Array(digest.prefix(10)))
    }

    public static func serverMade(timestampMs: Int64, node: UInt32, sequence: UInt64) -> EventID {
        // 32 bits of node field and 48 bits of sequence.
        EventID(timestampMs: timestampMs, tail: node.bigEndianBytes + Array(sequence.bigEndianBytes.suffix(6)))
    }

    private init(timestampMs: Int64, tail: [UInt8]) {
        let ms = UInt64(max(0, timestampMs)) & 0x0000_FFFF_FFFF_FFFF
        self.init(bytes: Array(ms.bigEndianBytes.suffix(6)) + tail)!
    }

    public var timestampMs: Int64 { Int64(high >> 16) }
    public var description: String { Hex.encode(bytes) }

    /// The 80 bits after the time, as their first 16 and last 64: what a segment keeps of an id
    /// whose time is its row's (`SegmentIDs`).
    var tail: (first: UInt16, last: UInt64) { (UInt16(truncatingIfNeeded: high), low) }

    /// The id stamped `timestampMs` (48 bits of it) with `tail`.
    init(timestampMs: Int64, tail: (first: UInt16, last: UInt64)) {
        high = UInt64(truncatingIfNeeded: timestampMs) << 16 | UInt64(tail.first)
        low = tail.last
    }

    public init?(hex: String) {
        guard let decoded = Hex.decode(hex) else { return nil }
        self.init(bytes: decoded)
    }

    public static func < (a: EventID, b: EventID) -> Bool { (a.high, a.low) < (b.high, b.low) }
}

extension FixedWidthInteger {
    public var bigEndianBytes: [UInt8] {
        withUnsafeBytes(of: self.bigEndian) { Array($0) }
    }

    public init(bigEndianBytes bytes: some Collection<UInt8>) {
        precondition(bytes.count == MemoryLayout<Self>.size, "need \(MemoryLayout<Self>.size) bytes, got \(bytes.count)")
        var value: Self = 0
        for byte in bytes { value = value << 8 | Self(byte) }
        self = value
    }
}
