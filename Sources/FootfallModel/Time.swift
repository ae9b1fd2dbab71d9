/// Footfall's units of time. Storage days and rollup buckets are UTC; a site's time zone is applied
/// only when a query turns local dates into bucket ranges.
public enum TimeUnits {
    public static let minuteMs: Int64 = 60_000
    public static let quarterHourMs: Int64 = 15 * minuteMs
    public static let hourMs: Int64 = 60 * minuteMs
    public static let dayMs: Int64 = 24 * hourMs
}

/// A UTC day, as days since the Unix epoch: the unit of raw-event storage and retention.
public struct Day: Hashable, Sendable, Comparable, Strideable {
    public let index: UInt32
    public init(index: UInt32) { self.index = index }
    public init(containing ms: Int64) { index = UInt32(clamping: max(0, ms) / TimeUnits.dayMs) }
    public var startMs: Int64 { Int64(index) * TimeUnits.dayMs }
    public static func < (a: Day, b: Day) -> Bool { a.index < b.index }
    public func advanced(by n: Int) -> Day { Day(index: UInt32(clamping: Int(index) + n)) }
    public func distance(to other: Day) -> Int { Int(other.index) - Int(index) }
}

/// A 15-minute UTC bucket, the unit of rollups. Every real time zone offset (including +5:30,
/// +5:45 and DST days of 23 or 25 hours) is a whole number of quarter hours, so any local day is a
/// contiguous range of these buckets and a query in any zone is exact.
public struct QuarterHour: Hashable, Sendable, Comparable, Strideable {
    public let index: UInt32
    public init(index: UInt32) { self.index = index }
    public init(containing ms: Int64) { index = UInt32(clamping: max(0, ms) / TimeUnits.quarterHourMs) }
    public var startMs: Int64 { Int64(index) * TimeUnits.quarterHourMs }
    public static func < (a: QuarterHour, b: QuarterHour) -> Bool { a.index < b.index }
    public func advanced(by n: Int) -> QuarterHour { QuarterHour(index: UInt32(clamping: Int(index) + n)) }
    public func distance(to other: QuarterHour) -> Int { Int(other.index) - Int(index) }
}

/// A half-open interval of Unix milliseconds.
public struct TimeRange: Hashable, Sendable {
    public let startMs: Int64
    public let endMs: Int64
    public init(startMs: Int64, endMs: Int64) {
        precondition(startMs <= endMs, "time range start \(startMs) after end \(endMs)")
        self.startMs = startMs
        self.endMs = endMs
    }
    public func contains(_ ms: Int64) -> Bool { ms >= startMs && ms < endMs }
    public var durationMs: Int64 { endMs - startMs }

    /// The quarter-hour buckets that cover the range; callers align ranges to quarter hours.
    public var quarterHours: Range<QuarterHour> {
        QuarterHour(containing: startMs)..<QuarterHour(index: UInt32(clamping: (endMs + TimeUnits.quarterHourMs - 1) / TimeUnits.quarterHourMs))
    }

    public var days: ClosedRange<Day> {
        Day(containing: startMs)...Day(containing: max(startMs, endMs - 1))
    }
}
