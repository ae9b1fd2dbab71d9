/// The rollup cells of a span of a site's local days, built at once from the events stored for
/// them (per-event and per-visit cells from `RollupCells`), event by event: the definition of what
/// a date's packs hold. The store builds them column by column from segments
/// (`SegmentRollupBuild`), which a differential test holds equal to this over the same events.
///
/// Built this way a cell is exact for the events given: visits are derived from a visitor's whole
/// run of hits, however many batches brought them, and a visitor sketch is made from its visitors
/// in one go (`HyperLogLog(visitors:)`).
public struct RollupBuild: Sendable {
    /// Where a cell is kept: the site's local date (every metric) or the UTC quarter hour (the
    /// metrics an hourly chart reads, `RollupMetric.keepsQuarterHours`). The weekly tier is the sum
    /// of its days' packs and is left to whoever writes them.
    public enum Tier: Hashable, Sendable { case day, quarterHour }

    /// One pack: a metric's cells in one local date or quarter hour.
    public struct PackID: Hashable, Sendable {
        public let metric: RollupMetric
        public let tier: Tier
        /// The local date's index, or the quarter hour's.
        public let index: UInt32

        public init(metric: RollupMetric, tier: Tier, index: UInt32) {
            (self.metric, self.tier, self.index) = (metric, tier, index)
        }
    }

    /// Every pack the events fill, each cell by dimension value.
    public let packs: [PackID: [String: RollupCell]]

    /// A cell while it is built: its count and, for per-event metrics, its visitors (each once per
    /// visitor run, as the build goes visitor by visitor).
    private struct Tally {
        var count: Int64 = 0
        var visitors: [VisitorID]?

        mutating func add(_ count: Int64, visitor: VisitorID?) {
            self.count &+= count
            guard let visitor else { return }
            if visitors == nil { visitors = [] }
            if visitors!.last != visitor { visitors!.append(visitor) }
        }

        var cell: RollupCell { RollupCell(count: count, visitors: visitors.map { HyperLogLog(visitors: $0) }) }
    }

    /// The packs of the local dates `days` in `calendar`: each event of those dates counted once
    /// (duplicates by id are left out), and each visit that starts in them once, on the date and
    /// quarter hour of its start.
    ///
    /// `events` must hold every event of those dates and, for each of their visitors, the events
    /// either side that reach them within a visit gap: a visit's start decides where it is counted,
    /// its end and exit page may lie past midnight. Events outside `days` are read for that only.
    public init(events: some Sequence<Event>, days: ClosedRange<Day>, calendar: SiteCalendar) {
        var seen = Set<EventID>()
        var byVisitor = [VisitorID: [Event]]()
        for event in events where seen.insert(event.id).inserted { byVisitor[event.visitor, default: []].append(event) }
        var tallies = [PackID: [String: Tally]]()
        // Where `EventStore.apply` placed a cell: by the local date of its quarter hour (every zone
        // offset is a whole number of quarter hours, so that is the event's or visit start's date).
        // Zone offsets are looked up once per quarter hour, not per cell.
        var dayOfBucket = [QuarterHour: Day]()
        func add(_ metric: RollupMetric, _ bucket: QuarterHour, _ dimension: String, _ count: Int64, _ visitor: VisitorID?) {
            let day = dayOfBucket[bucket] ?? {
                let day = calendar.day(containing: bucket.startMs)
                dayOfBucket[bucket] = day
                return day
            }()
            guard days.contains(day) else { return }
            tallies[PackID(metric: metric, tier: .day, index: day.index), default: [:]][dimension, default: Tally()].add(count, visitor: visitor)
            if metric.keepsQuarterHours {
                tallies[PackID(metric: metric, tier: .quarterHour, index: bucket.index), default: [:]][dimension, default: Tally()]
                    .add(count, visitor: visitor)
            }
        }
        for (visitor, events) in byVisitor {
            for event in events {
                RollupCells.of(event) { metric, dimension, count in add(metric, event.quarterHour, dimension, count, visitor) }
            }
            for visit in Visits.derive(events.map(Visits.Hit.init)) {
                let bucket = QuarterHour(containing: visit.startMs)
                RollupCells.of(visit) { metric, dimension, count in add(metric, bucket, dimension, count, nil) }
            }
        }
        packs = tallies.mapValues { $0.mapValues(\.cell) }
    }
}
