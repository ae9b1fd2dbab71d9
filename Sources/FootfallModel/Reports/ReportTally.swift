/// What a filtered report adds up from the events and visits `SegmentAnalysis` finds matching:
/// a summary, a breakdown by one dimension or a timeseries. A class, so the analysis holds it as
/// `any ReportTally` and stays one concrete type: a generic analysis called from another module
/// ran unspecialized, and looking up generic metadata took a fifth of a filtered report. Each
/// keeps its counts in one struct (`Counts`), so a call is one checked access to the class, not
/// one per field.
public protocol ReportTally: AnyObject {
    associatedtype Answer
    /// A matching event: row `row` of `segment`, the `index`-th segment the analysis was given.
    func count(row: Int, of segment: EventSegment, at index: Int, visitor: VisitorID)
    /// Matching events `rows` of `segment`, `visitors[i]` the visitor of `rows[i]`: what most of a
    /// report's rows come through, one call and one access to the counts per segment.
    func count(rows: [Int], visitors: [VisitorID], of segment: EventSegment, at index: Int)
    /// A visit holding a matching event; `page` spells its entry and exit pages.
    func count(_ visit: Visits.Span<PageRef>, page: (PageRef) -> String)
    /// Whether it counts visits: a tally that does not (and a report without visit filters) is
    /// given each matching row on its own, with no visits derived for it.
    var countsVisits: Bool { get }
    /// Adds what `other` counted, from visitors this tally never saw (another shard's: see
    /// `ShardedAnalysis`), as if it had counted them itself.
    func merge(_ other: Self)
    var answer: Answer { get }
}

public final class SummaryTally: ReportTally {
    private struct Counts {
        var pageviews: Int64 = 0, customs: Int64 = 0
        var visitors = VisitorSet()
        var visits: Int64 = 0, bounces: Int64 = 0, visitDurationMs: Int64 = 0

        mutating func count(_ kind: Event.Kind, _ visitor: VisitorID) {
            switch kind {
            case .pageview: pageviews += 1
            case .custom: customs += 1
            default: break
            }
            if kind.countsAsVisitor { visitors.insert(visitor) }
        }

        mutating func count(rows: [Int], visitors: [VisitorID], kinds: [Event.Kind]) {
            for (row, visitor) in zip(rows, visitors) { count(kinds[row], visitor) }
        }

        mutating func count(_ visit: Visits.Span<PageRef>) {
            visits += 1
            if visit.isBounce { bounces += 1 }
            visitDurationMs += visit.durationMs
        }
    }

    private var counts = Counts()

    public init() {}

    public func count(row: Int, of segment: EventSegment, at index: Int, visitor: VisitorID) {
        counts.count(segment.kinds[row], visitor)
    }

    public func count(rows: [Int], visitors: [VisitorID], of segment: EventSegment, at index: Int) {
        counts.count(rows: rows, visitors: visitors, kinds: segment.kinds)
    }

    public func count(_ visit: Visits.Span<PageRef>, page: (PageRef) -> String) {
        counts.count(visit)
    }

    public var countsVisits: Bool { true }

    public func merge(_ other: SummaryTally) {
        counts.pageviews += other.counts.pageviews
        counts.customs += other.counts.customs
        counts.visitors.formUnion(other.counts.visitors)
        counts.visits += other.counts.visits
        counts.bounces += other.counts.bounces
        counts.visitDurationMs += other.counts.visitDurationMs
    }

    public var answer: Summary {
        Summary(pageviews: counts.pageviews, visitors: Int64(counts.visitors.count), visits: counts.visits, bounces: counts.bounces,
                visitDurationMs: counts.visitDurationMs, events: counts.customs)
    }
}

/// Unranked rows, one per value of the dimension: events and distinct visitors, or visits for entry
/// and exit pages (with no visitor counts).
public final class BreakdownTally: ReportTally {
    private struct Counts {
        let metric: RollupMetric
        var values = [String]()
        var valueIndex = [String: Int]()
        var counts = [Int64]()
        var visitors = [VisitorSet]()
        /// Per segment, each code of the dimension's column as an index into `values` (-1 not yet
        /// looked up, -2 the empty value); the segment being counted is kept apart, out of the
        /// map, with its column.
        var codeValues = [Int: [Int32]]()
        var current = (segment: -1, column: EventSegment.Strings(dictionary: [], codes: []), values: [Int32]())

        mutating func count(row: Int, of segment: EventSegment, at index: Int, visitor: VisitorID) {
            guard let value = value(of: row, in: segment, at: index) else { return }
            counts[value] += 1
            visitors[value].insert(visitor)
        }

        /// A text dimension's column is looked up once for the rows, not once a row.
        mutating func count(rows: [Int], visitors: [VisitorID], of segment: EventSegment, at index: Int) {
            guard !rows.isEmpty else { return }
            guard case let .text(column, only) = ReportFilter.source(of: metric) else {
                for (row, visitor) in zip(rows, visitors) { count(row: row, of: segment, at: index, visitor: visitor) }
                return
            }
            select(column, of: segment, at: index)
            let kinds = segment.kinds, codes = current.column.codes
            for (row, visitor) in zip(rows, visitors) {
                if let only, kinds[row] != only { continue }
                guard let value = value(ofCode: Int(codes[row])) else { continue }
                counts[value] += 1
                self.visitors[value].insert(visitor)
            }
        }

        /// A visit's page is a row even when empty, as in `RowAnalysis`.
        mutating func count(visitPage page: String) {
            counts[intern(page)] += 1
        }

        private mutating func value(of row: Int, in segment: EventSegment, at index: Int) -> Int? {
            switch ReportFilter.source(of: metric) {
            case let .text(column, only):
                if let only, segment.kinds[row] != only { return nil }
                select(column, of: segment, at: index)
                return value(ofCode: Int(current.column.codes[row]))
            case .deviceClass, .click, .none:
                return ReportFilter.value(of: metric, in: SegmentRow(segment: segment, row: row)).flatMap { $0.isEmpty ? nil : intern($0) }
            }
        }

        /// Makes `column` of the `index`-th segment the one `value(ofCode:)` reads.
        private mutating func select(_ column: EventSegment.Text, of segment: EventSegment, at index: Int) {
            guard current.segment != index else { return }
            if current.segment >= 0 { codeValues[current.segment] = current.values }
            let strings = segment.texts[column.rawValue]
            current = (index, strings, codeValues.removeValue(forKey: index) ?? [Int32](repeating: -1, count: strings.dictionary.count))
        }

        /// The row index of a code of the current column, nil for the empty value.
        private mutating func value(ofCode code: Int) -> Int? {
            if current.values[code] == -1 {
                let value = current.column.dictionary[code]
                current.values[code] = value.isEmpty ? -2 : Int32(intern(value))
            }
            return current.values[code] >= 0 ? Int(current.values[code]) : nil
        }

        mutating func merge(_ other: Counts) {
            for (index, value) in other.values.enumerated() {
                let mine = intern(value)
                counts[mine] += other.counts[index]
                visitors[mine].formUnion(other.visitors[index])
            }
        }

        /// The index of `value` among the rows (an event dimension's empty value is none: callers
        /// leave it out).
        private mutating func intern(_ value: String) -> Int {
            if let index = valueIndex[value] { return index }
            valueIndex[value] = values.count
            values.append(value)
            counts.append(0)
            visitors.append(VisitorSet())
            return values.count - 1
        }
    }

    private var counts: Counts

    public init(_ metric: RollupMetric) {
        counts = Counts(metric: metric)
    }

    public func count(row: Int, of segment: EventSegment, at index: Int, visitor: VisitorID) {
        counts.count(row: row, of: segment, at: index, visitor: visitor)
    }

    public func count(rows: [Int], visitors: [VisitorID], of segment: EventSegment, at index: Int) {
        counts.count(rows: rows, visitors: visitors, of: segment, at: index)
    }

    public func count(_ visit: Visits.Span<PageRef>, page: (PageRef) -> String) {
        switch counts.metric {
        case .entryPage: counts.count(visitPage: page(visit.entryPage))
        case .exitPage: counts.count(visitPage: page(visit.exitPage))
        default: break
        }
    }

    public var countsVisits: Bool { counts.metric == .entryPage || counts.metric == .exitPage }

    public func merge(_ other: BreakdownTally) {
        counts.merge(other.counts)
    }

    public var answer: [BreakdownRow] {
        let visitPages = counts.metric == .entryPage || counts.metric == .exitPage
        return counts.values.indices.map {
            BreakdownRow(value: counts.values[$0], count: counts.counts[$0], visitors: visitPages ? nil : Int64(counts.visitors[$0].count))
        }
    }
}

/// Pageviews, distinct visitors and visits (by start) per interval starting at `starts`.
public final class TimeseriesTally: ReportTally {
    private struct Counts {
        let starts: [Int64]
        let endMs: Int64
        var points: [TimeseriesPoint]
        var visitors: [VisitorSet]

        mutating func count(_ timestampMs: Int64, _ kind: Event.Kind, _ visitor: VisitorID) {
            guard let i = TimeseriesPoint.slot(of: timestampMs, starts: starts, endMs: endMs) else { return }
            if kind == .pageview { points[i].pageviews += 1 }
            if kind.countsAsVisitor { visitors[i].insert(visitor) }
        }

        mutating func count(rows: [Int], visitors: [VisitorID], timestamps: DayTimes, kinds: [Event.Kind]) {
            for (row, visitor) in zip(rows, visitors) { count(timestamps[row], kinds[row], visitor) }
        }

        mutating func count(visitStartMs: Int64) {
            if let i = TimeseriesPoint.slot(of: visitStartMs, starts: starts, endMs: endMs) { points[i].visits += 1 }
        }
    }

    private var counts: Counts

    public init(starts: [Int64], endMs: Int64) {
        counts = Counts(starts: starts, endMs: endMs, points: starts.map { TimeseriesPoint(startMs: $0, pageviews: 0, visitors: 0, visits: 0) },
                        visitors: starts.map { _ in VisitorSet() })
    }

    public func count(row: Int, of segment: EventSegment, at index: Int, visitor: VisitorID) {
        counts.count(segment.timestamps[row], segment.kinds[row], visitor)
    }

    public func count(rows: [Int], visitors: [VisitorID], of segment: EventSegment, at index: Int) {
        counts.count(rows: rows, visitors: visitors, timestamps: segment.timestamps, kinds: segment.kinds)
    }

    public func count(_ visit: Visits.Span<PageRef>, page: (PageRef) -> String) {
        counts.count(visitStartMs: visit.startMs)
    }

    public var countsVisits: Bool { true }

    public func merge(_ other: TimeseriesTally) {
        for i in counts.points.indices {
            counts.points[i].pageviews += other.counts.points[i].pageviews
            counts.points[i].visits += other.counts.points[i].visits
            counts.visitors[i].formUnion(other.counts.visitors[i])
        }
    }

    public var answer: [TimeseriesPoint] {
        var points = counts.points
        for i in points.indices { points[i].visitors = Int64(counts.visitors[i].count) }
        return points
    }
}
