/// A filtered report computed from event segments, column by column: the same answer as
/// `RowAnalysis` over the same events (a differential test holds them equal), without decoding an
/// event. Each filter becomes a code comparison, its value looked up once per segment; visits are
/// derived per visitor run, across segments for visits that span midnight.
public struct SegmentAnalysis: Sendable {
    private let segments: [EventSegment]
    /// Per segment, whether each row is a matching event.
    private let matching: [[Bool]]
    public let matchingVisits: [Visits.Visit]

    /// - Parameters:
    ///   - segments: the range's segments, in day order.
    ///   - range: the report's time range; rows outside it take no part.
    public init(_ segments: [EventSegment], range: Range<Int64>, filters: [ReportFilter]) {
        self.segments = segments
        let eventFilters = filters.filter { !$0.describesVisit }, visitFilters = filters.filter(\.describesVisit)
        var candidates = [[Bool]]()
        // Each visitor's runs of rows, in order across segments: (segment, first row, end row).
        var runsByVisitor = [VisitorID: [(segment: Int, rows: Range<Int>)]]()
        for (index, segment) in segments.enumerated() {
            let matchers = eventFilters.map { RowMatcher($0, in: segment) }
            var candidate = [Bool](repeating: false, count: segment.count)
            var row = 0
            for (visitor, run) in zip(segment.visitors, segment.visitorRuns) {
                var first = row, end = row + run
                while first < end, segment.timestamps[first] < range.lowerBound { first += 1 }
                while end > first, segment.timestamps[end - 1] >= range.upperBound { end -= 1 }
                if first < end {
                    runsByVisitor[visitor, default: []].append((index, first..<end))
                    for r in first..<end where matchers.allSatisfy({ $0.matches(r) }) { candidate[r] = true }
                }
                row += run
            }
            candidates.append(candidate)
        }
        var visits = [Visits.Visit]()
        var matching = visitFilters.isEmpty ? candidates : segments.map { [Bool](repeating: false, count: $0.count) }
        for runs in runsByVisitor.values {
            let rows = runs.flatMap { run in run.rows.map { (segment: run.segment, row: $0) } }
            let hits = rows.map { ref in
                let segment = segments[ref.segment]
                return Visits.Hit(id: segment.ids[ref.row], timestampMs: segment.timestamps[ref.row], kind: segment.kinds[ref.row],
                                  path: segment.texts[EventSegment.Text.path.rawValue][ref.row])
            }
            for visit in Visits.derive(hits) where visitFilters.allSatisfy({ $0.matches(visit) }) {
                let inVisit = rows.filter { ref in (visit.startMs...visit.endMs).contains(segments[ref.segment].timestamps[ref.row]) }
                guard inVisit.contains(where: { candidates[$0.segment][$0.row] }) else { continue }
                visits.append(visit)
                if !visitFilters.isEmpty {
                    for ref in inVisit where candidates[ref.segment][ref.row] { matching[ref.segment][ref.row] = true }
                }
            }
        }
        self.matching = matching
        matchingVisits = visits
    }

    /// Calls `body` with each matching row's segment, row and visitor.
    private func forEachMatch(_ body: (EventSegment, Int, VisitorID) -> Void) {
        for (index, segment) in segments.enumerated() {
            var row = 0
            for (visitor, run) in zip(segment.visitors, segment.visitorRuns) {
                for r in row..<row + run where matching[index][r] { body(segment, r, visitor) }
                row += run
            }
        }
    }

    public var summary: Summary {
        var pageviews: Int64 = 0, customs: Int64 = 0
        var visitors = Set<VisitorID>()
        forEachMatch { segment, row, visitor in
            switch segment.kinds[row] {
            case .pageview: pageviews += 1
            case .custom: customs += 1
            default: break
            }
            if segment.kinds[row].countsAsVisitor { visitors.insert(visitor) }
        }
        return Summary(pageviews: pageviews, visitors: Int64(visitors.count), visits: Int64(matchingVisits.count),
                       bounces: Int64(matchingVisits.filter(\.isBounce).count),
                       visitDurationMs: matchingVisits.reduce(Int64(0)) { $0 + $1.durationMs }, events: customs)
    }

    /// Unranked rows, as `RowAnalysis.breakdown`.
    public func breakdown(_ metric: RollupMetric) -> [BreakdownRow] {
        if metric == .entryPage || metric == .exitPage { return BreakdownRow.visitPages(metric, of: matchingVisits) }
        var counts = [String: (Int64, Set<VisitorID>)]()
        forEachMatch { segment, row, visitor in
            guard let value = ReportFilter.value(of: metric, in: SegmentRow(segment: segment, row: row)), !value.isEmpty else { return }
            counts[value, default: (0, [])].0 += 1
            counts[value, default: (0, [])].1.insert(visitor)
        }
        return counts.map { BreakdownRow(value: $0.key, count: $0.value.0, visitors: Int64($0.value.1.count)) }
    }

    /// As `RowAnalysis.timeseries`.
    public func timeseries(starts: [Int64], endMs: Int64) -> [TimeseriesPoint] {
        var points = starts.map { TimeseriesPoint(startMs: $0, pageviews: 0, visitors: 0, visits: 0) }
        var visitors = [Set<VisitorID>](repeating: [], count: starts.count)
        forEachMatch { segment, row, visitor in
            guard let i = TimeseriesPoint.slot(of: segment.timestamps[row], starts: starts, endMs: endMs) else { return }
            if segment.kinds[row] == .pageview { points[i].pageviews += 1 }
            if segment.kinds[row].countsAsVisitor { visitors[i].insert(visitor) }
        }
        for visit in matchingVisits {
            if let i = TimeseriesPoint.slot(of: visit.startMs, starts: starts, endMs: endMs) { points[i].visits += 1 }
        }
        for i in points.indices { points[i].visitors = Int64(visitors[i].count) }
        return points
    }
}

/// One event filter compiled against one segment: its value resolved to dictionary codes once, so
/// each row is tested by comparing integers.
private struct RowMatcher {
    private let test: (Int) -> Bool

    init(_ filter: ReportFilter, in segment: EventSegment) {
        let kinds = segment.kinds
        switch ReportFilter.source(of: filter.metric) {
        case let .text(column, only):
            let strings = segment.texts[column.rawValue]
            guard let code = strings.code(of: filter.value) else { test = { _ in false }; break }
            let codes = strings.codes
            test = { row in codes[row] == code && (only == nil || kinds[row] == only) }
        case .deviceClass:
            let classes = segment.deviceClasses
            guard let wanted = Device.Class.allCases.first(where: { $0.name == filter.value }) else { test = { _ in false }; break }
            test = { row in classes[row] == wanted }
        case .click:
            // "name:target": every (name, target) pair of the dictionaries that spells the value.
            let names = segment.texts[EventSegment.Text.name.rawValue], targets = segment.texts[EventSegment.Text.target.rawValue]
            var pairs = Set<UInt64>()
            for (nameCode, name) in names.dictionary.enumerated() where filter.value.hasPrefix(name + ":") {
                if let targetCode = targets.code(of: String(filter.value.dropFirst(name.count + 1))) {
                    pairs.insert(UInt64(nameCode) << 32 | UInt64(targetCode))
                }
            }
            test = { row in kinds[row] == .click && pairs.contains(UInt64(names.codes[row]) << 32 | UInt64(targets.codes[row])) }
        case .none:
            test = { _ in false }
        }
    }

    func matches(_ row: Int) -> Bool { test(row) }
}
