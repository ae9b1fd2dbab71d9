import Foundation

/// Footfall's units of time. Raw-event storage days and quarter-hour rollup buckets are UTC; the
/// daily rollup tier is kept per date in the site's time zone (`SiteCalendar`).
public enum TimeUnits {
    public static let minuteMs: Int64 = 60_000
    public static let quarterHourMs: Int64 = 15 * minuteMs
    public static let hourMs: Int64 = 60 * minuteMs
    public static let dayMs: Int64 = 24 * hourMs
}

/// A date, as days since 1970-01-01: a UTC day (the unit of raw-event storage and retention), or
/// a local date of a site's calendar (the unit of the daily rollup tier).
public struct Day: Hashable, Sendable, Comparable, Strideable {
    public let index: UInt32
    public init(index: UInt32) { self.index = index }
    public init(containing ms: Int64) { index = UInt32(clamping: max(0, ms) / TimeUnits.dayMs) }
    public var startMs: Int64 { Int64(index) * TimeUnits.dayMs }
    public static func < (a: Day, b: Day) -> Bool { a.index < b.index }
    public func advanced(by n: Int) -> Day { Day(index: UInt32(clamping: Int(index) + n)) }
    public func distance(to other: Day) -> Int { Int(other.index) - Int(index) }
}

/// A 15-minute UTC bucket, the unit of the fine rollup tier (hourly charts). Every real time zone
/// offset (including +5:30, +5:45 and DST days of 23 or 25 hours) is a whole number of quarter
/// hours, so any local hour or day is a contiguous range of these buckets.
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

/// Local dates in a site's time zone. The daily rollup tier is kept per local date, so a report
/// (always whole local days) reads one cell per day and dimension in any zone. The zone a cell
/// counts in is the site's zone when its date is built (`EventStore.buildRollups`): after the
/// owner changes it, dates already built keep the boundaries they were counted with (as Google
/// Analytics keeps recorded days).
public struct SiteCalendar: Sendable, Hashable {
    public let timeZone: TimeZone
    /// Set for zones that never leave UTC, so the hot path needs no zone lookup.
    private let isUTC: Bool

    public static let utc = SiteCalendar(timeZone: TimeZone(identifier: "UTC")!)

    public init(timeZone: TimeZone) {
        self.timeZone = timeZone
        isUTC = ["UTC", "GMT", "Etc/UTC", "Etc/GMT"].contains(timeZone.identifier)
    }

    /// The calendar of an IANA zone name; UTC for a name this system does not know.
    public init(identifier: String) {
        self.init(timeZone: TimeZone(identifier: identifier) ?? SiteCalendar.utc.timeZone)
    }

    /// When the local date `day` begins. Local midnight lies within 14 hours of the UTC one, and
    /// every zone offset is a whole number of quarter hours: it is the first quarter hour of that
    /// span whose local date is `day` (local dates never go back, daylight-saving time included).
    public func startMs(of day: Day) -> Int64 {
        guard !isUTC else { return day.startMs }
        var low = QuarterHour(containing: day.startMs - 14 * TimeUnits.hourMs), high = QuarterHour(containing: day.startMs + 14 * TimeUnits.hourMs)
        while low < high {
            let middle = low.advanced(by: low.distance(to: high) / 2)
            if self.day(containing: middle.startMs) < day { low = middle.advanced(by: 1) } else { high = middle }
        }
        return low.startMs
    }

    /// The local date at an instant.
    public func day(containing ms: Int64) -> Day {
        guard !isUTC else { return Day(containing: ms) }
        let offsetMs = Int64(timeZone.secondsFromGMT(for: Date(timeIntervalSince1970: Double(ms) / 1000))) * 1000
        return Day(containing: ms + offsetMs)
    }
}
