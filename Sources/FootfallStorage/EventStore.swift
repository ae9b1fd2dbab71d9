import Dispatch
import FootfallModel
import FootfallProtocols
import Synchronization

/// A node's site data on top of a `KeyValueStore`: raw events, the visitor index, rollups, CRM
/// records and erasure records, with the rules that keep them consistent:
///
/// - applying an event is idempotent by event id;
/// - an event older than its site's retention, or fenced by an erasure record, is refused;
/// - rollups are built from a site's settled days, once, not by each write (see
///   `EventStore+Rollups.swift`); the days after those are answered from their events;
/// - a visitor has at most `visitorDayHitsMax` hits a day; the rest are dropped;
/// - reads never return an expired or erased event.
///
/// Writes are serialised by one lock (the caller batches them: see `GroupCommitter`), which is what
/// makes "check, then write" atomic. Reads run concurrently.
public final class EventStore: Sendable {
    public enum Outcome: Equatable, Sendable {
        case stored, duplicate, expired, fenced
        /// Dropped: the visitor already has `visitorDayHitsMax` hits on the event's day.
        case capped
    }

    /// Hits stored per visitor and UTC day of a site, at most. A person never sends this many in
    /// a day; a script that does has the rest dropped, so it cannot grow one visitor without
    /// limit. Every replica drops past the same count.
    public static let visitorDayHitsMax = 10_000

    public let kv: any KeyValueStore
    /// Whether each batch waits for the WAL fsync before it is acknowledged.
    public let syncWrites: Bool
    /// Each site's calendar, whose local dates key the daily rollup tier.
    let calendars: @Sendable (SiteID) -> SiteCalendar
    /// Serialises writes; holds what the writer keeps in memory.
    let writeLock = Mutex(WriterState())
    /// Erasures compact what they deleted out of the files, at most once per site per
    /// `purgeIntervalMs` (see `ErasurePurges`).
    private let purges: Mutex<ErasurePurges>
    /// Purges run one at a time here: an erasure's own in the background, so compacting a busy
    /// site (20 s and more under the soak's load) does not hold up the erasure's answer, and a
    /// replica's confirmation with it; the node's periodic ones (`purgeErasedData`) wait their turn.
    private let purger = DispatchQueue(label: "footfall.erasure-purges", qos: .utility)
    /// Numbers each purge mark (see `ErasurePurges.Pending`); starts anywhere, so one from before
    /// a restart is not repeated by chance.
    private let purgeRevision = Atomic<UInt64>(UInt64.random(in: 0...UInt64.max / 2))

    /// Sealed days as the query engine reads them (see `segments(site:in:nowMs:retention:_:)`).
    let segmentCache: SegmentCache
    /// Days not sealed, as the query engine reads them (see `HotDays`).
    let hotDays: HotDays
    /// Rollups of the dates not built yet, built from events when asked (see `RecentRollups`).
    let recentRollups: RecentRollups

    struct SiteVisitor: Hashable { let site: SiteID; let visitor: VisitorID }

    struct WriterState {
        /// How many hits recent days' visitors have.
        var dayHits = DayHits()
        /// Per site, how many writes reached its past days (late hits, repairs, erasures): a
        /// segment built from rows read before one of them would miss it, and is not stored.
        var pastDayWrites = [SiteID: UInt64]()
        /// How many times every site's raw data was wiped: a change a sealing pass checks too.
        var wipes: UInt64 = 0
    }

    /// - Parameters:
    ///   - purgeIntervalMs: how often at most one site's erased data is compacted out of the
    ///     files; erasures within it are purged together, at the latest `purgeIntervalMs` after.
    ///   - segmentCacheBytes: memory for decoded sealed days.
    ///   - hotDaysBytes: memory for the days not sealed held for reports (`HotDays`).
    ///   - openedAtMs: now; a store whose rollups an earlier version merged on every write counts
    ///     as built up to a few days before it (`RollupLayoutUpgrade`). By default the far future:
    ///     all of such a store's days count as built.
    ///   - recentBuildsLateFromEvents: a date not built yet whose build in memory read this many
    ///     events is answered from its last build while a write-newer one is made
    ///     (`RecentRollups`). 50,000 by default (a build of some 25 ms on this machine's release build).
    public init(kv: any KeyValueStore, syncWrites: Bool = true, purgeIntervalMs: Int64 = 30_000,
                segmentCacheBytes: Int = 256 << 20, hotDaysBytes: Int = 512 << 20, openedAtMs: Int64 = .max, recentBuildsLateFromEvents: Int = 50_000,
                calendars: @escaping @Sendable (SiteID) -> SiteCalendar = { _ in .utc }) throws {
        self.kv = kv
        segmentCache = SegmentCache(budgetBytes: segmentCacheBytes)
        hotDays = HotDays(bytesMax: hotDaysBytes)
        recentRollups = RecentRollups(lateFromEvents: recentBuildsLateFromEvents)
        self.syncWrites = syncWrites
        self.calendars = calendars
        purges = Mutex(ErasurePurges(intervalMs: purgeIntervalMs))
        try RollupLayoutUpgrade.run(kv, openedAtMs: openedAtMs)
        try VisitRecordsRemoval.run(kv)
    }

    // MARK: Writes

    /// Stores what is new in `events` in one atomic, durable batch and says what became of each.
    /// `retention` gives each site's plan.
    public func apply(_ events: [Event], nowMs: Int64, retention: (SiteID) -> RetentionPlan) throws -> [Outcome] {
        // The sealed days the batch reaches (a repair, a hint) are decoded into the cache before
        // the write lock, which then finds them there: decoding a day holds no other writer up.
        let today = Day(containing: nowMs)
        for day in Set(events.lazy.filter { $0.day < today }.map { SealedDay(site: $0.site, day: $0.day) }) {
            _ = try sealedParts(site: day.site, day: day.day)
        }
        // What each event would be written as, and the key order of the rows, made before the
        // write lock: the group commit has two batches in flight, so this runs while the other
        // one writes (under the lock it was a tenth of the one thread every write waits for).
        let forms = try events.map(StoredForm.init)
        let rowOrder = forms.indices.sorted { forms[$0].key.lexicographicallyPrecedes(forms[$1].key) }
        let indexOrder = forms.indices.sorted { forms[$0].indexKey.lexicographicallyPrecedes(forms[$1].indexKey) }
        return try writeLock.withLock { state in
            /// Each event's form as stored, nil for those not stored.
            var stored = [StoredForm?](repeating: nil, count: events.count)
            /// Whether an event's visitor changed in the lock (it continues yesterday's visit),
            /// so the index order made before does not hold.
            var visitorChanged = false
            var outcomes = [Outcome]()
            var seen = Set<EventID>()
            var fresh = [SiteVisitor: [Event]]()
            var touched = TouchedDays()
            // Fences are read from the erasure records, once per visitor a batch names: a node
            // keeps no erasure in memory, however many it has applied.
            var fenceCache = [SiteVisitor: Int64?]()
            // A sealed day keeps its ids in its segment only: an event is there if its visitor's
            // rows hold its id (a replica's copy of an event names the same visitor).
            func isSealed(_ event: Event) throws -> Bool {
                guard event.day < today, let parts = try sealedParts(site: event.site, day: event.day) else { return false }
                return parts.contains { part in part.segment.rows(of: event.visitor).map { part.segment.ids[$0].contains(event.id) } ?? false }
            }
            func fence(_ owner: SiteVisitor) throws -> Int64? {
                if let known = fenceCache[owner] { return known }
                let found = try erasureRecord(site: owner.site, visitor: owner.visitor)?.erasedAtMs
                fenceCache[owner] = found
                return found
            }
            for (index, original) in events.enumerated() {
                let event = try continuingYesterdaysVisit(original, &state.dayHits)
                let owner = SiteVisitor(site: event.site, visitor: event.visitor)
                if retention(event.site).isExpired(eventMs: event.timestampMs, nowMs: nowMs) {
                    outcomes.append(.expired)
                } else if let fence = try fence(owner), event.timestampMs <= fence || event.consented {
                    // A consented id names one browser for good: once its visitor is erased, the
                    // id is refused whenever its hits are made (the tracker starts a new id on the
                    // visitor's next consent). A cookieless id changes every day anyway.
                    outcomes.append(.fenced)
                } else if try seen.contains(event.id) || kv.get(.events, StorageKeys.event(event.site, event.id)) != nil || isSealed(event) {
                    outcomes.append(.duplicate)
                } else if try touched.hits(owner, event.day, load: { try storedHits(owner, $0, &state.dayHits) }) >= EventStore.visitorDayHitsMax {
                    outcomes.append(.capped)
                } else {
                    touched.add(owner, event.day)
                    seen.insert(event.id)
                    outcomes.append(.stored)
                    if event.visitor == original.visitor {
                        stored[index] = forms[index]
                    } else {
                        stored[index] = try StoredForm(event)
                        visitorChanged = true
                    }
                    fresh[owner, default: []].append(event)
                }
            }
            try write(stored, fresh: fresh, rowOrder: rowOrder, indexOrder: visitorChanged ? nil : indexOrder, nowMs: nowMs, &state)
            return outcomes
        }
    }

    /// Writes the events `apply` stores (`stored`, by the batch's index; `fresh`, by visitor) in
    /// one batch with their index entries and their consented visitors' CRM records, then brings
    /// the memory tiers up to date. Under the write lock. `indexOrder` is nil when a visitor
    /// changed in the lock, so the order made before it does not hold.
    private func write(_ stored: [StoredForm?], fresh: [SiteVisitor: [Event]], rowOrder: [Int], indexOrder: [Int]?, nowMs: Int64,
                       _ state: inout WriterState) throws {
        var crmPuts = [(key: [UInt8], value: [UInt8])]()
        for (owner, added) in fresh where added.contains(where: \.consented) {
            let record = try updatedVisitorRecord(owner, with: added.filter(\.consented))
            crmPuts.append((StorageKeys.visitor(owner.site, owner.visitor), try record.encoded))
        }
        // Each family's writes go in key order: the memtable's skip list then finds each insert
        // next to the previous one instead of searching from the top (a fifth of ingest CPU).
        var batch = WriteBatch()
        for index in rowOrder { if let form = stored[index] { batch.put(.events, form.key, form.row) } }
        let storedForms = stored.compactMap { $0 }
        for form in indexOrder?.compactMap({ stored[$0] }) ?? storedForms.sorted(by: { $0.indexKey.lexicographicallyPrecedes($1.indexKey) }) {
            batch.put(.visitors, form.indexKey, form.indexValue)
        }
        for (key, value) in crmPuts { batch.put(.crm, key, value) }
        let storedEvents = storedForms.map(\.event)
        let pastDays = Set(fresh.values.joined().map { SealedDay(site: $0.site, day: $0.day) }).filter { $0.day < Day(containing: nowMs) }
        notePastDayWrites(pastDays, &state)
        if !batch.isEmpty { try kv.write(batch, sync: syncWrites) }
        hotDays.append(storedEvents)
        recentRollups.noteWritten(Set(storedEvents.map { SealedDay(site: $0.site, day: $0.day) }))
        for (owner, added) in fresh {
            for event in added { state.dayHits.add(owner.visitor, on: .init(site: owner.site, day: event.day)) }
        }
    }

    /// An event as a write stores it: its row (key and bytes) and its visitor-index entry. The
    /// row keeps no hint for resolving its visitor (that is done before it is stored) and no
    /// personal data: that lives only in the visitor's CRM record, where rectification
    /// and erasure find it; the raw event keeps that an identify happened.
    private struct StoredForm {
        /// The event as its row holds it (what the days held in memory take too).
        let event: Event
        let key: [UInt8]
        let row: [UInt8]
        let indexKey: [UInt8]
        let indexValue: [UInt8]

        /// - Parameter event: the event, its visitor resolved (`continuingYesterdaysVisit`).
        init(_ event: Event) throws {
            var stored = event
            stored.pii = nil
            stored.previousDayVisitor = nil
            self.event = stored
            key = StorageKeys.event(event.site, event.id)
            row = try EventCodec.encode(stored)
            indexKey = StorageKeys.visitorEvent(event.site, event.visitor, event.id)
            indexValue = StorageKeys.visitorHitValue(kind: event.kind, path: event.path)
        }
    }

    /// A cookieless visitor's id changes with the salt at midnight. If the visitor's id under
    /// yesterday's salt was active within a visit gap before this hit, the hit keeps that id, so a
    /// visit across midnight stays one visit of one visitor.
    private func continuingYesterdaysVisit(_ event: Event, _ dayHits: inout DayHits) throws -> Event {
        guard let previous = event.previousDayVisitor else { return event }
        var resolved = event
        resolved.previousDayVisitor = nil
        let owner = SiteVisitor(site: event.site, visitor: previous)
        if try hasHit(owner, from: event.timestampMs - Visits.gapMs, to: event.timestampMs, &dayHits) {
            resolved.visitor = previous
        }
        return resolved
    }

    /// The visitor's stored hits on a UTC day: from the day's counts in memory, or counted in the
    /// store for a day with too many visitors to hold.
    private func storedHits(_ owner: SiteVisitor, _ day: Day, _ dayHits: inout DayHits) throws -> Int {
        if let held = try dayHits.hits(of: owner.visitor, on: .init(site: owner.site, day: day), load: { try hitCounts(of: owner.site, on: day) }) {
            return held
        }
        var count = try sealedParts(site: owner.site, day: day)?.reduce(0) { $0 + ($1.segment.rows(of: owner.visitor)?.count ?? 0) } ?? 0
        try kv.scan(.visitors, prefix: StorageKeys.visitorDay(owner.site, day, owner.visitor)) { _, _ in
            count += 1
            return true
        }
        return count
    }

    /// Whether the visitor has a stored hit with a timestamp in [from, to): event ids lead with
    /// their millisecond timestamp, so the scan reads only that slice of each day, and stops at
    /// the first hit.
    private func hasHit(_ owner: SiteVisitor, from: Int64, to: Int64, _ dayHits: inout DayHits) throws -> Bool {
        guard from < to else { return false }
        var found = false
        for day in Day(containing: from)...Day(containing: to - 1) where !found {
            let held = try dayHits.hits(of: owner.visitor, on: .init(site: owner.site, day: day), load: { try hitCounts(of: owner.site, on: day) })
            guard held ?? 1 > 0 else { continue }
            let prefix = StorageKeys.visitorDay(owner.site, day, owner.visitor)
            try kv.scan(.visitors, from: prefix + StorageKeys.millisecondPrefix(max(from, day.startMs)),
                        to: prefix + StorageKeys.millisecondPrefix(min(to, day.advanced(by: 1).startMs))) { _, _ in
                found = true
                return false
            }
            if !found { found = try sealedEvents(of: owner.visitor, site: owner.site, on: day).contains { (from..<to).contains($0.timestampMs) } }
        }
        return found
    }

    /// Each visitor's hits on a UTC day of a site (in its segment and its rows), or nil past
    /// `DayHits.dayVisitorsMax` visitors.
    private func hitCounts(of site: SiteID, on day: Day) throws -> [VisitorID: Int]? {
        var counts = [VisitorID: Int]()
        for part in try sealedParts(site: site, day: day) ?? [] {
            for (run, visitor) in part.segment.visitors.enumerated() { counts[visitor, default: 0] += part.segment.visitorRuns[run] }
        }
        guard counts.count <= DayHits.dayVisitorsMax else { return nil }
        let prefix = StorageKeys.visitorDay(site, day)
        var tooMany = false
        try kv.scan(.visitors, prefix: prefix) { key, _ in
            guard let visitor = StorageKeys.visitor(fromVisitorKey: key, dayPrefixCount: prefix.count) else { return true }
            counts[visitor, default: 0] += 1
            tooMany = counts.count > DayHits.dayVisitorsMax
            return !tooMany
        }
        return tooMany ? nil : counts
    }

    private func updatedVisitorRecord(_ owner: SiteVisitor, with events: [Event]) throws -> VisitorRecord {
        let first = events.min { $0.timestampMs < $1.timestampMs }!
        var record = try visitorRecord(site: owner.site, visitor: owner.visitor)
            ?? VisitorRecord(visitor: owner.visitor, firstSeenMs: first.timestampMs, lastSeenMs: first.timestampMs)
        for event in events.sorted(by: { $0.timestampMs < $1.timestampMs }) {
            record.firstSeenMs = min(record.firstSeenMs, event.timestampMs)
            record.events += 1
            if event.kind == .pageview { record.pageviews += 1 }
            if event.timestampMs >= record.lastSeenMs {
                record.lastSeenMs = event.timestampMs
                if !event.geo.country.isEmpty { record.geo = Geo(country: event.geo.country) }
                if !event.device.browser.isEmpty { record.device = event.device }
            }
            // Personal data from an identify event counts from the event's time, so an owner's
            // later rectification wins whichever reaches this replica first.
            if let pii = event.pii { record.apply(given: pii, atMs: event.timestampMs) }
        }
        return record
    }

    /// Applies an owner's edit to a visitor's CRM record. A replica that has not yet seen the
    /// visitor's consented events starts the record from the edit (the events fill it in when they
    /// arrive); an edit the visitor's erasure covers is dropped. Returns the record, or nil.
    @discardableResult
    public func apply(_ edit: VisitorEdit) throws -> VisitorRecord? {
        try writeLock.withLock { _ in
            if let fence = try erasureRecord(site: edit.site, visitor: edit.visitor)?.erasedAtMs, edit.atMs <= fence { return nil }
            var record = try visitorRecord(site: edit.site, visitor: edit.visitor)
                ?? VisitorRecord(visitor: edit.visitor, firstSeenMs: edit.atMs, lastSeenMs: edit.atMs)
            record.apply(edit)
            var batch = WriteBatch()
            batch.put(.crm, StorageKeys.visitor(edit.site, edit.visitor), try record.encoded)
            try kv.write(batch, sync: syncWrites)
            return record
        }
    }

    // MARK: Erasure

    /// Deletes every stored event (at or before the fence), index entry and CRM record of a
    /// visitor, keeps an erasure record that fences those events for good, and has the affected
    /// ranges compacted so the data is physically gone from the files (at once in the background
    /// when the site was not purged lately, else with the next due purge). Rollups stay: they hold no
    /// personal data. Applying the same erasure again (a replayed hint, a repair) changes nothing.
    ///
    /// - Parameter fenceMs: events of the visitor at or before this time are deleted and refused
    ///   for good; later ones are new data (fresh consent). The coordinator picks it, so every
    ///   replica fences alike: at least `nowMs` plus how far ahead a client clock may be, so a
    ///   retry of a hit stamped slightly in the future cannot return.
    public func erase(site: SiteID, visitor: VisitorID, requestID: String, node: String, nowMs: Int64, fenceMs: Int64) throws -> ErasureRecord {
        // No event is stored more than minutes ahead of its node's clock; a fence a day ahead is a
        // malformed order (and would make the day scan below run for ages).
        guard fenceMs <= nowMs + TimeUnits.dayMs else { throw StorageError("an erasure fence more than a day ahead of this node's clock") }
        let record = try writeLock.withLock { state -> ErasureRecord in
            let previous = try erasureRecord(site: site, visitor: visitor)
            let fence = max(fenceMs, previous?.erasedAtMs ?? .min)
            var batch = WriteBatch()
            var deleted: Int64 = 0
            // Retention removes whole days older than the longest plan, so this span covers every
            // day that can still hold the visitor's fenced events: up to the fence's day, but not
            // past as long again ahead of the clock (no event is stored more than minutes ahead of
            // its node's clock, so only a clock stepped back that far leaves one later; a stored
            // fence damaged far ahead made this loop read millions of days under the write lock).
            let span = RetentionPlan.daysMax + 1
            let days = Day(containing: min(nowMs, fence)).advanced(by: -span)...Day(containing: min(fence, nowMs + Int64(span) * TimeUnits.dayMs))
            var erasedPerDay = [Day: Int]()
            for day in days {
                var erased = try eraseFromSegment(SealedDay(site: site, day: day), visitor: visitor, fence: fence, in: &batch)
                try kv.scan(.visitors, prefix: StorageKeys.visitorDay(site, day, visitor)) { key, _ in
                    guard let id = StorageKeys.eventID(fromEventKey: key), id.timestampMs <= fence else { return true }
                    batch.delete(.visitors, key)
                    batch.delete(.events, StorageKeys.event(site, id))
                    erased += 1
                    return true
                }
                if erased > 0 {
                    erasedPerDay[day] = erased
                    deleted += Int64(erased)
                }
            }
            if let kept = try visitorRecord(site: site, visitor: visitor).flatMap({ try recordAfterErasure($0, site: site, fence: fence, nowMs: nowMs) }) {
                batch.put(.crm, StorageKeys.visitor(site, visitor), try kept.encoded)
            } else {
                batch.delete(.crm, StorageKeys.visitor(site, visitor))
            }
            // The record names the request that supersedes the other; an earlier one applied late
            // is covered by the later one.
            let incoming = Replication.ErasureOrder(requestID: requestID, site: site, visitor: visitor, fenceMs: fenceMs)
            var record: ErasureRecord
            if let previous, !incoming.supersedes(previous.order) {
                record = previous
                record.deletedEvents += deleted
            } else {
                record = ErasureRecord(requestID: requestID, site: site, visitor: visitor, erasedAtMs: fence,
                                       deletedEvents: deleted, confirmations: [.init(node: node, confirmedAtMs: nowMs)])
            }
            batch.put(.erasures, StorageKeys.visitor(site, visitor), try record.encoded)
            // What the erasure deleted is still in the files until compacted: the site is marked
            // for a purge in the same batch, so even a crash before it leaves the purge to do.
            let purgeDays = try pendingPurge(site).map { ErasurePurges.covering($0.days, days) } ?? days
            batch.put(.erasures, ErasurePurges.key(site), ErasurePurges.Pending(days: purgeDays, revision: purgeRevision.add(1, ordering: .relaxed).newValue).encoded)
            notePastDayWrites(Set(erasedPerDay.keys.map { SealedDay(site: site, day: $0) }), &state)
            try kv.write(batch, sync: true)
            segmentCache.forget(site: site, days: Set(erasedPerDay.keys))
            hotDays.erase(visitor, through: fence, site: site, days: Set(erasedPerDay.keys))
            recentRollups.noteWritten(erasedPerDay.keys.map { SealedDay(site: site, day: $0) })
            for (day, erased) in erasedPerDay { state.dayHits.remove(erased, of: visitor, on: .init(site: site, day: day)) }
            return record
        }
        let purgeNow = purges.withLock { purges in
            guard purges.mayPurge(site, nowMs: nowMs) else { return false }
            purges.started(site, nowMs: nowMs)
            return true
        }
        // A purge that fails leaves its mark: the node's periodic pass tries it again when due.
        if purgeNow { purger.async { [self] in try? compactPendingPurges(of: [site], startedMs: nowMs) } }
        return record
    }

    /// What of a visitor's CRM record outlives an erasure at `fence`: notes, tags and personal
    /// data written or given after it (fresh consent), with counts from the events after it; nil
    /// when nothing does. Usually nothing: a record holds later data only when the erasure reaches
    /// this replica again (a replayed hint) or after a later edit did.
    private func recordAfterErasure(_ record: VisitorRecord, site: SiteID, fence: Int64, nowMs: Int64) throws -> VisitorRecord? {
        let edits = record.rebuildingEdits(site: site).filter { $0.atMs > fence }
        var kept = VisitorRecord(visitor: record.visitor, firstSeenMs: .max, lastSeenMs: .min)
        for edit in edits {
            kept.apply(edit)
            kept.firstSeenMs = min(kept.firstSeenMs, edit.atMs)
            kept.lastSeenMs = max(kept.lastSeenMs, edit.atMs)
        }
        if record.lastSeenMs > fence {
            // From the fence's day, but no further back than retention keeps days (a fence of 0
            // read 20,000 days under the write lock), up to a day past the later of the fence and
            // the clock: no event is stored more than minutes ahead of its node's clock, and the
            // fence may lie past a day ahead of the clock (an earlier erasure's, made before this
            // node's clock stepped back), where a range up to the clock's day would end before it.
            let first = max(Day(containing: fence), Day(containing: nowMs).advanced(by: -(RetentionPlan.daysMax + 1)))
            for day in first...Day(containing: max(fence, nowMs) + TimeUnits.dayMs) {
                var hits = try sealedEvents(of: record.visitor, site: site, on: day).map(Visits.Hit.init)
                try kv.scan(.visitors, prefix: StorageKeys.visitorDay(site, day, record.visitor)) { key, value in
                    if let hit = StorageKeys.visitorHit(key: key, value: value) { hits.append(hit) }
                    return true
                }
                for hit in hits where hit.timestampMs > fence {
                    kept.events += 1
                    if hit.kind == .pageview { kept.pageviews += 1 }
                    kept.firstSeenMs = min(kept.firstSeenMs, hit.timestampMs)
                    kept.lastSeenMs = max(kept.lastSeenMs, hit.timestampMs)
                }
            }
            // From the latest event, which the fence keeps.
            if kept.events > 0 {
                kept.geo = record.geo
                kept.device = record.device
            }
        }
        return edits.isEmpty && kept.events == 0 ? nil : kept
    }

    public func erasureRecord(site: SiteID, visitor: VisitorID) throws -> ErasureRecord? {
        try kv.get(.erasures, StorageKeys.visitor(site, visitor)).map { try ErasureRecord(encoded: $0) }
    }

    /// Compacts the erased days of every site whose purge is due (all of them when `force`: at
    /// start and at shutdown), so what erasures deleted is physically gone from the files. Run
    /// every few seconds by the node. Returns how many sites were purged.
    @discardableResult
    public func purgeErasedData(nowMs: Int64, force: Bool = false) throws -> Int {
        try purger.sync {
            var due = [SiteID]()
            try kv.scan(.erasures, prefix: ErasurePurges.keyPrefix) { key, _ in
                if let site = ErasurePurges.site(fromKey: key), force || purges.withLock({ $0.mayPurge(site, nowMs: nowMs) }) { due.append(site) }
                return true
            }
            guard !due.isEmpty else { return 0 }
            purges.withLock { purges in for site in due { purges.started(site, nowMs: nowMs) } }
            try compactPendingPurges(of: due, startedMs: nowMs)
            return due.count
        }
    }

    /// Waits for the purges started so far (an erasure's, in the background).
    public func waitForPurges() {
        purger.sync {}
    }

    private func pendingPurge(_ site: SiteID) throws -> ErasurePurges.Pending? {
        try kv.get(.erasures, ErasurePurges.key(site)).flatMap(ErasurePurges.Pending.init(encoded:))
    }

    /// Compacts the sites' pending purges out of the files, on `purger`. Compaction rewrites
    /// files and can take a while: outside the write lock, so ingest goes on. A mark is cleared
    /// only if no erasure widened it meanwhile (that one purges again). How long it took spaces the
    /// next purge (`ErasurePurges.finished`); `startedMs` is the wall clock it was started at.
    ///
    /// The unsealed rows (events and visitor index) are compacted once over every site's span: a
    /// flush holds every site's rows, so each site's range compaction rewrote all of the day's
    /// files again (the soak: two sites due at once, two rewrites back to back). Sealed segments
    /// and CRM records are compacted site by site, as a span across sites would rewrite the sealed
    /// days of every site between them.
    private func compactPendingPurges(of sites: [SiteID], startedMs: Int64) throws {
        let started = ContinuousClock.now
        defer {
            let took = started.duration(to: .now).components
            let tookMs = took.seconds &* 1000 &+ took.attoseconds / 1_000_000_000_000_000
            purges.withLock { $0.finished(tookMs: tookMs, startedMs: startedMs) }
        }
        let pending = try sites.compactMap { site in try pendingPurge(site).map { (site: site, mark: $0) } }
        let spans = pending.map { site, mark in
            (start: StorageKeys.eventDay(site, mark.days.lowerBound), end: StorageKeys.eventDay(site, mark.days.upperBound.advanced(by: 1)))
        }
        guard let start = spans.map(\.start).min(by: { $0.lexicographicallyPrecedes($1) }),
              let end = spans.map(\.end).max(by: { $0.lexicographicallyPrecedes($1) })
        else { return }
        try kv.compact(.events, from: start, to: end)
        try kv.compact(.visitors, from: start, to: end)
        for (site, span) in zip(pending.map(\.site), spans) {
            try kv.compact(.segments, from: span.start, to: span.end)
            let sitePrefix = StorageKeys.sitePrefix(site)
            try kv.compact(.crm, from: sitePrefix, to: StorageKeys.prefixEnd(sitePrefix))
        }
        (kv as? RocksDBStore).map { try? $0.flushAll() }
        try writeLock.withLock { _ in
            var batch = WriteBatch()
            for (site, mark) in pending where try pendingPurge(site) == mark {
                batch.delete(.erasures, ErasurePurges.key(site))
            }
            if !batch.isEmpty { try kv.write(batch, sync: true) }
        }
    }

    // MARK: Retention

    /// Deletes the site's raw events, visitor index and CRM records older than its plan, and
    /// compacts those ranges so they are physically gone. Rollups are kept.
    public func enforceRetention(site: SiteID, plan: RetentionPlan, nowMs: Int64) throws {
        // Rollups outlive raw events: the dates about to expire are built first (a plan keeps 30
        // days at least, so they all can be).
        try buildRollups(site: site, plan: plan, nowMs: nowMs)
        let start = StorageKeys.eventDay(site, Day(index: 0))
        let end = StorageKeys.eventDay(site, plan.firstKeptDay(nowMs: nowMs))
        let sitePrefix = StorageKeys.sitePrefix(site)
        // Only what did expire is deleted and compacted: most passes find nothing, and compacting
        // anyway rewrote every file that straddles the range (the neighbouring site's data too),
        // for every site, every hour.
        let (rawExpired, visitorsExpired) = try writeLock.withLock { state -> (Bool, Bool) in
            var batch = WriteBatch()
            let rawExpired = try EventStore.dayFamilies.contains { try holdsAny($0, from: start, to: end) }
            if rawExpired {
                for family in EventStore.dayFamilies { batch.deleteRange(family, start, end) }
            }
            let cutoff = plan.cutoffMs(nowMs: nowMs)
            var visitorsExpired = false
            try kv.scan(.crm, prefix: sitePrefix) { key, value in
                guard var record = try? VisitorRecord(encoded: value) else { return true }
                if record.lastSeenMs < cutoff {
                    batch.delete(.crm, key)
                    visitorsExpired = true
                } else if record.forgetPersonalData(before: cutoff) {
                    // A visitor who keeps returning keeps a record, but not personal data they
                    // gave longer ago than the plan keeps anything.
                    batch.put(.crm, key, try record.encoded)
                    visitorsExpired = true
                }
                return true
            }
            if !batch.isEmpty { try kv.write(batch, sync: true) }
            if rawExpired {
                forgetDaysInMemory(of: site)
                state.dayHits.forget(site: site, before: plan.firstKeptDay(nowMs: nowMs))
            }
            return (rawExpired, visitorsExpired)
        }
        // Compaction rewrites files and can take a while: outside the lock, so ingest goes on.
        if rawExpired {
            for family in EventStore.dayFamilies { try kv.compact(family, from: start, to: end) }
        }
        if visitorsExpired { try kv.compact(.crm, from: sitePrefix, to: StorageKeys.prefixEnd(sitePrefix)) }
    }

    func holdsAny(_ family: ColumnFamily, from start: [UInt8], to end: [UInt8]) throws -> Bool {
        var found = false
        try kv.scan(family, from: start, to: end) { _, _ in
            found = true
            return false
        }
        return found
    }

    /// Whether anything at all is stored for a site (a deleted site's data must be gone).
    public func holdsData(of site: SiteID) throws -> Bool {
        let prefix = StorageKeys.sitePrefix(site)
        return try (EventStore.rawFamilies + [.rollups, .erasures]).contains { family in
            try holdsAny(family, from: prefix, to: StorageKeys.prefixEnd(prefix))
        }
    }

    /// Deletes everything stored for a site, rollups and erasure records included (account deletion).
    public func deleteSite(_ site: SiteID) throws {
        try writeLock.withLock { state in
            let prefix = StorageKeys.sitePrefix(site)
            let end = StorageKeys.prefixEnd(prefix)
            var batch = WriteBatch()
            for family in EventStore.rawFamilies + [.rollups, .erasures] { batch.deleteRange(family, prefix, end) }
            try kv.write(batch, sync: true)
            for family in EventStore.rawFamilies + [.rollups, .erasures] { try kv.compact(family, from: prefix, to: end) }
            state.forget(site: site)
            forgetDaysInMemory(of: site)
        }
    }

    /// Drops the site's decoded sealed days and held hot days: after a write that deleted their
    /// events, so no deleted event outlives its row in memory. (An erasure takes its visitor out of
    /// them instead, in `erase`.)
    private func forgetDaysInMemory(of site: SiteID) {
        segmentCache.forget(site: site)
        hotDays.forget(site: site)
        recentRollups.noteChanged(site: site)
    }

    /// The families keyed site · day that hold raw data: retention deletes whole days of them.
    private static let dayFamilies: [ColumnFamily] = [.events, .visitors, .segments]
    /// The families that hold a visitor's data: those above and CRM records. Rollups and erasure
    /// records hold no visitor's data.
    private static let rawFamilies: [ColumnFamily] = dayFamilies + [.crm]

    /// Deletes every raw event, visitor index entry, segment and CRM record of every
    /// site (a node back after longer than the retention horizon starts empty). Rollups and
    /// erasure records stay.
    public func wipeRawData() throws {
        try writeLock.withLock { state in
            try deleteRawData(from: [], to: [0xff, 0xff, 0xff, 0xff])
            state.wipes &+= 1
            state.dayHits = DayHits()
            recentRollups.noteWiped()
        }
        segmentCache.removeAll()
        hotDays.removeAll()
    }

    /// Deletes this node's copy of a site it no longer replicates (it handed the copy over):
    /// raw events, visitor index, CRM records and rollups, compacted out of the
    /// files. Rollups go too, because they count each event once only while its raw event is here:
    /// kept, they would count the events again should the site come back to this node. Erasure
    /// records stay, so an erased visitor's event replayed here later is still refused.
    public func deleteCopy(of site: SiteID) throws {
        try writeLock.withLock { state in
            let prefix = StorageKeys.sitePrefix(site), end = StorageKeys.prefixEnd(prefix)
            try deleteRawData(from: prefix, to: end)
            var batch = WriteBatch()
            batch.deleteRange(.rollups, prefix, end)
            try kv.write(batch, sync: true)
            try kv.compact(.rollups, from: prefix, to: end)
            state.forget(site: site)
            forgetDaysInMemory(of: site)
        }
        (kv as? RocksDBStore).map { try? $0.flushAll() }
    }

    /// Whether any raw data of the site is stored.
    public func holdsRawData(of site: SiteID) throws -> Bool {
        let prefix = StorageKeys.sitePrefix(site)
        return try EventStore.rawFamilies.contains { try holdsAny($0, from: prefix, to: StorageKeys.prefixEnd(prefix)) }
    }

    private func deleteRawData(from start: [UInt8], to end: [UInt8]) throws {
        var batch = WriteBatch()
        for family in EventStore.rawFamilies { batch.deleteRange(family, start, end) }
        try kv.write(batch, sync: true)
        for family in EventStore.rawFamilies { try kv.compact(family, from: start, to: end) }
    }

    // MARK: Anti-entropy

    /// Digests of the site's stored event ids with timestamps in [fromMs, untilMs), per UTC day
    /// and slice (`EventSetDigest.slicesPerDay`): the leaves of the anti-entropy tree. Reads keys
    /// only as far as the KV layer allows; nothing is decoded.
    public func digests(site: SiteID, fromMs: Int64, untilMs: Int64) throws -> [Day: [EventSetDigest]] {
        var out = [Day: [EventSetDigest]]()
        let empty = Array(repeating: EventSetDigest(), count: EventSetDigest.slicesPerDay)
        let days = Day(containing: fromMs)...Day(containing: max(fromMs, untilMs - 1))
        // A sealed day the window holds whole is taken from its manifest, undecoded.
        var whole = Set<Day>()
        try forEachSealedDay(site: site, from: days.lowerBound, through: days.upperBound) { day, manifest in
            guard fromMs <= day.startMs, day.advanced(by: 1).startMs <= untilMs else { return true }
            whole.insert(day)
            out[day] = manifest.digests
            return true
        }
        // A held day the window holds from its start (today, up to the window's end) from the
        // digests the hot tier keeps, its rows and held parts not read.
        let held = hotDays.digests(site: site, days: days, before: untilMs).filter { fromMs <= $0.key.startMs }
        // A day with no ids in the window has no digests, as when its ids are read.
        for (day, digests) in held where digests.contains(where: { $0.count > 0 }) {
            for (slice, digest) in digests.enumerated() { out[day, default: empty][slice].absorb(digest) }
        }
        try scanIDs(site: site, fromMs: fromMs, untilMs: untilMs, sealedExcept: whole, heldExcept: Set(held.keys)) { id in
            EventSetDigest.insert(id, intoSliceOf: &out[Day(containing: id.timestampMs), default: empty])
        }
        return out
    }

    /// The ids in one slice of one day, within [fromMs, untilMs), sorted: what a peer of an
    /// earlier version asks for (`RepairSliceIDs`).
    public func eventIDs(site: SiteID, day: Day, slice: Int, fromMs: Int64, untilMs: Int64) throws -> [EventID] {
        try eventIDs(site: site, day: day, slices: [slice], after: nil, limit: .max, fromMs: fromMs, untilMs: untilMs).elements
    }

    /// A page of the ids in some slices of one day, within [fromMs, untilMs), in id order: the
    /// first `limit` after `after` (nil: from the first), and whether more follow. The day's
    /// rows are read from the cursor on, so a page costs about its own length, not the day's (a
    /// sealed day's ids are in memory: `sealedParts`).
    public func eventIDs(site: SiteID, day: Day, slices: [Int], after: EventID?, limit: Int,
                         fromMs: Int64, untilMs: Int64) throws -> Replication.AntiEntropy.Page<EventID> {
        let low = max(fromMs, day.startMs), high = min(untilMs, day.advanced(by: 1).startMs)
        guard low < high, limit > 0 else { return .init([], more: false) }
        var wanted = [Bool](repeating: false, count: EventSetDigest.slicesPerDay)
        for slice in slices where wanted.indices.contains(slice) { wanted[slice] = true }
        func isWanted(_ id: EventID) -> Bool {
            id.timestampMs >= low && id.timestampMs < high && (after.map { $0 < id } ?? true) && wanted[EventSetDigest.slice(of: id)]
        }
        // Up to limit + 1 of each source, so `more` is known without a second read.
        var rows = [EventID]()
        var start = StorageKeys.eventDay(site, day) + StorageKeys.millisecondPrefix(low)
        if let after, Day(containing: after.timestampMs) == day, start.lexicographicallyPrecedes(StorageKeys.event(site, after)) {
            start = StorageKeys.event(site, after)
        }
        try kv.scan(.events, from: start, to: StorageKeys.eventDay(site, day) + StorageKeys.millisecondPrefix(high)) { key, _ in
            if let id = StorageKeys.eventID(fromEventKey: key), isWanted(id) { rows.append(id) }
            return rows.count <= limit
        }
        var sealed = [EventID]()
        for part in try sealedParts(site: site, day: day) ?? [] { sealed.append(contentsOf: part.segment.ids.lazy.filter(isWanted)) }
        // Rows and a sealed day's late rows beside its segment are one set of ids.
        let ids = Array(Set(rows + sealed)).sorted()
        return .init(Array(ids.prefix(limit)), more: ids.count > limit)
    }

    /// The stored events with these ids (those the store holds and an erasure does not fence),
    /// as stored: ready to be applied on another replica.
    public func storedEvents(site: SiteID, ids: [EventID]) throws -> [Event] {
        let fences = try siteFences(site)
        var found = [EventID: Event]()
        var sealed = [Day: Set<EventID>]()
        for id in ids {
            if let value = try kv.get(.events, StorageKeys.event(site, id)) {
                found[id] = try EventCodec.decode(value)
            } else {
                sealed[Day(containing: id.timestampMs), default: []].insert(id)
            }
        }
        // A sealed day's ids are looked for in its id column; only the rows asked for are built.
        for (day, wanted) in sealed {
            for part in try sealedParts(site: site, day: day) ?? [] {
                for (row, id) in part.segment.ids.enumerated() where wanted.contains(id) && found[id] == nil { found[id] = part.segment.event(at: row) }
            }
        }
        return ids.compactMap { found[$0] }.filter { isVisible($0, cutoffMs: .min, fence: fences[$0.visitor]) }
    }

    /// Every erasure record of a site, so replicas can exchange them before any event.
    public func erasureRecords(site: SiteID) throws -> [ErasureRecord] {
        var out = [ErasureRecord]()
        try kv.scan(.erasures, prefix: StorageKeys.sitePrefix(site)) { _, value in
            out.append(try ErasureRecord(encoded: value))
            return true
        }
        return out
    }

    /// The ids stored in [fromMs, untilMs): rows, and sealed days but `sealedExcept`, in no
    /// particular order; the held days in `heldExcept` (their digests taken from the hot tier) not
    /// at all. The rows of a day the hot tier holds are its ids in memory (the same
    /// set: `HotDays` mirrors every write, erasure and deletion of them); the rest are read.
    /// Background anti-entropy asks every minute, from this node and from each peer, and reading
    /// a busy today's rows each time grew with the day until it took 6 % of a node's CPU three
    /// minutes into a soak.
    private func scanIDs(site: SiteID, fromMs: Int64, untilMs: Int64, sealedExcept skipped: Set<Day> = [], heldExcept counted: Set<Day> = [],
                         _ body: (EventID) -> Void) throws {
        guard fromMs < untilMs else { return }
        func scanRows(from low: Int64, to high: Int64) throws {
            guard low < high else { return }
            let from = StorageKeys.eventDay(site, Day(containing: low)) + StorageKeys.millisecondPrefix(low)
            let to = StorageKeys.eventDay(site, Day(containing: high - 1)) + StorageKeys.millisecondPrefix(high)
            try kv.scan(.events, from: from, to: to, reverse: false) { key, _ in
                if let id = StorageKeys.eventID(fromEventKey: key), id.timestampMs >= low, id.timestampMs < high { body(id) }
                return true
            }
        }
        // Held days are read from memory, and `counted` ones (held when their digests were
        // taken) not at all, even if dropped since: their rows must not be read either.
        let held = hotDays.held(site: site, days: Day(containing: fromMs)...Day(containing: untilMs - 1), skipping: counted)
        var unread = fromMs
        for (day, parts) in (held + counted.map { ($0, []) }).sorted(by: { $0.day < $1.day }) {
            try scanRows(from: unread, to: max(unread, day.startMs))
            for id in parts.lazy.flatMap(\.segment.ids) where id.timestampMs >= fromMs && id.timestampMs < untilMs { body(id) }
            unread = max(unread, day.advanced(by: 1).startMs)
        }
        try scanRows(from: unread, to: untilMs)
        try forEachSealedDay(site: site, from: Day(containing: fromMs), through: Day(containing: untilMs - 1)) { day, _ in
            guard !skipped.contains(day), let parts = try sealedParts(site: site, day: day) else { return true }
            for id in parts.lazy.flatMap(\.segment.ids) where id.timestampMs >= fromMs && id.timestampMs < untilMs { body(id) }
            return true
        }
    }

    // MARK: Reads

    private func isVisible(_ event: Event, cutoffMs: Int64, fence: Int64?) -> Bool {
        guard event.timestampMs >= cutoffMs else { return false }
        if let fence, event.timestampMs <= fence { return false }
        return true
    }

    /// The erasure fence of each erased visitor of a site, read once per query from its records.
    private func siteFences(_ site: SiteID) throws -> [VisitorID: Int64] {
        var fences = [VisitorID: Int64]()
        try kv.scan(.erasures, prefix: StorageKeys.sitePrefix(site)) { _, value in
            let record = try ErasureRecord(encoded: value)
            fences[record.visitor] = record.erasedAtMs
            return true
        }
        return fences
    }

    /// Events of a site in a time range, oldest first (newest first when `reverse`), never older
    /// than the retention cutoff and never fenced by an erasure: a sealed day's events from its
    /// segment with the rows stored beside it, a day not sealed from its rows. `body` returns
    /// false to stop.
    public func events(site: SiteID, in range: TimeRange, reverse: Bool = false, nowMs: Int64, retention: RetentionPlan,
                       _ body: (Event) throws -> Bool) throws {
        let start = max(range.startMs, retention.cutoffMs(nowMs: nowMs))
        guard start < range.endMs else { return }
        let fences = try siteFences(site)
        let days = Day(containing: start)...Day(containing: range.endMs - 1)
        for day in reverse ? Array(days.reversed()) : Array(days) {
            let span = max(start, day.startMs)..<min(range.endMs, day.advanced(by: 1).startMs)
            guard let parts = try sealedParts(site: site, day: day) else {
                var stopped = false
                try rowEvents(site: site, in: span, reverse: reverse, nowMs: nowMs, retention: retention, fences: fences) { event in
                    stopped = try !body(event)
                    return !stopped
                }
                if stopped { return }
                continue
            }
            var events = parts.flatMap(\.segment.events).filter { span.contains($0.timestampMs) && isVisible($0, cutoffMs: .min, fence: fences[$0.visitor]) }
            try rowEvents(site: site, in: span, nowMs: nowMs, retention: retention, fences: fences) { events.append($0); return true }
            events.sort { ($0.timestampMs, $0.id) < ($1.timestampMs, $1.id) }
            for event in reverse ? events.reversed() : events where try !body(event) { return }
        }
    }

    /// The rows (not the segments) of a site in a time range, in id order (`reverse`: the other
    /// way), visible as `events` says; `body` returns false to stop.
    func rowEvents(site: SiteID, in span: Range<Int64>, reverse: Bool = false, nowMs: Int64, retention: RetentionPlan,
                   fences known: [VisitorID: Int64]? = nil, _ body: (Event) throws -> Bool) throws {
        let cutoff = retention.cutoffMs(nowMs: nowMs)
        let start = max(span.lowerBound, cutoff)
        guard start < span.upperBound else { return }
        let fences = try known ?? siteFences(site)
        // Event ids lead with their millisecond timestamp, so the key bounds cut the range exactly.
        let from = StorageKeys.eventDay(site, Day(containing: start)) + StorageKeys.millisecondPrefix(start)
        let to = StorageKeys.eventDay(site, Day(containing: span.upperBound - 1)) + StorageKeys.millisecondPrefix(span.upperBound)
        try kv.scan(.events, from: from, to: to, reverse: reverse) { key, value in
            guard let id = StorageKeys.eventID(fromEventKey: key) else { return true }
            // Ids lead with their timestamp, so most out-of-range events are skipped undecoded.
            guard id.timestampMs >= start, id.timestampMs < span.upperBound else { return true }
            let event = try EventCodec.decode(value)
            // The key placed it in this site's range: a value of another event is damage, and
            // callers (segments above all) rely on the range holding what it says.
            guard event.id == id, event.site == site else { throw StorageError("the event stored at \(id) is another event") }
            guard isVisible(event, cutoffMs: cutoff, fence: fences[event.visitor]) else { return true }
            return try body(event)
        }
    }

    /// Everything stored about one visitor of a site, oldest first (right of access).
    public func visitorEvents(site: SiteID, visitor: VisitorID, nowMs: Int64, retention: RetentionPlan) throws -> [Event] {
        let cutoff = retention.cutoffMs(nowMs: nowMs)
        let fence = try erasureRecord(site: site, visitor: visitor)?.erasedAtMs
        var out = [Event]()
        for day in retention.firstKeptDay(nowMs: nowMs)...Day(containing: nowMs).advanced(by: 1) {
            var events = try sealedEvents(of: visitor, site: site, on: day)
            try kv.scan(.visitors, prefix: StorageKeys.visitorDay(site, day, visitor)) { key, _ in
                guard let id = StorageKeys.eventID(fromEventKey: key),
                      let value = try kv.get(.events, StorageKeys.event(site, id)) else { return true }
                events.append(try EventCodec.decode(value))
                return true
            }
            out += events.filter { isVisible($0, cutoffMs: cutoff, fence: fence) }.sorted { ($0.timestampMs, $0.id) < ($1.timestampMs, $1.id) }
        }
        return out
    }

    public func visitorRecord(site: SiteID, visitor: VisitorID) throws -> VisitorRecord? {
        try kv.get(.crm, StorageKeys.visitor(site, visitor)).map { try VisitorRecord(encoded: $0) }
    }

    /// The digest of each CRM record of a site that holds owner edits or given personal data
    /// (`VisitorEdit.digest` of its `rebuildingEdits`), for anti-entropy.
    public func visitorEditDigests(site: SiteID) throws -> [VisitorID: UInt64] {
        Dictionary(uniqueKeysWithValues: try visitorEditDigests(site: site, after: nil, limit: .max).elements.map { ($0.visitor, $0.digest) })
    }

    /// A page of `visitorEditDigests` in visitor order: the first `limit` after `after` (nil:
    /// from the first), read from the cursor on, and whether more follow.
    public func visitorEditDigests(site: SiteID, after: VisitorID?, limit: Int) throws -> Replication.AntiEntropy.Page<VisitorEditDigest> {
        var digests = [VisitorEditDigest]()
        guard limit > 0 else { return .init([], more: false) }
        let start = after.map { StorageKeys.visitor(site, $0) + [0] } ?? StorageKeys.sitePrefix(site)
        try kv.scan(.crm, from: start, to: StorageKeys.prefixEnd(StorageKeys.sitePrefix(site))) { _, value in
            let record = try VisitorRecord(encoded: value)
            let edits = record.rebuildingEdits(site: site)
            if !edits.isEmpty { digests.append(VisitorEditDigest(visitor: record.visitor, digest: VisitorEdit.digest(of: edits))) }
            return digests.count <= limit
        }
        return .init(Array(digests.prefix(limit)), more: digests.count > limit)
    }

    /// The edits that rebuild these visitors' records on another replica (none for a visitor
    /// without a record).
    public func rebuildingEdits(site: SiteID, visitors: [VisitorID]) throws -> [VisitorEdit] {
        try visitors.flatMap { try visitorRecord(site: site, visitor: $0)?.rebuildingEdits(site: site) ?? [] }
    }

    /// Consented visitors of a site with a CRM record, most recently seen first.
    public func visitorRecords(site: SiteID, limit: Int) throws -> [VisitorRecord] {
        var records = [VisitorRecord]()
        try kv.scan(.crm, prefix: StorageKeys.sitePrefix(site)) { _, value in
            records.append(try VisitorRecord(encoded: value))
            return true
        }
        return Array(records.sorted { $0.lastSeenMs > $1.lastSeenMs }.prefix(limit))
    }

    /// Time of the oldest stored event of a site, for the retention metric: the first row's, or
    /// the oldest in the first sealed day when that day comes first.
    public func oldestEventMs(site: SiteID) throws -> Int64? {
        var oldest: Int64?
        try kv.scan(.events, prefix: StorageKeys.sitePrefix(site)) { key, _ in
            oldest = StorageKeys.eventID(fromEventKey: key)?.timestampMs
            return false
        }
        let lastDay = oldest.map { Day(containing: $0) } ?? Day(index: UInt32.max)
        var sealedOldest: Int64?
        try forEachSealedDay(site: site, from: Day(index: 0), through: lastDay) { day, _ in
            sealedOldest = try sealedParts(site: site, day: day)?.lazy.flatMap(\.segment.timestamps).min()
            return false
        }
        return [oldest, sealedOldest].compactMap { $0 }.min()
    }
}

/// The hits per visitor and day that one batch reads and adds to, each read at most once.
private struct TouchedDays {
    private struct Key: Hashable {
        let owner: EventStore.SiteVisitor
        let day: Day
    }

    private var hits: [Key: Int] = [:]

    /// The visitor's hits on the day with the batch's so far.
    mutating func hits(_ owner: EventStore.SiteVisitor, _ day: Day, load: (Day) throws -> Int) rethrows -> Int {
        let key = Key(owner: owner, day: day)
        if let known = hits[key] { return known }
        let stored = try load(day)
        hits[key] = stored
        return stored
    }

    /// Counts a hit of the batch, whose day `hits` has read.
    mutating func add(_ owner: EventStore.SiteVisitor, _ day: Day) {
        let key = Key(owner: owner, day: day)
        precondition(hits[key] != nil, "a hit added to a day not read yet (day \(day.index))")
        hits[key]! += 1
    }
}
