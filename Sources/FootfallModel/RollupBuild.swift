/// The rollup cells of a span of a site's local days, built at once from the events stored for
/// them: the same cells `EventStore.apply` merges one batch at a time (per-event cells from
/// `RollupUpdate.forEvent`, per-visit cells from `Visits.Span.rollups`), so that rollups can be
/// written when a day is settled (from its sealed segment) instead of on every hit.
///
/// Built this way a cell is exact for the events given: visits are derived from a visitor's whole
/// run of hits, however many batches brought them, so nothing needs the per-batch visit deltas
/// (`Visits.rollupDelta`) that keep incremental rollups right.
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
    public private(set) var packs: [PackID: [String: RollupCell]] = [:]

    /// The packs of the local dates `days` in `calendar`: each event of those dates counted once
    /// (duplicates by id are left out), and each visit that starts in them once, on the date and
    /// quarter hour of its start.
    ///
    /// `events` must hold every event of those dates and, for each of their visitors, the events
    /// either side that reach them within a visit gap: a visit's start decides where it is counted,
    /// its end and exit page may lie past midnight. Events outside `days` are read for that only.
    public init(events: some Sequence<Event>, days: ClosedRange<Day>, calendar: SiteCalendar) {
        var seen = Set<EventID>()
        var hitsByVisitor = [VisitorID: [Visits.Hit]]()
        for event in events where seen.insert(event.id).inserted {
            hitsByVisitor[event.visitor, default: []].append(Visits.Hit(event))
            for update in RollupUpdate.forEvent(event) { add(update, days, calendar) }
        }
        for hits in hitsByVisitor.values {
            for visit in Visits.derive(hits) {
                for update in visit.rollups(sign: 1) { add(update, days, calendar) }
            }
        }
    }

    private mutating func add(_ update: RollupUpdate, _ days: ClosedRange<Day>, _ calendar: SiteCalendar) {
        // Placed as `EventStore.apply` places it: by the local date of the update's quarter hour
        // (every zone offset is a whole number of quarter hours, so that is the event's date).
        let day = calendar.day(containing: update.bucket.startMs)
        guard days.contains(day) else { return }
        packs[PackID(metric: update.metric, tier: .day, index: day.index), default: [:]][update.dimension, default: RollupCell(count: 0)]
            .merge(update.cell)
        if update.metric.keepsQuarterHours {
            packs[PackID(metric: update.metric, tier: .quarterHour, index: update.bucket.index), default: [:]][
                update.dimension, default: RollupCell(count: 0)].merge(update.cell)
        }
    }
}
