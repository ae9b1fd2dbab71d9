import Foundation
import FootfallModel
import FootfallStorage

/// A report's scope: one site, a time range in the site's zone, optional filters.
public struct ReportScope: Sendable {
    public var site: Site
    /// Whole local days of the site's zone, as UTC milliseconds.
    public var range: TimeRange
    public var filters: [ReportFilter]
    public var timeZone: TimeZone

    /// The range's days as local dates: the keys of the daily rollup tier.
    public var days: ClosedRange<Day> {
        let calendar = SiteCalendar(timeZone: timeZone)
        return calendar.day(containing: range.startMs)...calendar.day(containing: max(range.startMs, range.endMs - 1))
    }

    public init(site: Site, range: TimeRange, filters: [ReportFilter] = []) {
        self.site = site
        self.range = range
        self.filters = filters
        timeZone = TimeZone(identifier: site.timeZone) ?? .gmt
    }

    /// A scope as an API request gives it (HTTP query or gRPC message): local dates `from` and `to`
    /// (both or neither, which means the last 30 days) and (dimension name, value) filters.
    public init(site: Site, from: String?, to: String?, filters: [(String, String)], nowMs: Int64) throws {
        let timeZone = TimeZone(identifier: site.timeZone) ?? .gmt
        let range: TimeRange
        switch (from, to) {
        case let (from?, to?): range = try ReportScope.localDays(from: from, to: to, timeZone: timeZone)
        case (nil, nil): range = ReportScope.lastDays(30, nowMs: nowMs, timeZone: timeZone)
        default: throw FootfallError.invalid("give both from and to (YYYY-MM-DD), or neither for the last 30 days")
        }
        let parsed = try filters.sorted { $0.0 < $1.0 }.map { name, value in
            guard let metric = RollupMetric(name: name), RollupMetric.breakdowns.contains(metric) else {
                throw FootfallError.invalid("unknown filter \(String(name.prefix(64)))")
            }
            return ReportFilter(metric: metric, value: value)
        }
        self.init(site: site, range: range, filters: parsed)
    }

    /// Local dates `from`...`to` (inclusive, "YYYY-MM-DD") in the site's zone, as a UTC range.
    /// A local day is 23, 24 or 25 hours long, and every zone offset is a whole number of quarter
    /// hours, so the range is exactly a run of rollup buckets.
    public static func localDays(from: String, to: String, timeZone: TimeZone) throws -> TimeRange {
        guard let start = localMidnight(from, timeZone), let last = localMidnight(to, timeZone) else {
            throw FootfallError.invalid("dates must be YYYY-MM-DD")
        }
        guard start <= last else { throw FootfallError.invalid("from must not be after to") }
        guard let end = nextLocalMidnight(after: last, timeZone), end - start <= 400 * TimeUnits.dayMs else {
            throw FootfallError.invalid("a report spans at most 400 days")
        }
        return TimeRange(startMs: start, endMs: end)
    }

    static func calendar(_ timeZone: TimeZone) -> Calendar {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        return calendar
    }

    static func localMidnight(_ text: String, _ timeZone: TimeZone) -> Int64? {
        let parts = text.split(separator: "-")
        guard parts.count == 3, let y = Int(parts[0]), let m = Int(parts[1]), let d = Int(parts[2]),
              (1970...9999).contains(y), (1...12).contains(m), (1...31).contains(d),
              let date = calendar(timeZone).date(from: DateComponents(year: y, month: m, day: d)),
              calendar(timeZone).component(.day, from: date) == d
        else { return nil }
        return Int64((date.timeIntervalSince1970 * 1000).rounded())
    }

    static func nextLocalMidnight(after ms: Int64, _ timeZone: TimeZone) -> Int64? {
        let date = Date(timeIntervalSince1970: Double(ms) / 1000)
        guard let next = calendar(timeZone).date(byAdding: .day, value: 1, to: date) else { return nil }
        return Int64((calendar(timeZone).startOfDay(for: next).timeIntervalSince1970 * 1000).rounded())
    }

    /// Today and the 29 days before it, in the zone.
    public static func lastDays(_ count: Int, nowMs: Int64, timeZone: TimeZone) -> TimeRange {
        let calendar = calendar(timeZone)
        let today = calendar.startOfDay(for: Date(timeIntervalSince1970: Double(nowMs) / 1000))
        let start = calendar.date(byAdding: .day, value: -(count - 1), to: today)!
        let end = calendar.date(byAdding: .day, value: 1, to: today)!
        return TimeRange(startMs: Int64((start.timeIntervalSince1970 * 1000).rounded()), endMs: Int64((end.timeIntervalSince1970 * 1000).rounded()))
    }
}


/// Reports for a site. Unfiltered reports read only rollups, so they cover any period the
/// account has existed, long after raw events expired. Filtered reports are computed from raw
/// events (exact counts), so they reach back only as far as the site's retention.
public struct Reports: Sendable {
    let store: EventStore
    /// How many cores a filtered report's analysis uses (`ShardedAnalysis`).
    let analysisShards: Int

    public init(store: EventStore, analysisShards: Int = min(8, ProcessInfo.processInfo.activeProcessorCount)) {
        self.store = store
        self.analysisShards = analysisShards
    }

    public func summary(_ scope: ReportScope, nowMs: Int64) throws -> Summary {
        if !scope.filters.isEmpty { return try rawAnswer(scope, nowMs: nowMs, tally: SummaryTally.init) }
        let total = try store.dayTotals(site: scope.site.id, metric: .total, days: scope.days)[""] ?? RollupTotal()
        return Summary(pageviews: total.count, visitors: Int64(total.visitors?.estimate ?? 0), visits: try sum(scope, .visits),
                       bounces: try sum(scope, .bounces), visitDurationMs: try sum(scope, .visitDuration), events: try sum(scope, .customEvent))
    }

    private func sum(_ scope: ReportScope, _ metric: RollupMetric) throws -> Int64 {
        try store.dayTotals(site: scope.site.id, metric: metric, days: scope.days).values.reduce(0) { $0 + $1.count }
    }

    public func breakdown(_ scope: ReportScope, by metric: RollupMetric, limit: Int, nowMs: Int64) throws -> [BreakdownRow] {
        func ranked(_ rows: [BreakdownRow]) -> [BreakdownRow] {
            Array(rows.sorted { ($0.count, $1.value) > ($1.count, $0.value) }.prefix(limit))
        }
        guard scope.filters.isEmpty else { return ranked(try rawAnswer(scope, nowMs: nowMs) { BreakdownTally(metric) }) }
        // Rows are ranked by count first and only those shown unite and estimate their visitor
        // sketches: that is most of a row's cost, and a breakdown can have thousands of rows.
        let cells = try store.dayTotals(site: scope.site.id, metric: metric, days: scope.days).filter { $0.value.count > 0 }
        return ranked(cells.map { BreakdownRow(value: $0.key, count: $0.value.count, visitors: nil) }).map { row in
            var row = row
            row.visitors = cells[row.value]?.visitors.map { Int64($0.estimate) }
            return row
        }
    }

    public enum Interval: String, Sendable {
        case hour, day
    }

    public func timeseries(_ scope: ReportScope, interval: Interval, nowMs: Int64) throws -> [TimeseriesPoint] {
        // Each hour holds a visitor sketch of up to 16 KiB: bound the points one request makes.
        guard interval == .day || scope.range.durationMs <= 31 * TimeUnits.dayMs else {
            throw FootfallError.invalid("hourly timeseries span at most 31 days; use interval=day")
        }
        let starts = intervalStarts(scope, interval)
        guard !starts.isEmpty else { return [] }
        guard scope.filters.isEmpty else { return try rawAnswer(scope, nowMs: nowMs) { TimeseriesTally(starts: starts, endMs: scope.range.endMs) } }
        var points = starts.map { TimeseriesPoint(startMs: $0, pageviews: 0, visitors: 0, visits: 0) }
        if interval == .day {
            // One scan of the daily tier per metric; the i-th point is the range's i-th local date.
            func point(_ day: Day) -> Int? {
                let i = scope.days.lowerBound.distance(to: day)
                return points.indices.contains(i) ? i : nil
            }
            try store.dayCells(site: scope.site.id, metric: .total, days: scope.days) { day, _, cell in
                guard let i = point(day) else { return }
                points[i].pageviews = cell.count
                points[i].visitors = Int64(cell.visitors?.estimate ?? 0)
            }
            try store.dayCells(site: scope.site.id, metric: .visits, days: scope.days) { day, _, cell in
                if let i = point(day) { points[i].visits += cell.count }
            }
        } else {
            // One read per metric; a quarter hour belongs to the hour its start falls in (the
            // range starts at a local midnight, a whole number of quarter hours, so none straddles
            // two points), the last point running to the range's end.
            func point(_ bucket: QuarterHour) -> Int? {
                let offset = bucket.startMs - scope.range.startMs
                return offset < 0 ? nil : min(points.count - 1, Int(offset / TimeUnits.hourMs))
            }
            let buckets = scope.range.quarterHours
            for (i, totals) in try store.rollupTotals(site: scope.site.id, metric: .total, buckets: buckets, groupedBy: point) {
                points[i].pageviews = totals[""]?.count ?? 0
                points[i].visitors = Int64(totals[""]?.visitors?.estimate ?? 0)
            }
            for (i, totals) in try store.rollupTotals(site: scope.site.id, metric: .visits, buckets: buckets, groupedBy: point) {
                points[i].visits = totals.values.reduce(0) { $0 + $1.count }
            }
        }
        return points
    }

    private func intervalStarts(_ scope: ReportScope, _ interval: Interval) -> [Int64] {
        var starts = [Int64]()
        var cursor = scope.range.startMs
        while cursor < scope.range.endMs, starts.count < 10_000 {
            starts.append(cursor)
            switch interval {
            case .hour: cursor += TimeUnits.hourMs
            case .day: cursor = ReportScope.nextLocalMidnight(after: cursor, scope.timeZone) ?? scope.range.endMs
            }
        }
        return starts
    }

    // MARK: Filtered reports from raw events

    /// A filtered report's answer, through the columnar analysis on `analysisShards` cores:
    /// sealed days from their segments, the rest from rows, one segment at a time (no range is
    /// too long to hold).
    func rawAnswer<Tally: ReportTally>(_ scope: ReportScope, nowMs: Int64, tally: @escaping () -> Tally) throws -> Tally.Answer {
        let retention = scope.site.retention
        let start = max(scope.range.startMs, retention.cutoffMs(nowMs: nowMs))
        let analysis = ShardedAnalysis(range: start..<max(start, scope.range.endMs), filters: scope.filters, shards: analysisShards, tally: tally)
        try store.segments(site: scope.site.id, in: scope.range, nowMs: nowMs, retention: retention) { analysis.add($0) }
        return analysis.finish()
    }
}

extension Reports.Interval {
    init(named name: String) throws {
        guard let interval = Reports.Interval(rawValue: name) else { throw FootfallError.invalid("interval must be hour or day") }
        self = interval
    }
}

extension RollupMetric {
    /// A dimension reports can break down by, from its API name.
    static func breakdown(named name: String) throws -> RollupMetric {
        guard let metric = RollupMetric(name: name), RollupMetric.breakdowns.contains(metric) else {
            throw FootfallError.invalid("unknown dimension; one of \(RollupMetric.breakdowns.map(\.name).joined(separator: ", "))")
        }
        return metric
    }
}
