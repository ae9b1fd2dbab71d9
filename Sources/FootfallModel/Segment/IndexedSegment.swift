/// An event segment with its visits derived once, the form the query engine scans (and the
/// segment cache keeps): each row's visitor run and visit, each visit with its pages as codes of
/// the segment's path dictionary, and whether a run's visits are its visitor's whole visits.
///
/// A run's visits are whole unless the run may join rows of another segment: the first and last
/// run of a segment (a day split into parts is cut inside a visitor) and a run active within a
/// visit gap of either midnight. `SegmentAnalysis` takes whole runs' visits as they are, and
/// derives the others again across segments.
public struct IndexedSegment: Sendable {
    public let segment: EventSegment
    /// Per row, the index of its visitor run (into `segment.visitors`; at most `rowsMax` runs).
    let runOfRow: [UInt16]
    /// Per row, the visit whose time span holds it, or -1: identify calls outside any visit and
    /// engagement pings a gap after one belong to none (as in `Visits.derive`).
    let visitOfRow: [Int32]
    let visits: [Visit]
    private(set) var runIsWhole: [Bool]

    /// A visit within the segment, packed (24 bytes, not the 40 of a `Visits.Span`): the index
    /// is most of a cached segment's memory on a site whose visits are one or two hits.
    struct Visit {
        let startMs: Int64
        let durationMs: UInt32
        let pageviews: UInt32
        let interactions: UInt32
        let entry: EventSegment.Strings.Code
        let exit: EventSegment.Strings.Code

        /// Times and counts are those of rows of one segment: a day, at most `rowsMax` rows.
        init(_ span: Visits.Span<EventSegment.Strings.Code>) {
            startMs = span.startMs
            durationMs = UInt32(truncatingIfNeeded: span.durationMs)
            pageviews = UInt32(truncatingIfNeeded: span.pageviews)
            interactions = UInt32(truncatingIfNeeded: span.interactions)
            entry = span.entryPage
            exit = span.exitPage
        }

        func span<Page>(_ page: (EventSegment.Strings.Code) -> Page) -> Visits.Span<Page> {
            Visits.Span(startMs: startMs, endMs: startMs + Int64(durationMs), pageviews: Int(pageviews), interactions: Int(interactions),
                        entryPage: page(entry), exitPage: page(exit))
        }
    }

    public init(_ segment: EventSegment) {
        let paths = segment.texts[EventSegment.Text.path.rawValue].codes
        let dayStart = segment.day.startMs, dayEnd = segment.day.advanced(by: 1).startMs
        var runOfRow = [UInt16](repeating: 0, count: segment.count)
        var visitOfRow = [Int32](repeating: -1, count: segment.count)
        var visits = [Visit]()
        var runIsWhole = [Bool]()
        runIsWhole.reserveCapacity(segment.visitors.count)
        var deriver = Visits.Deriver<EventSegment.Strings.Code>()
        var first = 0
        for (run, length) in segment.visitorRuns.enumerated() {
            let rows = first..<first + length
            deriver.removeAll()
            var firstActive: Int64?, lastActive: Int64 = 0
            for row in rows {
                runOfRow[row] = UInt16(truncatingIfNeeded: run)
                let timestamp = segment.timestamps[row], kind = segment.kinds[row]
                if kind != .identify {
                    if firstActive == nil { firstActive = timestamp }
                    lastActive = timestamp
                }
                deriver.add(timestampMs: timestamp, kind: kind, page: paths[row])
            }
            var cursor = 0
            for row in rows {
                if let visit = deriver.visit(holding: segment.timestamps[row], cursor: &cursor) { visitOfRow[row] = Int32(visits.count + visit) }
            }
            visits += deriver.visits.map(Visit.init)
            let atACut = run == 0 || run == segment.visitors.count - 1
            let nearMidnight = firstActive.map { $0 - dayStart < Visits.gapMs || dayEnd - lastActive < Visits.gapMs } ?? false
            runIsWhole.append(!atACut && !nearMidnight)
            first += length
        }
        self.segment = segment
        self.runOfRow = runOfRow
        self.visitOfRow = visitOfRow
        self.visits = visits
        self.runIsWhole = runIsWhole
    }

    /// The same segment with the runs of `visitors` not whole: for a day read from more than one
    /// source (a hot day's base and the events stored since), where those visitors have rows in
    /// another segment of the same day.
    public func keeping(_ visitors: Set<VisitorID>) -> IndexedSegment {
        var kept = self
        for (run, visitor) in segment.visitors.enumerated() where visitors.contains(visitor) { kept.runIsWhole[run] = false }
        return kept
    }

    /// The segment without the visitor's rows at or before `fence` (an erasure): itself when it has
    /// none, nil when nothing is left (`EventSegment.removing(rows:)`). Runs that were not whole
    /// (they join rows of another segment) stay so.
    public func erasing(_ visitor: VisitorID, through fence: Int64) -> IndexedSegment? {
        guard let rows = segment.rows(of: visitor) else { return self }
        // A run is in time order: the rows at or before the fence come first.
        let erased = rows.lowerBound..<(rows.first { segment.timestamps[$0] > fence } ?? rows.upperBound)
        guard !erased.isEmpty else { return self }
        guard let kept = segment.removing(rows: erased) else { return nil }
        let joined = Set(segment.visitors.indices.filter { !runIsWhole[$0] }.map { segment.visitors[$0] })
        return IndexedSegment(kept).keeping(joined)
    }

    /// Bytes the segment and its index hold, roughly: what a cache of them budgets by.
    public var estimatedBytes: Int {
        let texts = segment.texts.reduce(0) { sum, column in sum + column.codes.bytes + column.dictionary.reduce(0) { $0 + 16 + $1.utf8.count } }
        // Kinds, device classes and consent; each row's run and visit.
        let perRow = 1 + 1 + 1 + 2 + 4
        let columns = segment.timestamps.bytes + segment.ids.bytes + segment.browserMajors.bytes + segment.engagementMs.bytes
        // Each visitor, and whether its run is whole.
        let perVisitor = 8 + 1
        return texts + segment.count * perRow + columns + segment.visitors.count * perVisitor + segment.visitorRuns.starts.bytes
            + visits.count * MemoryLayout<Visit>.stride
            + segment.props.bytes + (segment.propKeys + segment.propValues).reduce(0) { $0 + 16 + $1.utf8.count }
    }
}
