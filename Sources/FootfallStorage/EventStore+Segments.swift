import FootfallModel

/// A site's UTC day: the unit a segment seals.
struct SealedDay: Hashable {
    let site: SiteID
    let day: Day
}

/// What a sealed day holds: how many parts (`EventSegment`s of at most `rowsMax` rows) and rows,
/// the digest of its ids per anti-entropy slice (so a repair round compares a sealed day without
/// decoding it), and its seal, a number each sealing draws at random: a reader that cached the
/// day's decoded parts knows them current while the stored seal is the one it cached them under.
/// Stored at the day's key in the `segments` family, before its parts.
struct SegmentManifest: Equatable {
    /// A day holds at most this many parts (268 M rows); a manifest that claims more is damaged.
    static let partsMax = 4_096
    /// 3: segments no longer carry id times apart from row times, and the manifest carries the
    /// day's digests (a day sealed by version 2 is sealed again).
    private static let version: UInt8 = 3
    private static let encodedCount = 15 + 16 * EventSetDigest.slicesPerDay

    let parts: Int
    let rows: Int
    let seal: UInt64
    /// One per slice (`EventSetDigest.slicesPerDay`).
    let digests: [EventSetDigest]

    var encoded: [UInt8] {
        [SegmentManifest.version] + UInt16(parts).bigEndianBytes + UInt32(rows).bigEndianBytes + seal.bigEndianBytes
            + digests.flatMap { $0.count.bigEndianBytes + $0.hash.bigEndianBytes }
    }

    /// Nil for a value this version did not write or whose counts cannot be.
    init?(encoded bytes: [UInt8]) {
        guard bytes.count == SegmentManifest.encodedCount, bytes[0] == SegmentManifest.version else { return nil }
        // Read for every day of every report: loads, not the generic byte-by-byte decoding.
        func load<Integer: FixedWidthInteger>(_ type: Integer.Type, at offset: Int) -> Integer {
            Integer(bigEndian: bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset, as: Integer.self) })
        }
        let parts = Int(load(UInt16.self, at: 1)), rows = Int(load(UInt32.self, at: 3))
        guard (1...SegmentManifest.partsMax).contains(parts), rows <= parts * EventSegment.rowsMax else { return nil }
        let digests = (0..<EventSetDigest.slicesPerDay).map { slice in
            EventSetDigest(count: load(UInt64.self, at: 15 + 16 * slice), hash: load(UInt64.self, at: 23 + 16 * slice))
        }
        // Each count is at most `rows`, so the sum cannot overflow.
        guard digests.allSatisfy({ $0.count <= UInt64(rows) }), digests.reduce(0, { $0 + $1.count }) == UInt64(rows) else { return nil }
        self.parts = parts
        self.rows = rows
        seal = load(UInt64.self, at: 7)
        self.digests = digests
    }

    /// The manifest of a day sealed as `parts` (at least one).
    init(of parts: [EventSegment], seal: UInt64 = .random(in: 0...UInt64.max)) {
        var digests = Array(repeating: EventSetDigest(), count: EventSetDigest.slicesPerDay)
        for id in parts.lazy.flatMap(\.ids) { EventSetDigest.insert(id, intoSliceOf: &digests) }
        self.parts = parts.count
        rows = parts.reduce(0) { $0 + $1.count }
        self.seal = seal
        self.digests = digests
    }
}

extension EventStore.WriterState {
    mutating func forget(site: SiteID) {
        dayHits.forget(site: site)
        // Counted on, not reset: a sealing pass that began before the site's data was deleted
        // must see a change, or it would store what it read back as a segment.
        pastDayWrites[site, default: 0] &+= 1
    }
}

/// Sealing: a site's settled days become segments, and a sealed day keeps nothing else: its rows
/// (events, visitor index) are deleted in the batch that stores its segment. A write
/// that reaches a sealed day later (a repair, a hint, a replica catching up) is stored as rows
/// beside the segment, read together with it, and folded into it by the next pass; an erasure
/// rewrites the segments that hold its visitor.
///
/// Whatever reads raw events therefore reads both: `segments` (the query engine), `events`
/// (export, the live feed), `visitorEvents`, the ids and events anti-entropy exchanges, and what
/// `apply` needs of a day (an id already stored, a visitor's hits).
extension EventStore {
    /// How long after its end a day can still receive hits stamped by their browsers (see the
    /// ingest pipeline's `clientClockBehindMaxMs`): sealed only after that.
    public static let lateHitWindowMs = TimeUnits.dayMs

    /// Marks the sites of `days` written, so a sealing pass that read those days before this
    /// write does not store what it built (nor delete the rows this write adds). Under the write
    /// lock.
    func notePastDayWrites(_ days: Set<SealedDay>, _ state: inout WriterState) {
        for sealed in days { state.pastDayWrites[sealed.site, default: 0] &+= 1 }
    }

    /// The decoded-segment cache: bytes held, and reads of sealed days answered from it or not.
    public var segmentCacheUse: (bytes: Int, hits: Int, misses: Int) {
        (segmentCache.heldBytes, segmentCache.hits.load(ordering: .relaxed), segmentCache.misses.load(ordering: .relaxed))
    }

    /// Days not sealed read from their rows into the hot tier so far (`HotDays.builds`).
    public var hotDayBuilds: Int { hotDays.builds.load(ordering: .relaxed) }

    /// Memory the hot tier's days hold, as `--hot-days-mb` budgets it.
    public var hotDayBytes: Int { hotDays.bytes }

    /// What a sealing pass did.
    public struct SealingPass: Sendable {
        /// Days sealed (or sealed again with rows written since).
        public var sealed = 0
        /// Days whose segment was built but not stored, because a write reached the site's past
        /// days meanwhile (the next pass seals them).
        public var discarded = 0
        /// Local dates whose rollups were built (`buildRollups`).
        public var builtDates = 0
    }

    /// Seals each settled day of the site (ended more than `lateHitWindowMs` ago, within its
    /// retention) that has rows: its segment (if any) and its rows become the day's new segment,
    /// and the rows are deleted in the same batch, so a crash leaves one or the other. Rows are
    /// read outside the write lock, so ingest goes on; a day written meanwhile is left for the next
    /// pass. A store written before segments is converted this way, a day at a time. Then builds
    /// the rollups of the dates that settled and rebuilds those the sealed rows change.
    public func sealSegments(site: SiteID, plan: RetentionPlan, nowMs: Int64) throws -> SealingPass {
        let lastSettled = Day(containing: nowMs - EventStore.lateHitWindowMs).advanced(by: -1)
        let first = plan.firstKeptDay(nowMs: nowMs)
        var pass = SealingPass()
        var sealedDays = Set<Day>()
        for day in first <= lastSettled ? Array(first...lastSettled) : [] {
            let dayKeys = (start: StorageKeys.eventDay(site, day), end: StorageKeys.eventDay(site, day.advanced(by: 1)))
            guard try holdsAny(.events, from: dayKeys.start, to: dayKeys.end) else { continue }
            let written = writeLock.withLock { ($0.pastDayWrites[site, default: 0], $0.wipes) }
            // A segment this version cannot read is replaced by the rows alone (a store of the
            // version before kept every row).
            var events = try sealedParts(site: site, day: day)?.flatMap(\.segment.events) ?? []
            try rowEvents(site: site, in: day.startMs..<day.advanced(by: 1).startMs, nowMs: nowMs, retention: plan) { events.append($0); return true }
            let parts = EventStore.parts(of: events, site: site, day: day)
            guard parts.count <= SegmentManifest.partsMax else { continue }
            var batch = WriteBatch()
            writeSegment(parts, of: SealedDay(site: site, day: day), in: &batch)
            for family in [ColumnFamily.events, .visitors] { batch.deleteRange(family, dayKeys.start, dayKeys.end) }
            let stored = try writeLock.withLock { state -> Bool in
                guard (state.pastDayWrites[site, default: 0], state.wipes) == written else { return false }
                // Not synced: a batch lost in a crash is lost whole (the rows come back and the next
                // pass seals them), and any later synced write makes it durable, as the log is one
                // sequence. A sync per day made a pass over many sites take seconds.
                try kv.write(batch, sync: false)
                // In the lock, so no reader takes the day's held rows with the new segment.
                segmentCache.forget(site: site, days: [day])
                hotDays.forget(site: site, days: [day])
                return true
            }
            if stored {
                sealedDays.insert(day)
            } else {
                pass.discarded += 1
            }
        }
        pass.sealed = sealedDays.count
        pass.builtDates = try buildRollups(site: site, plan: plan, nowMs: nowMs, resealed: sealedDays)
        return pass
    }

    /// Replaces the day's segment in `batch` by `parts` (none: the day holds no segment).
    func writeSegment(_ parts: [EventSegment], of day: SealedDay, in batch: inout WriteBatch) {
        batch.deleteRange(.segments, StorageKeys.eventDay(day.site, day.day), StorageKeys.eventDay(day.site, day.day.advanced(by: 1)))
        guard !parts.isEmpty else { return }
        batch.put(.segments, StorageKeys.segmentManifest(day.site, day.day), SegmentManifest(of: parts).encoded)
        for (index, part) in parts.enumerated() { batch.put(.segments, StorageKeys.segmentPart(day.site, day.day, index), SegmentCodec.encode(part)) }
        batch.put(.segments, StorageKeys.segmentVisitorFilter(day.site, day.day), VisitorFilter(parts.flatMap(\.visitors)).encoded)
    }

    /// Calls `body` with the site's events in `range` as indexed segments, in time order of days:
    /// a sealed day's parts (from the cache, or decoded and cached) and the rows stored beside
    /// them, or a day's rows alone when it is not sealed, from `hotDays` (built on first use).
    /// Nothing older than the retention cutoff or fenced by an erasure is among them (rows outside
    /// `range` may be: `SegmentAnalysis` trims).
    public func segments(site: SiteID, in range: TimeRange, nowMs: Int64, retention: RetentionPlan,
                         _ body: (IndexedSegment) throws -> Void) throws {
        let start = max(range.startMs, retention.cutoffMs(nowMs: nowMs))
        guard start < range.endMs else { return }
        for day in Day(containing: start)...Day(containing: range.endMs - 1) {
            try dayParts(SealedDay(site: site, day: day), nowMs: nowMs, retention: retention).forEach(body)
        }
    }

    /// A day as the engine reads it: its sealed parts and the rows beside them, or its rows. Read
    /// again if the day was sealed (again) meanwhile, so a report never takes rows a pass folded
    /// into the segment it read, nor misses them.
    private func dayParts(_ day: SealedDay, nowMs: Int64, retention: RetentionPlan) throws -> [IndexedSegment] {
        while true {
            let seal = try manifest(of: day)?.seal
            let sealed = try sealedParts(site: day.site, day: day.day)
            let rows = try hotParts(day, nowMs: nowMs, retention: retention)
            guard try manifest(of: day)?.seal == seal else { continue }
            guard let sealed else { return rows }
            guard !rows.isEmpty else { return sealed }
            // Visitors with rows in both have runs the engine must join across them.
            let sealedVisitors = Set(sealed.flatMap(\.segment.visitors))
            let both = Set(rows.flatMap(\.segment.visitors)).intersection(sealedVisitors)
            return both.isEmpty ? sealed + rows : (sealed + rows).map { $0.keeping(both) }
        }
    }

    private func manifest(of day: SealedDay) throws -> SegmentManifest? {
        try kv.get(.segments, StorageKeys.segmentManifest(day.site, day.day)).flatMap(SegmentManifest.init(encoded:))
    }

    /// A day's rows, from `hotDays`, or read and held there (a sealed day's too, mostly none).
    private func hotParts(_ day: SealedDay, nowMs: Int64, retention: RetentionPlan) throws -> [IndexedSegment] {
        if let held = hotDays.parts(day) { return held }
        let rows = { try self.rowSegments(site: day.site, day: day.day, in: day.day.startMs..<day.day.advanced(by: 1).startMs,
                                          nowMs: nowMs, retention: retention) }
        switch writeLock.withLock({ _ in hotDays.begin(day) }) {
        case .build(let build):
            defer { build.done.leave() }
            do {
                let read = try rows()
                return hotDays.finish(day, build, rows: read) ?? read.map(IndexedSegment.init)
            } catch {
                hotDays.abandon(day, build)
                throw error
            }
        case .building(let done):
            done.wait()
            // Dropped meanwhile (an erasure, memory), or its build failed: the rows are all there is.
            return try hotDays.parts(day) ?? rows().map(IndexedSegment.init)
        }
    }

    /// A sealed day's parts, or nil when the day is not sealed or a part is missing or damaged.
    /// The manifest and parts are read in one scan (one consistent view), so a day sealed again
    /// meanwhile is not read half old, half new.
    func sealedParts(site: SiteID, day: Day) throws -> [IndexedSegment]? {
        guard let stored = try manifest(of: SealedDay(site: site, day: day)) else { return nil }
        if let cached = segmentCache.parts(SegmentCache.Key(site: site, day: day, seal: stored.seal)) { return cached }
        let generation = segmentCache.generation(of: site)
        var manifest: SegmentManifest?, parts = [IndexedSegment](), damaged = false
        try kv.scan(.segments, from: StorageKeys.eventDay(site, day), to: StorageKeys.eventDay(site, day.advanced(by: 1))) { key, value in
            if manifest == nil {
                manifest = key == StorageKeys.segmentManifest(site, day) ? SegmentManifest(encoded: value) : nil
            } else if key == StorageKeys.segmentPart(site, day, parts.count), let part = SegmentCodec.decode(value, site: site, day: day) {
                parts.append(IndexedSegment(part))
            } else {
                damaged = true
            }
            return manifest != nil && !damaged && parts.count < manifest!.parts
        }
        guard let manifest, !damaged, parts.count == manifest.parts else { return nil }
        segmentCache.insert(parts, for: SegmentCache.Key(site: site, day: day, seal: manifest.seal), readAt: generation)
        return parts
    }

    /// Calls `body` with each sealed day of the site in [from, through] and its manifest, oldest
    /// first, until it returns false. Days are probed only between the site's first and last
    /// sealed day, so a wide range (a peer's repair window may span centuries) costs what the
    /// site holds.
    func forEachSealedDay(site: SiteID, from: Day, through: Day, _ body: (Day, SegmentManifest) throws -> Bool) throws {
        guard from <= through else { return }
        let prefix = StorageKeys.sitePrefix(site)
        func day(of key: [UInt8]) -> Day? {
            key.count >= prefix.count + 4 ? Day(index: UInt32(bigEndianBytes: key[prefix.count..<prefix.count + 4])) : nil
        }
        var first: Day?, last: Day?
        try kv.scan(.segments, from: StorageKeys.eventDay(site, from), to: StorageKeys.prefixEnd(prefix), reverse: false) { key, _ in
            first = day(of: key)
            return false
        }
        try kv.scan(.segments, from: StorageKeys.eventDay(site, from), to: StorageKeys.prefixEnd(prefix), reverse: true) { key, _ in
            last = day(of: key)
            return false
        }
        guard let first, let last, max(from, first) <= min(through, last) else { return }
        for day in max(from, first)...min(through, last) {
            if let manifest = try manifest(of: SealedDay(site: site, day: day)), try !body(day, manifest) { return }
        }
    }

    /// Whether the sealed day may hold rows of `visitor`: exactly from its cached parts, or from
    /// its `VisitorFilter` (one small read), so asking every day of a retention (an erasure, a
    /// visitor's access request) reads almost none of them. True when the filter is missing or
    /// damaged: only reading the day can tell.
    func sealedDayMayHold(_ visitor: VisitorID, site: SiteID, on day: Day) throws -> Bool {
        guard let stored = try manifest(of: SealedDay(site: site, day: day)) else { return false }
        if let cached = segmentCache.parts(SegmentCache.Key(site: site, day: day, seal: stored.seal), counting: false) {
            return cached.contains { $0.segment.rows(of: visitor) != nil }
        }
        return try kv.get(.segments, StorageKeys.segmentVisitorFilter(site, day)).flatMap(VisitorFilter.init(encoded:))?.mayHold(visitor) ?? true
    }

    /// Rewrites the sealed day in `batch` without the visitor's events at or before `fence`:
    /// how many it erased. A day whose segment may hold the
    /// visitor but does not decode is deleted whole: what it holds cannot be read, and the erased
    /// visitor's bytes must go (anti-entropy brings the other events back from a replica).
    func eraseFromSegment(_ day: SealedDay, visitor: VisitorID, fence: Int64, in batch: inout WriteBatch) throws -> Int {
        guard try sealedDayMayHold(visitor, site: day.site, on: day.day) else { return 0 }
        guard let parts = try sealedParts(site: day.site, day: day.day)?.map(\.segment) else {
            writeSegment([], of: day, in: &batch)
            return 0
        }
        var events = parts.flatMap(\.events), erased = 0
        events.removeAll { event in
            let erase = event.visitor == visitor && event.timestampMs <= fence
            if erase { erased += 1 }
            return erase
        }
        if erased > 0 { writeSegment(EventStore.parts(of: events, site: day.site, day: day.day), of: day, in: &batch) }
        return erased
    }

    /// The sealed day's events of one visitor, in time order (none when the day is not sealed).
    func sealedEvents(of visitor: VisitorID, site: SiteID, on day: Day) throws -> [Event] {
        guard try sealedDayMayHold(visitor, site: site, on: day) else { return [] }
        return try sealedParts(site: site, day: day)?.flatMap { $0.segment.events(of: visitor) } ?? []
    }

    /// The day's visible rows within `span` as segments (see `parts(of:site:day:)`).
    func rowSegments(site: SiteID, day: Day, in span: Range<Int64>, nowMs: Int64, retention: RetentionPlan) throws -> [EventSegment] {
        var events = [Event]()
        try rowEvents(site: site, in: span, nowMs: nowMs, retention: retention) { events.append($0); return true }
        return EventStore.parts(of: events, site: site, day: day)
    }

    /// `events` (all of `site` and `day`) as segments of at most `EventSegment.rowsMax` rows, cut
    /// in (visitor, time) order: each part holds its own visitors but for one at a cut, whose rows
    /// continue in time order from one part to the next, as `SegmentAnalysis` needs.
    static func parts(of events: [Event], site: SiteID, day: Day) -> [EventSegment] {
        let events = EventSegment.inRowOrder(events)
        // One part takes the sorted events as they are; slicing would copy every one.
        if events.count <= EventSegment.rowsMax { return events.isEmpty ? [] : [EventSegment(site: site, day: day, events: events)] }
        return stride(from: 0, to: events.count, by: EventSegment.rowsMax).map { first in
            EventSegment(site: site, day: day, events: Array(events[first..<min(events.count, first + EventSegment.rowsMax)]))
        }
    }
}
