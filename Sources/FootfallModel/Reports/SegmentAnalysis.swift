/// A filtered report computed from event segments, column by column and one segment at a time:
/// the same answer as `RowAnalysis` over the same events (a differential test holds them equal),
/// without decoding an event or holding the range in memory.
///
/// Each event filter becomes a code comparison, its value looked up once per segment. A run whose
/// visits are whole (`IndexedSegment`) and which the range holds entirely uses the visits derived
/// when its segment was indexed; the other runs (near midnight, at a part's cut or cut by the
/// range) are kept per visitor, and the visits of a visitor with a matching row among them derived
/// across segments once no later segment can reach them. A report with no visit in it (a
/// breakdown by an event's dimension, no visit filter) takes each matching row in the range as it
/// is. What matches is added up by a `ReportTally`.
///
/// Segments must come in day order, and a visitor's rows of one day must be in one segment, or
/// continue at a cut from one part to the next, or be kept (`IndexedSegment.keeping`) in every
/// segment of the day that holds them (as `EventStore.segments` gives them).
public struct SegmentAnalysis {
    private let range: Range<Int64>
    private let eventFilters: [ReportFilter]
    private let visitFilters: [ReportFilter]
    private let tally: any ReportTally
    /// No visit takes part (no visit filter, a tally that counts none): each matching row in the
    /// range counts on its own, and no rows are kept.
    private let countsRowsOnly: Bool
    private let visitors: VisitorRange
    /// Segments that kept runs still refer to, by their position among those added (nil once none
    /// does). An array, not a dictionary: reading a segment from it copies nothing.
    private var held = [HeldSegment?]()
    private var added: Int { held.count }
    private var day: Day?
    /// Runs whose visits may reach other segments, in the order added (one flat list, grouped by
    /// visitor when settled: a dictionary of lists cost a hash and an allocation per run). Their
    /// rows are read only for a visitor with a matching one: keeping every row of them was a
    /// sixth of a report whose filter matches a few percent of the rows.
    private var kept = [KeptRun]()

    private struct HeldSegment {
        let segment: EventSegment
        /// The rows the event filters match (`EventMatcher.rows`).
        let matching: [Int]
    }

    private struct KeptRun {
        let visitor: VisitorID
        let day: Day
        let segment: Int
        let rows: Range<Int>
        /// Whether a row of the run in the range matches the event filters.
        let hasCandidate: Bool
    }

    /// A matching kept row, once its visit is known.
    private struct SettledRow {
        let segment: Int
        let row: Int
        let visitor: VisitorID
    }

    /// A row of a kept run in the range, read when its visitor's visits are derived.
    private struct KeptRow {
        let visitor: VisitorID
        let timestampMs: Int64
        let id: EventID
        let kind: Event.Kind
        let path: PageRef
        let row: Int
        let isCandidate: Bool

        var segment: Int { path.segment }
    }

    /// - Parameters:
    ///   - range: the report's time range; rows outside it take no part.
    ///   - visitors: the visitors whose rows this analysis takes (see `ShardedAnalysis`).
    public init(range: Range<Int64>, filters: [ReportFilter], tally: any ReportTally, visitors: VisitorRange = .all) {
        self.range = range
        self.visitors = visitors
        eventFilters = filters.filter { !$0.describesVisit }
        visitFilters = filters.filter(\.describesVisit)
        self.tally = tally
        countsRowsOnly = visitFilters.isEmpty && !tally.countsVisits
    }

    public mutating func add(_ indexed: IndexedSegment) {
        let segment = indexed.segment, index = added
        if let day, day != segment.day { settle(before: segment.day.advanced(by: -1)) }
        day = segment.day
        // The runs of the visitors taken, and their rows: visitors are sorted, so both are ranges.
        let runs = visitors.runs(in: segment), rows = segment.rows(ofRuns: runs)
        let matcher = EventMatcher(eventFilters, in: segment, rows: rows)
        let rangeHoldsDay = range.lowerBound <= segment.day.startMs && segment.day.advanced(by: 1).startMs <= range.upperBound
        guard !countsRowsOnly else {
            held.append(nil)
            let counted = rangeHoldsDay ? matcher.rows : matcher.rows.filter { range.contains(segment.timestamps[$0]) }
            tally.count(rows: counted, visitors: counted.map { segment.visitors[Int(indexed.runOfRow[$0])] }, of: segment, at: index)
            return
        }
        held.append(HeldSegment(segment: segment, matching: matcher.rows))
        // A whole run's indexed visits are the range's visits of that visitor if the range holds
        // all of the run (always, for a day inside the range); the other runs are kept.
        var usable = indexed.runIsWhole
        // Made once, not per run: each `visitorRuns` is a new view that retains the column.
        let runLengths = segment.visitorRuns
        if !rangeHoldsDay {
            var first = rows.lowerBound
            for run in runs {
                let length = runLengths[run]
                usable[run] = usable[run] && range.contains(segment.timestamps[first]) && range.contains(segment.timestamps[first + length - 1])
                first += length
            }
        }
        countUsableRuns(of: indexed, at: index, usable: usable, matcher: matcher)
        var first = rows.lowerBound
        var candidates = matcher.cursor()
        for run in runs {
            let length = runLengths[run]
            defer { first += length }
            guard !usable[run] else { continue }
            let runRows = first..<first + length
            // A run's rows are in time order: one wholly outside the range takes no part (its
            // times are read only on a day the range cuts: each read is a cache miss).
            guard rangeHoldsDay
                || (segment.timestamps[runRows.lowerBound] < range.upperBound && segment.timestamps[runRows.upperBound - 1] >= range.lowerBound)
            else { continue }
            kept.append(KeptRun(visitor: segment.visitors[run], day: segment.day, segment: index, rows: runRows,
                                hasCandidate: candidates.matchesAny(in: runRows) { range.contains(segment.timestamps[$0]) }))
        }
        if kept.isEmpty { held[index] = nil }
    }

    /// Adds up what is still kept, once every segment of the range has been added: the tally
    /// then holds the answer.
    public mutating func finish() {
        settle(before: nil)
    }

    /// Adds up the matching rows of the `usable` runs, with their indexed visits.
    private mutating func countUsableRuns(of indexed: IndexedSegment, at index: Int, usable: [Bool], matcher: EventMatcher) {
        let segment = indexed.segment
        let paths = segment.texts[EventSegment.Text.path.rawValue]
        let visitPasses: [Bool]? = visitFilters.isEmpty ? nil : {
            let wanted = visitFilters.map { (metric: $0.metric, code: paths.code(of: $0.value)) }
            return indexed.visits.map { visit in
                wanted.allSatisfy { $0.code == ($0.metric == .entryPage ? visit.entry : visit.exit) }
            }
        }()
        var counted = [Int](), visitors = [VisitorID](), countedVisits = [Int]()
        for row in matcher.rows {
            let run = Int(indexed.runOfRow[row])
            guard usable[run] else { continue }
            let visit = Int(indexed.visitOfRow[row])
            if let visitPasses, visit < 0 || !visitPasses[visit] { continue }
            counted.append(row)
            visitors.append(segment.visitors[run])
            // Visits are indexed in row order, so a visit's rows come together here.
            assert(visit < 0 || visit >= countedVisits.last ?? 0, "visits out of row order")
            if visit >= 0, visit != countedVisits.last { countedVisits.append(visit) }
        }
        // Read after the rows, not between them: each visit read is a cache miss, and these loads
        // are independent of one another.
        for visit in countedVisits {
            tally.count(indexed.visits[visit].span { PageRef(segment: index, code: $0) }) { paths.dictionary[Int($0.code)] }
        }
        tally.count(rows: counted, visitors: visitors, of: segment, at: index)
    }

    /// Derives the visits of kept runs whose visitor was last kept before `day` (every visitor,
    /// when nil): no later segment can reach them, since a segment's runs near midnight are kept.
    private mutating func settle(before day: Day?) {
        guard !kept.isEmpty else { return }
        // Each visitor's runs together.
        kept.sort { $0.visitor < $1.visitor }
        var waiting = [KeptRun](), reading = [KeptRun]()
        var first = 0
        while first < kept.count {
            var end = first + 1
            while end < kept.count, kept[end].visitor == kept[first].visitor { end += 1 }
            let runs = kept[first..<end]
            if let day, runs.contains(where: { $0.day >= day }) {
                waiting += runs
            } else if runs.contains(where: \.hasCandidate) {
                // Only candidates (and their visits) are counted: a visitor with none needs no visits.
                reading += runs
            }
            first = end
        }
        let rows = readRows(of: reading)
        var settled = [SettledRow]()
        first = 0
        while first < rows.count {
            var end = first + 1
            while end < rows.count, rows[end].visitor == rows[first].visitor { end += 1 }
            countVisits(of: rows[first..<end], visitor: rows[first].visitor, matching: &settled)
            first = end
        }
        // The matching rows are counted a segment at a time, as `countUsableRuns` counts them: a
        // visitor's rows alternate between the segments of its days, and passing the tally a
        // segment per row copied its columns (a retain and release each) at every switch.
        settled.sort { $0.segment < $1.segment }
        var start = 0
        while start < settled.count {
            var end = start + 1
            while end < settled.count, settled[end].segment == settled[start].segment { end += 1 }
            let group = settled[start..<end], index = settled[start].segment
            tally.count(rows: group.map(\.row), visitors: group.map(\.visitor), of: held[index]!.segment, at: index)
            start = end
        }
        kept = waiting
        let oldest = kept.reduce(added - 1) { min($0, $1.segment) }
        for index in held.indices.prefix(max(0, oldest)) { held[index] = nil }
    }

    /// The rows in the range of `runs`, each visitor's together in `Hit` order (time, then id).
    /// Read a segment at a time: taking a segment out of `held` retains each of its columns.
    private func readRows(of runs: [KeptRun]) -> [KeptRow] {
        var rows = [KeptRow]()
        var first = 0
        let runs = runs.sorted { $0.segment < $1.segment }
        while first < runs.count {
            var end = first + 1
            while end < runs.count, runs[end].segment == runs[first].segment { end += 1 }
            let index = runs[first].segment, entry = held[index]!, segment = entry.segment
            let paths = segment.texts[EventSegment.Text.path.rawValue].codes
            for run in runs[first..<end] {
                var candidates = EventMatcher.Cursor(rows: entry.matching, from: run.rows.lowerBound)
                for row in run.rows where range.contains(segment.timestamps[row]) {
                    rows.append(KeptRow(visitor: run.visitor, timestampMs: segment.timestamps[row], id: segment.ids[row], kind: segment.kinds[row],
                                        path: PageRef(segment: index, code: paths[row]), row: row, isCandidate: candidates.matches(row)))
                }
            }
            first = end
        }
        rows.sort { a, b in (a.visitor.rawValue, a.timestampMs, a.id) < (b.visitor.rawValue, b.timestampMs, b.id) }
        return rows
    }

    /// Counts the visits of one visitor's kept rows, and gives the rows that match (in visits
    /// that pass the visit filters) in `matching`.
    private mutating func countVisits(of rows: ArraySlice<KeptRow>, visitor: VisitorID, matching: inout [SettledRow]) {
        var deriver = Visits.Deriver<PageRef>()
        for kept in rows { deriver.add(timestampMs: kept.timestampMs, kind: kept.kind, page: kept.path) }
        var cursor = 0
        let visitOfRow = rows.map { deriver.visit(holding: $0.timestampMs, cursor: &cursor) }
        func path(_ ref: PageRef) -> String { held[ref.segment]!.segment.texts[EventSegment.Text.path.rawValue].dictionary[Int(ref.code)] }
        let passes = deriver.visits.map { visit in
            visitFilters.allSatisfy { $0.value == path($0.metric == .entryPage ? visit.entryPage : visit.exitPage) }
        }
        var counted = [Bool](repeating: false, count: deriver.visits.count)
        for (i, kept) in zip(visitOfRow.indices, rows) where kept.isCandidate {
            if !visitFilters.isEmpty, visitOfRow[i].map({ !passes[$0] }) ?? true { continue }
            matching.append(SettledRow(segment: kept.segment, row: kept.row, visitor: visitor))
            if let visit = visitOfRow[i], !counted[visit] {
                counted[visit] = true
                tally.count(deriver.visits[visit], page: path)
            }
        }
    }
}

/// A page of a visit derived across segments: its code in the path dictionary of one of them.
public struct PageRef: Hashable, Sendable {
    let segment: Int
    let code: EventSegment.Strings.Code
}

/// The event filters of a report evaluated over some rows of one segment: each value resolved to
/// dictionary codes once, then one tight loop per filter over its column, leaving the rows that
/// match as a list, so what follows visits only those (a filter on a page keeps a few percent of
/// a big site's rows, and walking every row to find them was a fifth of such a report).
private struct EventMatcher {
    /// The rows that match, ascending.
    let rows: [Int]

    init(_ filters: [ReportFilter], in segment: EventSegment, rows range: Range<Int>) {
        var rows: [Int]?
        let kinds = segment.kinds
        /// Keeps the rows that pass `test`: the first filter picks them out of the range.
        func keep(_ test: (Int) -> Bool) {
            if rows == nil { rows = range.filter(test) } else { rows!.removeAll { !test($0) } }
        }
        for filter in filters {
            switch ReportFilter.source(of: filter.metric) {
            case let .text(column, only):
                let strings = segment.texts[column.rawValue]
                guard let code = strings.code(of: filter.value) else { keep { _ in false }; break }
                let codes = strings.codes
                if let only { keep { codes[$0] == code && kinds[$0] == only } } else { keep { codes[$0] == code } }
            case .deviceClass:
                let classes = segment.deviceClasses
                guard let wanted = Device.Class.allCases.first(where: { $0.name == filter.value }) else { keep { _ in false }; break }
                keep { classes[$0] == wanted }
            case .click:
                // "name:target": every (name, target) pair of the dictionaries that spells the value.
                let names = segment.texts[EventSegment.Text.name.rawValue], targets = segment.texts[EventSegment.Text.target.rawValue]
                var pairs = Set<UInt64>()
                for (nameCode, name) in names.dictionary.enumerated() where filter.value.hasPrefix(name + ":") {
                    if let targetCode = targets.code(of: String(filter.value.dropFirst(name.count + 1))) {
                        pairs.insert(UInt64(nameCode) << 32 | UInt64(targetCode))
                    }
                }
                keep { kinds[$0] == .click && pairs.contains(UInt64(names.codes[$0]) << 32 | UInt64(targets.codes[$0])) }
            case .none:
                keep { _ in false }
            }
        }
        self.rows = rows ?? Array(range)
    }

    /// Asks whether rows match, in ascending order.
    func cursor() -> Cursor { Cursor(rows: rows) }

    struct Cursor {
        let rows: [Int]
        private var next = 0

        init(rows: [Int]) { self.rows = rows }

        /// A cursor whose first row asked is `first` or later.
        init(rows: [Int], from first: Int) {
            self.rows = rows
            var high = rows.count
            while next < high {
                let middle = (next + high) / 2
                if rows[middle] < first { next = middle + 1 } else { high = middle }
            }
        }

        /// Whether `row` matches; each row asked must be greater than the one asked before.
        mutating func matches(_ row: Int) -> Bool {
            while next < rows.count, rows[next] < row { next += 1 }
            return next < rows.count && rows[next] == row
        }

        /// Whether a matching row of `range` passes `test`; each range asked must not begin
        /// before the one asked before.
        mutating func matchesAny(in range: Range<Int>, where test: (Int) -> Bool) -> Bool {
            while next < rows.count, rows[next] < range.lowerBound { next += 1 }
            var index = next
            while index < rows.count, rows[index] < range.upperBound {
                if test(rows[index]) { return true }
                index += 1
            }
            return false
        }
    }
}
