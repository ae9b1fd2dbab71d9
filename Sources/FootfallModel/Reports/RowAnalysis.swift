/// A filtered report computed from events one row at a time: the visits that match every visit
/// filter and hold an event matching every event filter, and the events of those visits that match
/// every event filter. Reports over raw events use it today; it is the reference the columnar
/// engine is tested against (docs/columnar-store.md).
public struct RowAnalysis: Sendable {
    public private(set) var matching: [Event] = []
    public private(set) var matchingVisits: [Visits.Visit] = []

    /// Events are added one at a time (`add`), so a range is read without holding all of it: only
    /// the candidates and each visitor's hits are kept.
    public struct Builder {
        private let eventFilters: [ReportFilter]
        private let visitFilters: [ReportFilter]
        private var candidates = [Event]()
        private var candidateIDs = Set<EventID>()
        private var hitsByVisitor = [VisitorID: [Visits.Hit]]()

        public init(filters: [ReportFilter]) {
            eventFilters = filters.filter { !$0.describesVisit }
            visitFilters = filters.filter(\.describesVisit)
        }

        public mutating func add(_ event: Event) {
            hitsByVisitor[event.visitor, default: []].append(Visits.Hit(event))
            if eventFilters.allSatisfy({ $0.matches(event) }) {
                candidates.append(event)
                candidateIDs.insert(event.id)
            }
        }

        public func finish() -> RowAnalysis {
            var analysis = RowAnalysis()
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

    public init(_ events: some Sequence<Event>, filters: [ReportFilter]) {
        var builder = Builder(filters: filters)
        for event in events { builder.add(event) }
        self = builder.finish()
    }

    private init() {}

    public var summary: Summary {
        let pageviews = Int64(matching.filter { $0.kind == .pageview }.count)
        let visitors = Int64(Set(matching.filter(\.countsAsVisitor).map(\.visitor)).count)
        let visits = Int64(matchingVisits.count)
        let bounces = Int64(matchingVisits.filter(\.isBounce).count)
        let duration = matchingVisits.reduce(Int64(0)) { $0 + $1.durationMs }
        return Summary(pageviews: pageviews, visitors: visitors, visits: visits, bounces: bounces,
                       visitDurationMs: duration, events: Int64(matching.filter { $0.kind == .custom }.count))
    }

    /// Unranked rows: every value of `metric` among the matching events (visits, for entry and
    /// exit page).
    public func breakdown(_ metric: RollupMetric) -> [BreakdownRow] {
        if metric == .entryPage || metric == .exitPage { return BreakdownRow.visitPages(metric, of: matchingVisits) }
        var counts = [String: (Int64, Set<VisitorID>)]()
        for event in matching {
            guard let value = ReportFilter.value(of: metric, in: event), !value.isEmpty else { continue }
            counts[value, default: (0, [])].0 += 1
            counts[value, default: (0, [])].1.insert(event.visitor)
        }
        return counts.map { BreakdownRow(value: $0.key, count: $0.value.0, visitors: Int64($0.value.1.count)) }
    }

    /// One point per interval starting at `starts` (ascending); the last ends at `endMs`. An event
    /// counts where it happened, a visit where it started.
    public func timeseries(starts: [Int64], endMs: Int64) -> [TimeseriesPoint] {
        var points = starts.map { TimeseriesPoint(startMs: $0, pageviews: 0, visitors: 0, visits: 0) }
        func slot(_ ms: Int64) -> Int? { TimeseriesPoint.slot(of: ms, starts: starts, endMs: endMs) }
        var visitors = [Set<VisitorID>](repeating: [], count: starts.count)
        for event in matching {
            guard let i = slot(event.timestampMs) else { continue }
            if event.kind == .pageview { points[i].pageviews += 1 }
            if event.countsAsVisitor { visitors[i].insert(event.visitor) }
        }
        for visit in matchingVisits { if let i = slot(visit.startMs) { points[i].visits += 1 } }
        for i in points.indices { points[i].visitors = Int64(visitors[i].count) }
        return points
    }
}

extension TimeseriesPoint {
    /// The interval of `starts` (ascending; the last ends at `endMs`) that holds `ms`.
    static func slot(of ms: Int64, starts: [Int64], endMs: Int64) -> Int? {
        var low = 0, high = starts.count
        while low < high {
            let middle = (low + high) / 2
            if starts[middle] <= ms { low = middle + 1 } else { high = middle }
        }
        return low == 0 || ms >= endMs ? nil : low - 1
    }
}

extension Event.Kind {
    /// Engagement pings and identify calls are not visits to the site: they do not make a visitor.
    var countsAsVisitor: Bool { self != .engagement && self != .identify }
}

extension Event {
    var countsAsVisitor: Bool { kind.countsAsVisitor }
}

extension BreakdownRow {
    /// Visits counted by their entry or exit page (`metric`); no visitor counts.
    fileprivate static func visitPages(_ metric: RollupMetric, of visits: [Visits.Visit]) -> [BreakdownRow] {
        var counts = [String: Int64]()
        for visit in visits { counts[metric == .entryPage ? visit.entryPage : visit.exitPage, default: 0] += 1 }
        return counts.map { BreakdownRow(value: $0.key, count: $0.value, visitors: nil) }
    }
}
