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
        default: throw APIError.badRequest("give both from and to (YYYY-MM-DD), or neither for the last 30 days")
        }
        let parsed = try filters.sorted { $0.0 < $1.0 }.map { name, value in
            guard let metric = RollupMetric(name: name), RollupMetric.breakdowns.contains(metric) else {
                throw APIError.badRequest("unknown filter \(String(name.prefix(64)))")
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
            throw APIError.badRequest("dates must be YYYY-MM-DD")
        }
        guard start <= last else { throw APIError.badRequest("from must not be after to") }
        guard let end = nextLocalMidnight(after: last, timeZone), end - start <= 400 * TimeUnits.dayMs else {
            throw APIError.badRequest("a report spans at most 400 days")
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

/// Narrows a report to events whose dimension has a value (`page=/pricing`), or, for entry and
/// exit page, to the visits that began or ended on that page, with everything done in them
/// (`entry_page=/blog`: what people who came in on /blog went on to do).
public struct ReportFilter: Sendable, Equatable {
    public var metric: RollupMetric
    public var value: String

    public init(metric: RollupMetric, value: String) {
        self.metric = metric
        self.value = value
    }

    /// Entry and exit page are properties of a visit, not of any one event.
    var describesVisit: Bool { metric == .entryPage || metric == .exitPage }

    func matches(_ event: Event) -> Bool { ReportFilter.value(of: metric, in: event) == value }

    func matches(_ visit: Visits.Visit) -> Bool {
        switch metric {
        case .entryPage: visit.entryPage == value
        case .exitPage: visit.exitPage == value
        default: false
        }
    }

    static func value(of metric: RollupMetric, in event: Event) -> String? {
        switch metric {
        case .page: event.kind == .pageview ? event.path : nil
        case .referrer: event.referrerHost
        case .utmSource: event.utm.source
        case .utmMedium: event.utm.medium
        case .utmCampaign: event.utm.campaign
        case .utmTerm: event.utm.term
        case .utmContent: event.utm.content
        case .country: event.geo.country
        case .region: event.geo.region
        case .browser: event.device.browser
        case .os: event.device.os
        case .device: event.device.deviceClass.name
        case .customEvent: event.kind == .custom ? event.name : nil
        case .click: event.kind == .click ? "\(event.name):\(event.target)" : nil
        case .total, .visits, .bounces, .visitDuration, .entryPage, .exitPage: nil
        }
    }
}

public struct Summary: Codable, Equatable, Sendable {
    public var pageviews: Int64
    public var visitors: Int64
    public var visits: Int64
    public var bounceRate: Double
    public var visitDurationSeconds: Double
    public var events: Int64

    enum CodingKeys: String, CodingKey {
        case pageviews, visitors, visits, events
        case bounceRate = "bounce_rate"
        case visitDurationSeconds = "visit_duration_s"
    }

    /// Derives the rates from totals, the same way for rollups and for raw events.
    init(pageviews: Int64, visitors: Int64, visits: Int64, bounces: Int64, visitDurationMs: Int64, events: Int64) {
        self.pageviews = pageviews
        self.visitors = visitors
        self.visits = visits
        bounceRate = visits > 0 ? Double(bounces) / Double(visits) : 0
        visitDurationSeconds = visits > 0 ? Double(visitDurationMs) / Double(visits) / 1000 : 0
        self.events = events
    }
}

public struct BreakdownRow: Codable, Equatable, Sendable {
    public var value: String
    /// Pageviews (or events, for custom events and clicks); visits for entry and exit pages.
    public var count: Int64
    public var visitors: Int64?
}

public struct TimeseriesPoint: Codable, Equatable, Sendable {
    public var startMs: Int64
    public var pageviews: Int64
    public var visitors: Int64
    public var visits: Int64

    enum CodingKeys: String, CodingKey {
        case startMs = "start_ms"
        case pageviews, visitors, visits
    }
}

/// Reports for a site. Unfiltered reports read only rollups, so they cover any period the
/// account has existed, long after raw events expired. Filtered reports are computed from raw
/// events (exact counts), so they reach back only as far as the site's retention.
public struct Reports: Sendable {
    /// Filtered reports hold the range's events in memory; this bounds one request's memory
    /// (roughly 1 KiB per event) on a busy site.
    public static let filteredEventsMax = 2_000_000

    let store: EventStore

    public init(store: EventStore) { self.store = store }

    public func summary(_ scope: ReportScope, nowMs: Int64) throws -> Summary {
        if !scope.filters.isEmpty { return try rawAnalysis(scope, nowMs: nowMs).summary }
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
        guard scope.filters.isEmpty else { return ranked(try rawAnalysis(scope, nowMs: nowMs).breakdown(metric)) }
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
            throw APIError.badRequest("hourly timeseries span at most 31 days; use interval=day")
        }
        let starts = intervalStarts(scope, interval)
        var points = starts.map { TimeseriesPoint(startMs: $0, pageviews: 0, visitors: 0, visits: 0) }
        guard !starts.isEmpty else { return [] }
        func slot(_ ms: Int64) -> Int? {
            var low = 0, high = starts.count
            while low < high {
                let mid = (low + high) / 2
                if starts[mid] <= ms { low = mid + 1 } else { high = mid }
            }
            return low == 0 || ms >= scope.range.endMs ? nil : low - 1
        }
        if scope.filters.isEmpty, interval == .day {
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
        } else if scope.filters.isEmpty {
            for (i, start) in starts.enumerated() {
                let buckets = TimeRange(startMs: start, endMs: i + 1 < starts.count ? starts[i + 1] : scope.range.endMs).quarterHours
                let total = try store.rollupTotals(site: scope.site.id, metric: .total, buckets: buckets)[""]
                points[i].pageviews = total?.count ?? 0
                points[i].visitors = Int64(total?.visitors?.estimate ?? 0)
                points[i].visits = try store.rollupTotals(site: scope.site.id, metric: .visits, buckets: buckets).values.reduce(0) { $0 + $1.count }
            }
        } else {
            let analysis = try rawAnalysis(scope, nowMs: nowMs)
            var visitors = [Set<VisitorID>](repeating: [], count: starts.count)
            for event in analysis.matching {
                guard let i = slot(event.timestampMs) else { continue }
                if event.kind == .pageview { points[i].pageviews += 1 }
                if event.kind != .engagement && event.kind != .identify { visitors[i].insert(event.visitor) }
            }
            for visit in analysis.matchingVisits { if let i = slot(visit.startMs) { points[i].visits += 1 } }
            for i in points.indices { points[i].visitors = Int64(visitors[i].count) }
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

    struct RawAnalysis {
        var matching: [Event] = []
        var matchingVisits: [Visits.Visit] = []

        var summary: Summary {
            let pageviews = Int64(matching.filter { $0.kind == .pageview }.count)
            let visitors = Int64(Set(matching.filter { $0.kind != .engagement && $0.kind != .identify }.map(\.visitor)).count)
            let visits = Int64(matchingVisits.count)
            let bounces = Int64(matchingVisits.filter(\.isBounce).count)
            let duration = matchingVisits.reduce(Int64(0)) { $0 + $1.durationMs }
            return Summary(pageviews: pageviews, visitors: visitors, visits: visits, bounces: bounces,
                           visitDurationMs: duration, events: Int64(matching.filter { $0.kind == .custom }.count))
        }

        func breakdown(_ metric: RollupMetric) -> [BreakdownRow] {
            if metric == .entryPage || metric == .exitPage {
                var counts = [String: Int64]()
                for visit in matchingVisits { counts[metric == .entryPage ? visit.entryPage : visit.exitPage, default: 0] += 1 }
                return counts.map { BreakdownRow(value: $0.key, count: $0.value, visitors: nil) }
            }
            var counts = [String: (Int64, Set<VisitorID>)]()
            for event in matching {
                guard let value = ReportFilter.value(of: metric, in: event), !value.isEmpty else { continue }
                counts[value, default: (0, [])].0 += 1
                counts[value, default: (0, [])].1.insert(event.visitor)
            }
            return counts.map { BreakdownRow(value: $0.key, count: $0.value.0, visitors: Int64($0.value.1.count)) }
        }
    }

    /// The visits that match every visit filter and hold an event matching every event filter, and
    /// the events of those visits that match every event filter.
    func rawAnalysis(_ scope: ReportScope, nowMs: Int64) throws -> RawAnalysis {
        let eventFilters = scope.filters.filter { !$0.describesVisit }
        let visitFilters = scope.filters.filter(\.describesVisit)
        var analysis = RawAnalysis()
        var candidates = [Event]()
        var hitsByVisitor = [VisitorID: [Visits.Hit]]()
        var candidateIDs = Set<EventID>()
        var scanned = 0
        try store.events(site: scope.site.id, in: scope.range, nowMs: nowMs, retention: scope.site.retention) { event in
            scanned += 1
            guard scanned <= Reports.filteredEventsMax else {
                throw APIError.badRequest("a filtered report reads at most \(Reports.filteredEventsMax) raw events; narrow the date range")
            }
            hitsByVisitor[event.visitor, default: []].append(Visits.Hit(event))
            if eventFilters.allSatisfy({ $0.matches(event) }) {
                candidates.append(event)
                candidateIDs.insert(event.id)
            }
            return true
        }
        var keptVisits = [VisitorID: [Visits.Visit]]()
        for (visitor, hits) in hitsByVisitor {
            let sorted = hits.sorted()
            for visit in Visits.derive(sorted) where visitFilters.allSatisfy({ $0.matches(visit) }) {
                let inVisit = sorted.filter { $0.timestampMs >= visit.startMs && $0.timestampMs <= visit.endMs }
                guard inVisit.contains(where: { candidateIDs.contains($0.id) }) else { continue }
                analysis.matchingVisits.append(visit)
                keptVisits[visitor, default: []].append(visit)
            }
        }
        analysis.matching = visitFilters.isEmpty ? candidates : candidates.filter { event in
            keptVisits[event.visitor]?.contains { event.timestampMs >= $0.startMs && event.timestampMs <= $0.endMs } ?? false
        }
        return analysis
    }
}

extension Reports.Interval {
    init(named name: String) throws {
        guard let interval = Reports.Interval(rawValue: name) else { throw APIError.badRequest("interval must be hour or day") }
        self = interval
    }
}

extension RollupMetric {
    /// A dimension reports can break down by, from its API name.
    static func breakdown(named name: String) throws -> RollupMetric {
        guard let metric = RollupMetric(name: name), RollupMetric.breakdowns.contains(metric) else {
            throw APIError.badRequest("unknown dimension; one of \(RollupMetric.breakdowns.map(\.name).joined(separator: ", "))")
        }
        return metric
    }
}
