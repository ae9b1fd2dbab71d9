import FootfallModel

/// A site's UTC day: the unit a segment seals.
struct SealedDay: Hashable {
    let site: SiteID
    let day: Day
}

/// What a sealed day holds: how many parts (`EventSegment`s of at most `rowsMax` rows) and rows,
/// and its seal, a number each sealing draws at random: a reader that cached the day's decoded
/// parts knows them current while the stored seal is the one it cached them under. Stored at the
/// day's key in the `segments` family, before its parts.
struct SegmentManifest: Equatable {
    /// A day holds at most this many parts (268 M rows); a manifest that claims more is damaged.
    static let partsMax = 4_096
    /// 3: segments no longer carry id times apart from row times (a day sealed by version 2 is
    /// sealed again).
    private static let version: UInt8 = 3

    let parts: Int
    let rows: Int
    let seal: UInt64

    var encoded: [UInt8] {
        [SegmentManifest.version] + UInt16(parts).bigEndianBytes + UInt32(rows).bigEndianBytes + seal.bigEndianBytes
    }

    /// Nil for a value this version did not write or whose counts cannot be.
    init?(encoded bytes: [UInt8]) {
        guard bytes.count == 15, bytes[0] == SegmentManifest.version else { return nil }
        let parts = Int(UInt16(bigEndianBytes: bytes[1..<3])), rows = Int(UInt32(bigEndianBytes: bytes[3..<7]))
        guard (1...SegmentManifest.partsMax).contains(parts), rows <= parts * EventSegment.rowsMax else { return nil }
        self.parts = parts
        self.rows = rows
        seal = UInt64(bigEndianBytes: bytes[7..<15])
    }

    init(parts: Int, rows: Int, seal: UInt64 = .random(in: 0...UInt64.max)) {
        self.parts = parts
        self.rows = rows
        self.seal = seal
    }
}

extension EventStore.WriterState {
    mutating func forget(site: SiteID) {
        dayVisitors.forget(site: site)
        pastDayWrites[site] = nil
    }
}

/// Sealing: a site's settled days become segments, which filtered reports read instead of rows.
/// The rows stay (they are still the idempotency record, the visitor index's target and what
/// repair and export read); a segment is a second, columnar copy of its day, deleted whenever a
/// write reaches the day (a late hit, a repair, an erasure) and sealed again by a later pass.
extension EventStore {
    /// How long after its end a day can still receive hits stamped by their browsers (see the
    /// ingest pipeline's `clientClockBehindMaxMs`): sealed only after that.
    public static let lateHitWindowMs = TimeUnits.dayMs

    /// Deletes the segments of `days` in `batch` (those that exist) and marks the sites written,
    /// so a sealing pass that read their rows before this write does not store what it built.
    /// Under the write lock.
    func unseal(_ days: Set<SealedDay>, in batch: inout WriteBatch, _ state: inout WriterState) throws {
        for sealed in days {
            state.pastDayWrites[sealed.site, default: 0] &+= 1
            segmentCache.forget(site: sealed.site, days: [sealed.day])
            if try kv.get(.segments, StorageKeys.segmentManifest(sealed.site, sealed.day)) != nil {
                batch.deleteRange(.segments, StorageKeys.eventDay(sealed.site, sealed.day), StorageKeys.eventDay(sealed.site, sealed.day.advanced(by: 1)))
            }
        }
    }

    /// The decoded-segment cache: bytes held, and reads of sealed days answered from it or not.
    public var segmentCacheUse: (bytes: Int, hits: Int, misses: Int) {
        (segmentCache.heldBytes, segmentCache.hits.load(ordering: .relaxed), segmentCache.misses.load(ordering: .relaxed))
    }

    /// What a sealing pass did.
    public struct SealingPass: Sendable {
        /// Days sealed.
        public var sealed = 0
        /// Days whose segment was built but not stored, because a write reached the site's past
        /// days meanwhile (the next pass seals them).
        public var discarded = 0
    }

    /// Seals each settled day of the site (ended more than `lateHitWindowMs` ago, within its
    /// retention) that has events and no segment (or one this version cannot read, which it
    /// replaces). Rows are read outside the write lock, so ingest goes on; a day written meanwhile
    /// is left for the next pass.
    public func sealSegments(site: SiteID, plan: RetentionPlan, nowMs: Int64) throws -> SealingPass {
        let lastSettled = Day(containing: nowMs - EventStore.lateHitWindowMs).advanced(by: -1)
        let first = plan.firstKeptDay(nowMs: nowMs)
        var pass = SealingPass()
        guard first <= lastSettled else { return pass }
        for day in first...lastSettled {
            let dayKeys = (start: StorageKeys.eventDay(site, day), end: StorageKeys.eventDay(site, day.advanced(by: 1)))
            guard try kv.get(.segments, StorageKeys.segmentManifest(site, day)).flatMap(SegmentManifest.init(encoded:)) == nil,
                  try holdsAny(.events, from: dayKeys.start, to: dayKeys.end)
            else { continue }
            let written = writeLock.withLock { $0.pastDayWrites[site, default: 0] }
            let parts = try rowSegments(site: site, day: day, in: day.startMs..<day.advanced(by: 1).startMs, nowMs: nowMs, retention: plan)
            guard (1...SegmentManifest.partsMax).contains(parts.count) else { continue }
            var batch = WriteBatch()
            batch.deleteRange(.segments, dayKeys.start, dayKeys.end)
            batch.put(.segments, StorageKeys.segmentManifest(site, day), SegmentManifest(parts: parts.count, rows: parts.reduce(0) { $0 + $1.count }).encoded)
            for (index, part) in parts.enumerated() { batch.put(.segments, StorageKeys.segmentPart(site, day, index), SegmentCodec.encode(part)) }
            let stored = try writeLock.withLock { state -> Bool in
                guard state.pastDayWrites[site, default: 0] == written else { return false }
                // Not synced: a segment lost in a crash is only a copy of its rows, sealed again
                // by the next pass, and a sync per day made a pass over many sites take seconds.
                try kv.write(batch, sync: false)
                return true
            }
            if stored {
                pass.sealed += 1
                hotDays.forget(site: site, days: [day])
            } else {
                pass.discarded += 1
            }
        }
        return pass
    }

    /// Calls `body` with the site's events in `range` as indexed segments, in time order: a sealed
    /// day's parts (from the cache, or decoded and cached), the other days' from `hotDays` (built
    /// from their rows on first use). Nothing older than the retention cutoff or fenced by an
    /// erasure is among them (rows outside `range` may be: `SegmentAnalysis` trims). A sealed day
    /// whose parts do not decode is read from its rows.
    public func segments(site: SiteID, in range: TimeRange, nowMs: Int64, retention: RetentionPlan,
                         _ body: (IndexedSegment) throws -> Void) throws {
        let start = max(range.startMs, retention.cutoffMs(nowMs: nowMs))
        guard start < range.endMs else { return }
        for day in Day(containing: start)...Day(containing: range.endMs - 1) {
            try (sealedParts(site: site, day: day) ?? hotParts(SealedDay(site: site, day: day), nowMs: nowMs, retention: retention)).forEach(body)
        }
    }

    /// A day not sealed, from `hotDays`, or built from its rows and held there.
    private func hotParts(_ day: SealedDay, nowMs: Int64, retention: RetentionPlan) throws -> [IndexedSegment] {
        if let held = hotDays.parts(day) { return held }
        writeLock.withLock { _ in hotDays.begin(day) }
        let rows = try rowSegments(site: day.site, day: day.day, in: day.day.startMs..<day.day.advanced(by: 1).startMs, nowMs: nowMs, retention: retention)
        return hotDays.finish(day, rows: rows) ?? rows.map(IndexedSegment.init)
    }

    /// A sealed day's parts, or nil when the day is not sealed or a part is missing or damaged.
    /// The manifest and parts are read in one scan (one consistent view), so a day sealed again
    /// meanwhile is not read half old, half new.
    private func sealedParts(site: SiteID, day: Day) throws -> [IndexedSegment]? {
        guard let value = try kv.get(.segments, StorageKeys.segmentManifest(site, day)), let stored = SegmentManifest(encoded: value) else { return nil }
        if let cached = segmentCache.parts(SegmentCache.Key(site: site, day: day, seal: stored.seal)) { return cached }
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
        segmentCache.insert(parts, for: SegmentCache.Key(site: site, day: day, seal: manifest.seal))
        return parts
    }

    /// The day's visible rows within `span` as segments of at most `EventSegment.rowsMax` rows,
    /// cut in (visitor, time) order: each part holds its own visitors but for one at a cut, whose
    /// rows continue in time order from one part to the next, as `SegmentAnalysis` needs.
    func rowSegments(site: SiteID, day: Day, in span: Range<Int64>, nowMs: Int64, retention: RetentionPlan) throws -> [EventSegment] {
        guard !span.isEmpty else { return [] }
        var events = [Event]()
        try self.events(site: site, in: TimeRange(startMs: span.lowerBound, endMs: span.upperBound), nowMs: nowMs, retention: retention) { event in
            events.append(event)
            return true
        }
        events.sort { ($0.visitor.rawValue, $0.timestampMs, $0.id) < ($1.visitor.rawValue, $1.timestampMs, $1.id) }
        return stride(from: 0, to: events.count, by: EventSegment.rowsMax).map { first in
            EventSegment(site: site, day: day, events: Array(events[first..<min(events.count, first + EventSegment.rowsMax)]))
        }
    }
}
