/// How long a site's raw visitor data lives (promise 7): 30 to 360 days by plan, never more.
/// Aggregates (rollups) are not covered: they hold no personal data and stay while the account
/// lives. Expiry is by whole UTC days, so it can be enforced with range deletes of day buckets.
public struct RetentionPlan: Hashable, Sendable, Codable {
    public static let daysMin = 30
    public static let daysMax = 360
    public static let `default` = RetentionPlan(uncheckedDays: 180)

    public let days: Int

    /// Fails for plans outside 30...360 days rather than clamping silently.
    public init?(days: Int) {
        guard (RetentionPlan.daysMin...RetentionPlan.daysMax).contains(days) else { return nil }
        self.days = days
    }

    private init(uncheckedDays: Int) { days = uncheckedDays }

    /// The first day whose events are still kept at `nowMs`; everything before it is expired.
    /// Today and the `days - 1` before it are kept, so no event is ever older than `days` days.
    public func firstKeptDay(nowMs: Int64) -> Day {
        Day(containing: nowMs).advanced(by: -(days - 1))
    }

    public func cutoffMs(nowMs: Int64) -> Int64 { firstKeptDay(nowMs: nowMs).startMs }

    public func isExpired(eventMs: Int64, nowMs: Int64) -> Bool { eventMs < cutoffMs(nowMs: nowMs) }
}

/// Accounts nobody logged in to (or used a token of) for this long are deleted with their sites
/// and data (promise 11).
public enum AccountExpiry {
    public static let idleDaysMax: Int64 = 720

    public static func isExpired(lastActiveMs: Int64, nowMs: Int64) -> Bool {
        nowMs - lastActiveMs > idleDaysMax * TimeUnits.dayMs
    }
}
