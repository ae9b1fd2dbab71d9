/// What a filtered report adds up from the events and visits `SegmentAnalysis` finds matching:
/// a summary, a breakdown by one dimension or a timeseries. A class, so the analysis holds it as
/// `any ReportTally` and stays one concrete type: a generic analysis called from another module
/// ran unspecialized, and looking up generic metadata took a fifth of a filtered report.
public protocol ReportTally: AnyObject {
    associatedtype Answer
    /// A matching event: row `row` of `segment`, the `index`-th segment the analysis was given.
    func count(row: Int, of segment: EventSegment, at index: Int, visitor: VisitorID)
    /// A visit holding a matching event; `page` spells its entry and exit pages.
    func count(_ visit: Visits.Span<PageRef>, page: (PageRef) -> String)
    var answer: Answer { get }
}

public final class SummaryTally: ReportTally {
    private var pageviews: Int64 = 0, customs: Int64 = 0
    private var visitors = VisitorSet()
    private var visits: Int64 = 0, bounces: Int64 = 0, visitDurationMs: Int64 = 0

    public init() {}

    public func count(row: Int, of segment: EventSegment, at index: Int, visitor: VisitorID) {
        let kind = segment.kinds[row]
        switch kind {
        case .pageview: pageviews += 1
        case .custom: customs += 1
        default: break
        }
        if kind.countsAsVisitor { visitors.insert(visitor) }
    }

    public func count(_ visit: Visits.Span<PageRef>, page: (PageRef) -> String) {
        visits += 1
        if visit.isBounce { bounces += 1 }
        visitDurationMs += visit.durationMs
    }

    public var answer: Summary {
        Summary(pageviews: pageviews, visitors: Int64(visitors.count), visits: visits, bounces: bounces,
                visitDurationMs: visitDurationMs, events: customs)
    }
}

/// Unranked rows, one per value of the dimension: events and distinct visitors, or visits for entry
/// and exit pages (with no visitor counts).
public final class BreakdownTally: ReportTally {
    private let metric: RollupMetric
    private var values = [String]()
    private var valueIndex = [String: Int]()
    private var counts = [Int64]()
    private var visitors = [VisitorSet]()
    /// Per segment, each code of the dimension's column as an index into `values` (-1 not yet
    /// looked up, -2 the empty value); the segment being counted is kept apart, out of the map,
    /// with its column.
    private var codeValues = [Int: [Int32]]()
    private var current = (segment: -1, column: EventSegment.Strings(dictionary: [], codes: []), values: [Int32]())

    public init(_ metric: RollupMetric) {
        self.metric = metric
    }

    public func count(row: Int, of segment: EventSegment, at index: Int, visitor: VisitorID) {
        guard let value = value(of: row, in: segment, at: index) else { return }
        counts[value] += 1
        visitors[value].insert(visitor)
    }

    public func count(_ visit: Visits.Span<PageRef>, page: (PageRef) -> String) {
        switch metric {
        case .entryPage: counts[intern(page(visit.entryPage), keepingEmpty: true)!] += 1
        case .exitPage: counts[intern(page(visit.exitPage), keepingEmpty: true)!] += 1
        default: break
        }
    }

    public var answer: [BreakdownRow] {
        let visitPages = metric == .entryPage || metric == .exitPage
        return values.indices.map { BreakdownRow(value: values[$0], count: counts[$0], visitors: visitPages ? nil : Int64(visitors[$0].count)) }
    }

    private func value(of row: Int, in segment: EventSegment, at index: Int) -> Int? {
        switch ReportFilter.source(of: metric) {
        case let .text(column, only):
            if let only, segment.kinds[row] != only { return nil }
            if current.segment != index {
                if current.segment >= 0 { codeValues[current.segment] = current.values }
                let strings = segment.texts[column.rawValue]
                current = (index, strings, codeValues.removeValue(forKey: index) ?? [Int32](repeating: -1, count: strings.dictionary.count))
            }
            let code = Int(current.column.codes[row])
            if current.values[code] == -1 { current.values[code] = Int32(intern(current.column.dictionary[code]) ?? -2) }
            return current.values[code] >= 0 ? Int(current.values[code]) : nil
        case .deviceClass, .click, .none:
            return ReportFilter.value(of: metric, in: SegmentRow(segment: segment, row: row)).flatMap { intern($0) }
        }
    }

    /// The index of `value` among the rows; nil for the empty value, which is no row of an event
    /// dimension (a visit's page is one even when empty, as in `RowAnalysis`).
    private func intern(_ value: String, keepingEmpty: Bool = false) -> Int? {
        guard keepingEmpty || !value.isEmpty else { return nil }
        if let index = valueIndex[value] { return index }
        valueIndex[value] = values.count
        values.append(value)
        counts.append(0)
        visitors.append(VisitorSet())
        return values.count - 1
    }
}

/// Pageviews, distinct visitors and visits (by start) per interval starting at `starts`.
public final class TimeseriesTally: ReportTally {
    private let starts: [Int64]
    private let endMs: Int64
    private var points: [TimeseriesPoint]
    private var visitors: [VisitorSet]

    public init(starts: [Int64], endMs: Int64) {
        self.starts = starts
        self.endMs = endMs
        points = starts.map { TimeseriesPoint(startMs: $0, pageviews: 0, visitors: 0, visits: 0) }
        visitors = starts.map { _ in VisitorSet() }
    }

    public func count(row: Int, of segment: EventSegment, at index: Int, visitor: VisitorID) {
        guard let i = TimeseriesPoint.slot(of: segment.timestamps[row], starts: starts, endMs: endMs) else { return }
        if segment.kinds[row] == .pageview { points[i].pageviews += 1 }
        if segment.kinds[row].countsAsVisitor { visitors[i].insert(visitor) }
    }

    public func count(_ visit: Visits.Span<PageRef>, page: (PageRef) -> String) {
        if let i = TimeseriesPoint.slot(of: visit.startMs, starts: starts, endMs: endMs) { points[i].visits += 1 }
    }

    public var answer: [TimeseriesPoint] {
        var points = points
        for i in points.indices { points[i].visitors = Int64(visitors[i].count) }
        return points
    }
}
