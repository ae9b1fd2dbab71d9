/// The rollup packs of a span of a site's local dates, built from the indexed segments of the UTC
/// days they reach, column by column: the packs `RollupBuild` makes of the same events (a
/// differential test holds them equal), without decoding an event.
///
/// `RollupBuild` turned every event into an `Event` and every cell it adds into a string-keyed
/// dictionary update; a busy site's today (hundreds of thousands of hits, built again as hits
/// come) took seconds, and reports of recent days trailed the writes by that much. Here a cell is
/// found by dictionary code, once per segment and code, and counted in a loop over the column;
/// visits come from the segment's index where a run's visits are whole, and are derived again
/// (as `SegmentAnalysis` does) only for the rows of runs that join other segments.
///
/// Segments must come in day order, each event once, a visitor's rows of a day in one segment, at
/// a cut between parts, or kept in every segment of the day that holds them
/// (`IndexedSegment.keeping`), as `EventStore.segments` gives them.
public struct SegmentRollupBuild {
    private let days: ClosedRange<Day>
    private let reach: Range<Int64>
    private let calendar: SiteCalendar
    /// Each cell being built, by pack and dimension value: its index in `tallies`.
    private var slots = [Slot: Int]()
    private var tallies = [Tally]()
    /// The offset into `days` of the local date of each quarter hour looked up (-1: none of them).
    private var dateOfBucket = [UInt32: Int32]()
    /// Rows of runs whose visits may join rows of other segments, for deriving their visits once
    /// every segment is in.
    private var kept = [KeptRow]()
    /// Each added segment's path dictionary: the pages of visits derived from kept rows.
    private var pagesOfSegments = [[String]]()

    private static let bucketsPerDay = Int(TimeUnits.dayMs / TimeUnits.quarterHourMs)

    private struct Slot: Hashable {
        let pack: RollupBuild.PackID
        let dimension: String
    }

    /// A cell while it is built, as `RollupBuild` keeps it: its count and, for per-event metrics,
    /// its visitors (a visitor once per run of rows that adds to the cell; the sketch made of the
    /// list at the end takes each once).
    private struct Tally {
        var count: Int64 = 0
        var visitors: [VisitorID]?

        mutating func add(_ count: Int64, visitor: VisitorID) {
            self.count &+= count
            if visitors == nil { visitors = [] }
            if visitors!.last != visitor { visitors!.append(visitor) }
        }
    }

    private struct KeptRow {
        let visitor: VisitorID
        let timestampMs: Int64
        let id: EventID
        let kind: Event.Kind
        let page: PageRef
    }

    /// - Parameters:
    ///   - days: the local dates whose packs are built.
    ///   - reach: the span whose rows a visit may take (rows outside it are left out, as the
    ///     events given to `RollupBuild` are): the dates and a day either side.
    public init(days: ClosedRange<Day>, reach: Range<Int64>, calendar: SiteCalendar) {
        (self.days, self.reach, self.calendar) = (days, reach, calendar)
    }

    public mutating func add(_ indexed: IndexedSegment) {
        let segment = indexed.segment
        let index = pagesOfSegments.count
        pagesOfSegments.append(segment.texts[EventSegment.Text.path.rawValue].dictionary)
        // Each row's quarter hour of the segment's day (its offset from the first) and its local
        // date (an offset into `days`), -1 where the date is not one of them: those rows only
        // take part in visits.
        let firstBucket = QuarterHour(containing: segment.day.startMs).index
        var buckets = [Int32](repeating: -1, count: segment.count), dates = [Int32](repeating: -1, count: segment.count)
        var dateOfOffset = [Int32?](repeating: nil, count: SegmentRollupBuild.bucketsPerDay)
        for row in 0..<segment.count {
            let bucket = QuarterHour(containing: segment.timestamps[row]).index
            // A segment holds only its day's rows; anything else would be counted nowhere.
            guard bucket >= firstBucket, case let offset = Int(bucket - firstBucket), offset < SegmentRollupBuild.bucketsPerDay else { continue }
            let date = dateOfOffset[offset] ?? date(ofBucket: bucket)
            dateOfOffset[offset] = date
            buckets[row] = Int32(offset)
            dates[row] = date
        }
        addEventCells(of: segment, dates: dates, buckets: buckets, firstBucket: firstBucket)
        addVisits(of: indexed, at: index, firstBucket: firstBucket, dateOfOffset: dateOfOffset)
    }

    /// The packs built, once every segment is in.
    public mutating func finish() -> [RollupBuild.PackID: [String: RollupCell]] {
        addKeptVisits()
        var packs = [RollupBuild.PackID: [String: RollupCell]]()
        for (slot, index) in slots {
            let tally = tallies[index]
            packs[slot.pack, default: [:]][slot.dimension] = RollupCell(count: tally.count, visitors: tally.visitors.map { HyperLogLog(visitors: $0) })
        }
        return packs
    }

    // MARK: Per-event cells (`RollupCells.of(event)`)

    private mutating func addEventCells(of segment: EventSegment, dates: [Int32], buckets: [Int32], firstBucket: UInt32) {
        let kinds = segment.kinds
        // A UTC day holds at most two local dates: cells are looked up per place among those.
        let placed = dates.filter { $0 >= 0 }
        guard let firstDate = placed.min(), let lastDate = placed.max() else { return }
        let firstDay = days.lowerBound.advanced(by: Int(firstDate))
        let dayPlaces = Places(of: dates.map { $0 >= 0 ? $0 - firstDate : -1 }, count: Int(lastDate - firstDate) + 1) { .day(firstDay.advanced(by: Int($0))) }
        let bucketPlaces = Places(of: buckets.indices.map { dates[$0] >= 0 ? buckets[$0] : -1 }, count: SegmentRollupBuild.bucketsPerDay) {
            .quarterHour(QuarterHour(index: UInt32(clamping: Int(firstBucket) + Int($0))))
        }
        // Pageviews count toward the total; custom events and clicks only add their visitors.
        let total = kinds.map { kind -> Int32 in kind == .pageview || kind == .custom || kind == .click ? 0 : -1 }
        tally(.total, segment, keys: total, keyCount: 1, at: dayPlaces, pageviewsOnly: true) { _ in "" }
        tally(.total, segment, keys: total, keyCount: 1, at: bucketPlaces, pageviewsOnly: true) { _ in "" }
        let columns: [(RollupMetric, EventSegment.Text)] = [
            (.page, .path), (.referrer, .referrerHost), (.utmSource, .utmSource), (.utmMedium, .utmMedium),
            (.utmCampaign, .utmCampaign), (.utmTerm, .utmTerm), (.utmContent, .utmContent), (.country, .country),
            (.region, .region), (.browser, .browser), (.os, .os),
        ]
        for (metric, text) in columns {
            let column = segment.texts[text.rawValue]
            // A page counts even when empty; the other dimensions only with a value. The
            // dictionary is sorted, so an empty value is code 0.
            let empty: Int32 = metric != .page && column.dictionary.first == "" ? 0 : -1
            let keys = zip(kinds, column.codes).map { kind, code in kind == .pageview && Int32(code) != empty ? Int32(code) : -1 }
            tally(metric, segment, keys: keys, keyCount: column.dictionary.count, at: dayPlaces) { column.dictionary[Int($0)] }
        }
        let devices = zip(kinds, segment.deviceClasses).map { kind, device in kind == .pageview ? Int32(device.rawValue) : -1 }
        tally(.device, segment, keys: devices, keyCount: Int(UInt8.max) + 1, at: dayPlaces) { Device.Class(rawValue: UInt8($0))?.name ?? "" }
        let names = segment.texts[EventSegment.Text.name.rawValue], targets = segment.texts[EventSegment.Text.target.rawValue]
        let customs = zip(kinds, names.codes).map { kind, code in kind == .custom ? Int32(code) : -1 }
        tally(.customEvent, segment, keys: customs, keyCount: names.dictionary.count, at: dayPlaces) { names.dictionary[Int($0)] }
        // A click's dimension is "name:target": each pair of codes seen gets a key.
        var pairs = [UInt32: Int32](), spelled = [String]()
        let clicks = kinds.indices.map { row -> Int32 in
            guard kinds[row] == .click else { return -1 }
            let pair = UInt32(names.codes[row]) << 16 | UInt32(targets.codes[row])
            if let key = pairs[pair] { return key }
            pairs[pair] = Int32(spelled.count)
            spelled.append("\(names[row]):\(targets[row])")
            return Int32(spelled.count - 1)
        }
        tally(.click, segment, keys: clicks, keyCount: spelled.count, at: dayPlaces) { spelled[Int($0)] }
    }

    /// Where each row of a segment puts its cells: a place (0..<count, -1 for none) per row, and
    /// where each place is.
    private struct Places {
        let ofRow: [Int32]
        let count: Int
        let place: (Int32) -> RollupBuild.PackID.Place

        init(of rows: [Int32], count: Int, _ place: @escaping (Int32) -> RollupBuild.PackID.Place) {
            (ofRow, self.count, self.place) = (rows, count, place)
        }
    }

    /// Counts each row with a key (`keys`, below `keyCount`; -1 for none) and a place in the cell
    /// of `metric` at that place spelled `value(key)`, with its visitor. A cell is looked up once
    /// per place and key; the rest of the rows are an array load each.
    private mutating func tally(_ metric: RollupMetric, _ segment: EventSegment, keys: [Int32], keyCount: Int, at places: Places,
                                pageviewsOnly: Bool = false, value: (Int32) -> String) {
        var found = [Int32](repeating: -1, count: places.count * keyCount)
        var first = 0
        for (run, length) in segment.visitorRuns.enumerated() {
            let visitor = segment.visitors[run]
            for row in first..<first + length {
                let key = keys[row], place = places.ofRow[row]
                guard key >= 0, place >= 0 else { continue }
                let cell = Int(place) * keyCount + Int(key)
                if found[cell] < 0 { found[cell] = Int32(slot(places.place(place).pack(of: metric), value(key), perEvent: true)) }
                tallies[Int(found[cell])].add(pageviewsOnly && segment.kinds[row] != .pageview ? 0 : 1, visitor: visitor)
            }
            first += length
        }
    }

    // MARK: Visits (`RollupCells.of(visit)`)

    /// Counts the visits of the segment's whole runs from its index, and keeps the rows of the
    /// other runs (within `reach`) to derive theirs across segments. `dateOfOffset` is the date
    /// of each quarter hour of the segment's day that holds a row.
    private mutating func addVisits(of indexed: IndexedSegment, at index: Int, firstBucket: UInt32, dateOfOffset: [Int32?]) {
        let segment = indexed.segment
        let paths = segment.texts[EventSegment.Text.path.rawValue]
        let placed = dateOfOffset.compactMap { $0 }.filter { $0 >= 0 }
        var cells = placed.min().map { VisitCells(firstDate: $0, dates: Int(placed.max()! - $0) + 1, pages: paths.dictionary.count) }
        var first = 0
        for (run, length) in segment.visitorRuns.enumerated() {
            defer { first += length }
            let rows = first..<first + length
            guard indexed.runIsWhole[run] else {
                let visitor = segment.visitors[run]
                for row in rows where reach.contains(segment.timestamps[row]) {
                    kept.append(KeptRow(visitor: visitor, timestampMs: segment.timestamps[row], id: segment.ids[row], kind: segment.kinds[row],
                                        page: PageRef(segment: index, code: paths.codes[row])))
                }
                continue
            }
            // A whole run's visits lie within its UTC day, which `reach` holds whole when the day
            // holds any of `days`: every visit starting in them is counted as it was indexed, in
            // cells found once per date (or quarter hour) and page.
            var last: Int32 = -1
            for row in rows where indexed.visitOfRow[row] > last {
                last = indexed.visitOfRow[row]
                let visit = indexed.visits[Int(last)]
                // A visit starts at one of the run's rows: its quarter hour's date is known.
                let offset = Int(QuarterHour(containing: visit.startMs).index) - Int(firstBucket)
                guard dateOfOffset.indices.contains(offset), let date = dateOfOffset[offset], date >= 0, cells != nil else { continue }
                let day = days.lowerBound.advanced(by: Int(date)), place = Int(date - cells!.firstDate)
                func add(_ table: WritableKeyPath<VisitCells, [Int32]>, _ at: Int, _ metric: RollupMetric, _ dimension: @autoclosure () -> String,
                         _ count: Int64, quarterHour: Bool = false) {
                    if cells![keyPath: table][at] < 0 {
                        let place: RollupBuild.PackID.Place = quarterHour ? .quarterHour(QuarterHour(index: UInt32(clamping: Int(firstBucket) + offset))) : .day(day)
                        cells![keyPath: table][at] = Int32(slot(place.pack(of: metric), dimension(), perEvent: false))
                    }
                    tallies[Int(cells![keyPath: table][at])].count &+= count
                }
                add(\.visits, place, .visits, "", 1)
                add(\.quarterVisits, offset, .visits, "", 1, quarterHour: true)
                add(\.durations, place, .visitDuration, "", Int64(visit.durationMs))
                add(\.entries, place * cells!.pages + Int(visit.entry), .entryPage, paths.dictionary[Int(visit.entry)], 1)
                add(\.exits, place * cells!.pages + Int(visit.exit), .exitPage, paths.dictionary[Int(visit.exit)], 1)
                if visit.pageviews == 1 && visit.interactions == 0 { add(\.bounces, place, .bounces, "", 1) }
            }
        }
    }

    /// The cells a segment's whole-run visits add to, each found when first needed (-1 until
    /// then): per local date of the segment's day (offset from `firstDate`), per date and page
    /// code, and per quarter hour of the day. The cells of `RollupCells.of(visit)`.
    private struct VisitCells {
        let firstDate: Int32
        let pages: Int
        var visits: [Int32], durations: [Int32], bounces: [Int32], entries: [Int32], exits: [Int32]
        var quarterVisits = [Int32](repeating: -1, count: SegmentRollupBuild.bucketsPerDay)

        init(firstDate: Int32, dates: Int, pages: Int) {
            (self.firstDate, self.pages) = (firstDate, pages)
            (visits, durations, bounces) = ([Int32](repeating: -1, count: dates), [Int32](repeating: -1, count: dates), [Int32](repeating: -1, count: dates))
            (entries, exits) = ([Int32](repeating: -1, count: dates * pages), [Int32](repeating: -1, count: dates * pages))
        }
    }

    /// Derives and counts the visits of the kept rows, visitor by visitor, in `Visits.Hit` order.
    private mutating func addKeptVisits() {
        kept.sort { a, b in (a.visitor.rawValue, a.timestampMs, a.id) < (b.visitor.rawValue, b.timestampMs, b.id) }
        var deriver = Visits.Deriver<PageRef>()
        var first = 0
        while first < kept.count {
            var end = first + 1
            while end < kept.count, kept[end].visitor == kept[first].visitor { end += 1 }
            deriver.removeAll()
            for row in kept[first..<end] { deriver.add(timestampMs: row.timestampMs, kind: row.kind, page: row.page) }
            for visit in deriver.visits { countVisit(visit.span { pagesOfSegments[$0.segment][Int($0.code)] }) }
            first = end
        }
        kept = []
    }

    /// Adds a visit's cells where it starts, if that is in `days`.
    private mutating func countVisit(_ visit: Visits.Visit) {
        let bucket = QuarterHour(containing: visit.startMs)
        let date = date(ofBucket: bucket.index)
        guard date >= 0 else { return }
        let day = days.lowerBound.advanced(by: Int(date))
        RollupCells.of(visit) { metric, dimension, count in
            tallies[slot(RollupBuild.PackID.Place.day(day).pack(of: metric), dimension, perEvent: false)].count &+= count
            if metric.keepsQuarterHours {
                tallies[slot(RollupBuild.PackID.Place.quarterHour(bucket).pack(of: metric), dimension, perEvent: false)].count &+= count
            }
        }
    }

    // MARK: Cells

    /// The offset into `days` of the local date a quarter hour is in (every zone offset is a
    /// whole number of quarter hours), or -1.
    private mutating func date(ofBucket bucket: UInt32) -> Int32 {
        if let date = dateOfBucket[bucket] { return date }
        let day = calendar.day(containing: QuarterHour(index: bucket).startMs)
        let date = days.contains(day) ? Int32(exactly: days.lowerBound.distance(to: day)) ?? -1 : -1
        dateOfBucket[bucket] = date
        return date
    }

    /// The index of the cell in `tallies`, added when new.
    private mutating func slot(_ pack: RollupBuild.PackID, _ dimension: String, perEvent: Bool) -> Int {
        let key = Slot(pack: pack, dimension: dimension)
        if let index = slots[key] { return index }
        slots[key] = tallies.count
        tallies.append(Tally(count: 0, visitors: perEvent ? [] : nil))
        return tallies.count - 1
    }
}

extension Visits.Span {
    /// The same visit with its pages spelled another way.
    func span<Other>(_ page: (Page) -> Other) -> Visits.Span<Other> {
        Visits.Span<Other>(startMs: startMs, endMs: endMs, pageviews: pageviews, interactions: interactions,
                           entryPage: page(entryPage), exitPage: page(exitPage))
    }
}

extension RollupBuild.PackID {
    /// Where a cell is placed: a local date, or a quarter hour.
    enum Place {
        case day(Day)
        case quarterHour(QuarterHour)

        func pack(of metric: RollupMetric) -> RollupBuild.PackID {
            switch self {
            case .day(let day): RollupBuild.PackID(metric: metric, tier: .day, index: day.index)
            case .quarterHour(let bucket): RollupBuild.PackID(metric: metric, tier: .quarterHour, index: bucket.index)
            }
        }
    }
}
