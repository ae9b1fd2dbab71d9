import FootfallModel

/// Rollups are built from a site's settled days, once, instead of by every write: a hit is stored
/// as its event and nothing else, and the maintenance pass turns each local date whose events can
/// no longer change (its UTC days and the two after it sealed, see `lastBuildableDay`) into
/// packs (`SegmentRollupBuild`, the packs `RollupBuild` defines), the site's *built* dates. The
/// dates after those are answered from their events, built in memory when a report asks
/// (`RecentRollups`).
///
/// - A built date is rebuilt, packs replaced, when sealing folds late rows (a repair, a hint)
///   into a UTC day its events and visits reach.
/// - Retention builds a site's dates before it deletes their events, so rollups still outlive
///   raw events.
/// - The weekly tier is the sum of a week's built dates, rewritten with each of them, and read
///   only for weeks built whole.
/// - An erased visitor's hits stay in the dates built before the erasure (rollups hold no
///   personal data) and are not in those built after it.
/// - A store written by a version that merged rollups on every write keeps its packs up to a few
///   days before it was opened (`RollupLayoutUpgrade`): those dates count as built.
extension EventStore {
    /// A local date's events and the visits that reach them lie within the UTC days this many
    /// either side of its index (local midnight is within 14 hours of UTC midnight, and a visit
    /// is followed a day past the date's end).
    static let rollupReachDays = 2

    /// The last local date of the site whose rollups are built, or nil when none is.
    func rollupsBuiltThrough(_ site: SiteID) throws -> Day? {
        try kv.get(.rollups, StorageKeys.rollupsBuiltThrough(site)).flatMap { $0.count == 4 ? Day(index: UInt32(bigEndianBytes: $0[...])) : nil }
    }

    // MARK: Reads

    /// Rollup cells of one metric over a run of the site's local dates, summed per dimension:
    /// built dates from the weekly tier (whole weeks) and the daily tier, the rest from events.
    public func dayTotals(site: SiteID, metric: RollupMetric, days: ClosedRange<Day>) throws -> [String: RollupTotal] {
        var totals = [String: RollupTotal]()
        let (built, recent) = try split(days, site: site)
        if let built { try addBuiltTotals(&totals, site: site, metric: metric, days: built) }
        if let recent {
            addRecent(&totals, try recentPacks(site: site, days: recent)) { $0.metric == metric && $0.tier == .day }
        }
        return totals
    }

    /// Every daily rollup cell of one metric over a run of the site's local dates, in date order.
    public func dayCells(site: SiteID, metric: RollupMetric, days: ClosedRange<Day>,
                         _ body: (Day, String, RollupCell) throws -> Void) throws {
        let (built, recent) = try split(days, site: site)
        if let built {
            let prefixCount = StorageKeys.rollupDayMetric(site, metric).count
            try kv.scan(.rollups, from: StorageKeys.rollupDay(site, metric, built.lowerBound),
                        to: StorageKeys.rollupDay(site, metric, built.upperBound.advanced(by: 1))) { key, value in
                guard let index = StorageKeys.rollupIndex(key: key, prefixCount: prefixCount), let cells = RollupPack.decode(value) else { return true }
                for (dimension, cell) in cells { try body(Day(index: index), dimension, cell) }
                return true
            }
        }
        if let recent {
            let packs = try recentPacks(site: site, days: recent).filter { $0.key.metric == metric && $0.key.tier == .day }
            for (id, cells) in packs.sorted(by: { $0.key.index < $1.key.index }) {
                for (dimension, cell) in cells { try body(Day(index: id.index), dimension, cell) }
            }
        }
    }

    /// Quarter-hour cells of a metric that keeps them (`keepsQuarterHours`) over a bucket range,
    /// summed per dimension.
    public func rollupTotals(site: SiteID, metric: RollupMetric, buckets: Range<QuarterHour>) throws -> [String: RollupTotal] {
        try rollupTotals(site: site, metric: metric, buckets: buckets) { _ in 0 }[0] ?? [:]
    }

    /// Quarter-hour cells of a metric that keeps them over a bucket range, summed per dimension
    /// within each group `group` puts a bucket in (nil leaves it out): an hourly series reads
    /// the range once, not once per hour (a month of hours was 744 reads of the built tier and of
    /// the recent packs).
    public func rollupTotals(site: SiteID, metric: RollupMetric, buckets: Range<QuarterHour>,
                             groupedBy group: (QuarterHour) -> Int?) throws -> [Int: [String: RollupTotal]] {
        precondition(metric.keepsQuarterHours, "\(metric.name) is kept per local day only")
        guard !buckets.isEmpty else { return [:] }
        let calendar = calendars(site)
        // The first quarter hour of the first date not built.
        let boundary = try rollupsBuiltThrough(site).map { QuarterHour(containing: calendar.startMs(of: $0.advanced(by: 1))) } ?? QuarterHour(index: 0)
        var groups = [Int: [String: RollupTotal]]()
        func add(_ bucket: QuarterHour, _ dimension: String, _ cell: ArraySlice<UInt8>) {
            guard let g = group(bucket) else { return }
            groups[g, default: [:]][dimension, default: RollupTotal()].add(encoded: cell)
        }
        if buckets.lowerBound < boundary {
            let prefixCount = StorageKeys.rollupMetric(site, metric).count
            try kv.scan(.rollups, from: StorageKeys.rollupBucket(site, metric, buckets.lowerBound),
                        to: StorageKeys.rollupBucket(site, metric, min(buckets.upperBound, boundary))) { key, value in
                guard let index = StorageKeys.rollupIndex(key: key, prefixCount: prefixCount) else { return true }
                for (dimension, cell) in RollupPack.entries(value) ?? [] { add(QuarterHour(index: index), dimension, cell) }
                return true
            }
        }
        if boundary < buckets.upperBound {
            let recent = max(buckets.lowerBound, boundary)..<buckets.upperBound
            let days = calendar.day(containing: recent.lowerBound.startMs)...calendar.day(containing: recent.upperBound.startMs - 1)
            for (id, cells) in try recentPacks(site: site, days: days)
            where id.metric == metric && id.tier == .quarterHour && recent.contains(QuarterHour(index: id.index)) {
                for (dimension, cell) in cells { add(QuarterHour(index: id.index), dimension, cell.encoded[...]) }
            }
        }
        return groups
    }

    /// Adds the cells of the packs `wanted` picks to `totals` per dimension.
    private func addRecent(_ totals: inout [String: RollupTotal], _ packs: RecentRollups.Packs, wanted: (RollupBuild.PackID) -> Bool) {
        for (id, cells) in packs where wanted(id) {
            for (dimension, cell) in cells { totals[dimension, default: RollupTotal()].add(encoded: cell.encoded[...]) }
        }
    }

    /// The built dates of `days` and the rest, either nil when it has none.
    private func split(_ days: ClosedRange<Day>, site: SiteID) throws -> (built: ClosedRange<Day>?, recent: ClosedRange<Day>?) {
        guard let last = try rollupsBuiltThrough(site) else { return (nil, days) }
        return (days.lowerBound <= last ? days.lowerBound...min(days.upperBound, last) : nil,
                days.upperBound > last ? max(days.lowerBound, last.advanced(by: 1))...days.upperBound : nil)
    }

    /// Built dates' packs of a metric summed per dimension: whole weeks from the weekly tier, the
    /// dates either side from the daily tier.
    private func addBuiltTotals(_ totals: inout [String: RollupTotal], site: SiteID, metric: RollupMetric, days: ClosedRange<Day>) throws {
        let end = UInt64(days.upperBound.index) + 1
        let firstWeek = (UInt64(days.lowerBound.index) + 6) / 7, endWeek = end / 7
        func addDays(_ from: UInt64, _ to: UInt64) throws {
            guard from < to else { return }
            try addPacks(&totals, from: StorageKeys.rollupDay(site, metric, Day(index: UInt32(from))),
                         to: StorageKeys.rollupDay(site, metric, Day(index: UInt32(clamping: to))))
        }
        guard firstWeek < endWeek else { return try addDays(UInt64(days.lowerBound.index), end) }
        try addDays(UInt64(days.lowerBound.index), firstWeek * 7)
        try addPacks(&totals, from: StorageKeys.rollupWeek(site, metric, UInt32(firstWeek)), to: StorageKeys.rollupWeek(site, metric, UInt32(endWeek)))
        try addDays(endWeek * 7, end)
    }

    /// Adds the packs in [from, to) to `totals` per dimension; sketches stay encoded until asked for.
    private func addPacks(_ totals: inout [String: RollupTotal], from: [UInt8], to: [UInt8]) throws {
        try kv.scan(.rollups, from: from, to: to) { _, value in
            for (dimension, cell) in RollupPack.entries(value) ?? [] { totals[dimension, default: RollupTotal()].add(encoded: cell) }
            return true
        }
    }

    /// The packs of local dates not built yet, from their events: each date built in memory once
    /// and kept until a write reaches the UTC days it reads (a costly one answered from its last
    /// build while it is built again: see `RecentRollups`).
    func recentPacks(site: SiteID, days: ClosedRange<Day>) throws -> RecentRollups.Packs {
        var packs = RecentRollups.Packs()
        // Only dates that can hold events are built (a range may reach far past them): a local
        // date is within a day of the UTC day of its events.
        guard let held = try rawDays(site: site),
              days.lowerBound <= held.upperBound.advanced(by: 1), held.lowerBound.advanced(by: -1) <= days.upperBound else { return packs }
        let calendar = calendars(site)
        let dates = Array(max(days.lowerBound, held.lowerBound.advanced(by: -1))...min(days.upperBound, held.upperBound.advanced(by: 1)))
        // Every date's inputs are taken before any event is read: neighbouring dates read mostly
        // the same UTC days (today for yesterday's and today's), each read once per call, and a
        // day read for one date must not serve a later one whose inputs count a write made since.
        let inputs = dates.map { recentRollups.inputs(of: site, days: EventStore.daysRead(by: $0, calendar: calendar)) }
        var read = [Day: [IndexedSegment]]()
        for (day, dayInputs) in zip(dates, inputs) {
            let key = SealedDay(site: site, day: day)
            let dayPacks: RecentRollups.Packs
            switch recentRollups.lookup(key, inputs: dayInputs) {
            case .current(let kept):
                dayPacks = kept
            case .late(let kept):
                dayPacks = kept
                recentRollups.buildInBackground(key) { [self] in
                    let inputs = recentRollups.inputs(of: site, days: EventStore.daysRead(by: day, calendar: calendar))
                    _ = try buildRecentDate(key, inputs: inputs, calendar: calendar) { try utcDayParts(site: site, day: $0) }
                }
            case .missing:
                dayPacks = try buildRecentDate(key, inputs: dayInputs, calendar: calendar) { utcDay in
                    if let parts = read[utcDay] { return parts }
                    let parts = try utcDayParts(site: site, day: utcDay)
                    read[utcDay] = parts
                    return parts
                }
            }
            packs.merge(dayPacks) { mine, _ in mine }
        }
        return packs
    }

    /// Reads the site's yesterday and today into memory as their first report would: their rows
    /// into the hot tier, their rollups built from them. Run once after a start, so the first
    /// reports and live feeds of a busy site after a restart do not wait for a build from rows
    /// (seconds for today's hundreds of thousands of hits).
    public func warmUp(site: SiteID, nowMs: Int64) throws {
        let today = calendars(site).day(containing: nowMs)
        _ = try recentPacks(site: site, days: today.advanced(by: -1)...today)
    }

    /// Builds a date not built yet from its events and keeps it, with `inputs` (taken before any
    /// of the events were read) and how many it read.
    private func buildRecentDate(_ date: SealedDay, inputs: RecentRollups.Inputs, calendar: SiteCalendar,
                                 parts: (Day) throws -> [IndexedSegment]) throws -> RecentRollups.Packs {
        var read = 0
        let packs = try localDayPacks(site: date.site, day: date.day, calendar: calendar) { day in
            let dayParts = try parts(day)
            read += dayParts.reduce(0) { $0 + $1.segment.count }
            return dayParts
        }
        recentRollups.keep(packs, of: date, inputs: inputs, events: read)
        return packs
    }

    /// The first and last UTC day holding raw events of the site (rows or a segment), or nil.
    private func rawDays(site: SiteID) throws -> ClosedRange<Day>? {
        let prefix = StorageKeys.sitePrefix(site)
        var days = [Day]()
        for family in [ColumnFamily.events, .segments] {
            for reverse in [false, true] {
                try kv.scan(family, prefix: prefix, reverse: reverse) { key, _ in
                    if key.count >= prefix.count + 4 { days.append(Day(index: UInt32(bigEndianBytes: key[prefix.count..<prefix.count + 4]))) }
                    return false
                }
            }
        }
        guard let first = days.min(), let last = days.max() else { return nil }
        return first...last
    }

    /// A UTC day's events as the engine reads them. Retention does not apply: the dates built
    /// are recent, or being built before retention deletes them.
    private func utcDayParts(site: SiteID, day: Day) throws -> [IndexedSegment] {
        var parts = [IndexedSegment]()
        let span = TimeRange(startMs: day.startMs, endMs: day.advanced(by: 1).startMs)
        try segments(site: site, in: span, nowMs: span.endMs, retention: RetentionPlan(days: RetentionPlan.daysMax)!) { parts.append($0) }
        return parts
    }

    /// The span of a local date, and the span its packs read: a day either side, where its
    /// visitors' visits begin and end.
    private static func spans(of day: Day, calendar: SiteCalendar) -> (date: Range<Int64>, reach: Range<Int64>) {
        let date = calendar.startMs(of: day)..<calendar.startMs(of: day.advanced(by: 1))
        return (date, max(0, date.lowerBound - TimeUnits.dayMs)..<date.upperBound + TimeUnits.dayMs)
    }

    /// The UTC days a local date's packs are built from: the inputs that name a build of it.
    static func daysRead(by day: Day, calendar: SiteCalendar) -> ClosedRange<Day> {
        let reach = spans(of: day, calendar: calendar).reach
        return Day(containing: reach.lowerBound)...Day(containing: reach.upperBound - 1)
    }

    /// One local date's packs from the segments of its UTC days and a day either side (where
    /// its visitors' visits begin and end; `SegmentRollupBuild`). The days around are read only
    /// when the date holds events: the date after today holds none, and reading today for it cost
    /// as much as building today.
    private func localDayPacks(site: SiteID, day: Day, calendar: SiteCalendar,
                               parts dayParts: (Day) throws -> [IndexedSegment]) throws -> [RollupBuild.PackID: [String: RollupCell]] {
        let (date, reach) = EventStore.spans(of: day, calendar: calendar)
        let own = Day(containing: date.lowerBound)...Day(containing: date.upperBound - 1)
        let ownParts = try own.map { try dayParts($0) }
        guard ownParts.joined().contains(where: { $0.segment.timestamps.contains(where: date.contains) }) else { return [:] }
        var build = SegmentRollupBuild(days: day...day, reach: reach, calendar: calendar)
        for utcDay in EventStore.daysRead(by: day, calendar: calendar) {
            for part in own.contains(utcDay) ? ownParts[own.lowerBound.distance(to: utcDay)] : try dayParts(utcDay) { build.add(part) }
        }
        return build.finish()
    }

    // MARK: Building

    /// The last local date of a site whose rollups can be built at `nowMs`: the UTC days its
    /// events and visits reach (`rollupReachDays` after it) are all settled.
    static func lastBuildableDay(nowMs: Int64) -> Day {
        Day(containing: nowMs - lateHitWindowMs).advanced(by: -1 - rollupReachDays)
    }

    /// Builds the site's rollups: each date after the last built one up to `lastBuildableDay`
    /// (from the site's first event when none is built), and again each built date whose events
    /// `resealed` (UTC days sealing folded late rows into) may have changed, unless the plan
    /// deleted some of the events it was built from. Events are read outside the write lock; a
    /// date written meanwhile is left for the next pass. Returns the dates built.
    @discardableResult
    public func buildRollups(site: SiteID, plan: RetentionPlan, nowMs: Int64, resealed: Set<Day> = []) throws -> Int {
        let calendar = calendars(site)
        let last = EventStore.lastBuildableDay(nowMs: nowMs)
        let built = try rollupsBuiltThrough(site)
        let wholeFrom = plan.firstKeptDay(nowMs: nowMs).advanced(by: EventStore.rollupReachDays)
        var dates = Set<Day>()
        if let built {
            for sealed in resealed {
                for date in sealed.advanced(by: -EventStore.rollupReachDays)...sealed.advanced(by: EventStore.rollupReachDays)
                where date <= built && date >= wholeFrom {
                    dates.insert(date)
                }
            }
        }
        let first = try built.map { $0.advanced(by: 1) } ?? oldestEventMs(site: site).map { calendar.day(containing: $0) }
        var forward = [Day]()
        if let first, first <= last { forward = Array(first...last) }
        var count = 0
        var pass = BuildPass()
        for date in dates.sorted() + forward {
            // A write to the UTC days a date reads makes its build start over; after a few tries
            // the pass moves on (the next one builds what is left).
            var tries = 0
            while try !buildDate(date, site: site, calendar: calendar, advancesMark: built.map { date > $0 } ?? true, &pass) {
                pass = BuildPass()
                tries += 1
                guard tries < 3 else { return count }
            }
            count += 1
        }
        return count
    }

    /// What a pass carries from one date to the next, consecutive dates reading mostly the same
    /// UTC days and adding to the same week: the days' segments, and the week's sums so far.
    private struct BuildPass {
        /// Each day's segments with its inputs when read (`RecentRollups.inputs` of the day
        /// alone): kept while those are unchanged.
        var dayParts = [Day: (inputs: RecentRollups.Inputs, parts: [IndexedSegment])]()
        var week: (index: UInt32, through: Day, sums: [RollupMetric: [String: RollupCell]])?

        mutating func parts(of day: Day, inputs: RecentRollups.Inputs, _ read: (Day) throws -> [IndexedSegment]) rethrows -> [IndexedSegment] {
            if let held = dayParts[day], held.inputs == inputs { return held.parts }
            let parts = try read(day)
            // Dates go forward: days well behind this one are not read again.
            dayParts = dayParts.filter { $0.key >= day.advanced(by: -4) }
            dayParts[day] = (inputs, parts)
            return parts
        }
    }

    /// Builds one local date's packs and writes them in place of what it had, with its week's,
    /// moving the site's built mark to it when `advancesMark`. False when a write reached the
    /// UTC days it read meanwhile (nothing is written).
    private func buildDate(_ date: Day, site: SiteID, calendar: SiteCalendar, advancesMark: Bool, _ pass: inout BuildPass) throws -> Bool {
        let read = EventStore.daysRead(by: date, calendar: calendar)
        let inputs = recentRollups.inputs(of: site, days: read)
        let packs = try localDayPacks(site: site, day: date, calendar: calendar) { day in
            try pass.parts(of: day, inputs: recentRollups.inputs(of: site, days: day...day)) { try utcDayParts(site: site, day: $0) }
        }
        let builtThrough = advancesMark ? date : try rollupsBuiltThrough(site) ?? date
        // The week's earlier dates, summed by the date before in this pass or read from the packs.
        let week = date.index / 7
        let earlier = pass.week.flatMap { $0.index == week && $0.through == date.advanced(by: -1) && advancesMark ? $0.sums : nil }
        var sums = [RollupMetric: [String: RollupCell]]()
        var batch = WriteBatch()
        let quarters = (QuarterHour(containing: calendar.startMs(of: date)), QuarterHour(containing: calendar.startMs(of: date.advanced(by: 1))))
        for metric in RollupMetric.allCases {
            batch.deleteRange(.rollups, StorageKeys.rollupDay(site, metric, date), StorageKeys.rollupDay(site, metric, date.advanced(by: 1)))
            if metric.keepsQuarterHours {
                batch.deleteRange(.rollups, StorageKeys.rollupBucket(site, metric, quarters.0), StorageKeys.rollupBucket(site, metric, quarters.1))
            }
            // The week's pack: its built dates summed, this one as just built.
            var weekCells = [String: RollupCell]()
            if let earlier {
                weekCells = earlier[metric] ?? [:]
            } else {
                for other in (week * 7)...(week * 7 + 6) where other != date.index && Day(index: other) <= builtThrough {
                    let cells = try kv.get(.rollups, StorageKeys.rollupDay(site, metric, Day(index: other))).flatMap(RollupPack.decode)
                    for (dimension, cell) in cells ?? [:] { weekCells[dimension, default: RollupCell(count: 0)].merge(cell) }
                }
            }
            for (dimension, cell) in packs[RollupBuild.PackID(metric: metric, tier: .day, index: date.index)] ?? [:] {
                weekCells[dimension, default: RollupCell(count: 0)].merge(cell)
            }
            sums[metric] = weekCells
            batch.delete(.rollups, StorageKeys.rollupWeek(site, metric, week))
            if let cells = filled(weekCells) { batch.put(.rollups, StorageKeys.rollupWeek(site, metric, week), RollupPack.encode(cells)) }
        }
        for (id, cells) in packs {
            guard let cells = filled(cells) else { continue }
            let key = id.tier == .day ? StorageKeys.rollupDay(site, id.metric, Day(index: id.index))
                : StorageKeys.rollupBucket(site, id.metric, QuarterHour(index: id.index))
            batch.put(.rollups, key, RollupPack.encode(cells))
        }
        if advancesMark { batch.put(.rollups, StorageKeys.rollupsBuiltThrough(site), date.index.bigEndianBytes) }
        // Writes note the days they reach under the write lock (`RecentRollups.noteWritten`), so
        // unchanged inputs here mean no write since they were read.
        return try writeLock.withLock { _ in
            guard recentRollups.inputs(of: site, days: read) == inputs else { return false }
            // Not synced, as sealing: a lost batch is built again by the next pass.
            try kv.write(batch, sync: false)
            pass.week = advancesMark ? (week, date, sums) : nil
            return true
        }
    }

    /// The cells worth storing (a count, or visitors), or nil when none is.
    private func filled(_ cells: [String: RollupCell]) -> [String: RollupCell]? {
        let kept = cells.filter { $0.value.count != 0 || $0.value.visitors != nil }
        return kept.isEmpty ? nil : kept
    }
}
