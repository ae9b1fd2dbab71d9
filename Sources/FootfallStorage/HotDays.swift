import Dispatch
import FootfallModel
import Synchronization

/// Days' rows (today's, yesterday's; a sealed day's late writes) held ready for the query engine,
/// so "today, filtered" answers from memory like a sealed month: a base of segments built once from
/// the day's rows, and the events stored since, which `EventStore.apply` appends as it writes them.
/// The events since become one more segment of the day when asked for (more, should they outgrow
/// one: `view`); once there are more than `sinceMax` of them they are folded into the base as a
/// segment of their own (a busy day is never read from its rows again), and past `basePartsMax`
/// such parts the day is dropped and built again from its rows. A fold is built on a queue of its
/// own (`folds`), not under the write lock that appends (building it there was a seventh of a
/// node's ingest CPU on the one thread every write waits for); it replaces the events it was built
/// from unless an erasure or a drop changed the day meanwhile. While the base is being built the
/// events since are only gathered (as many as arrive during one row scan), and folded when it is
/// set.
///
/// A base is built outside the write lock. `begin` (under the write lock) opens the day first, so
/// every event stored after it is appended; those the row scan saw too are dropped at `finish` by
/// id, so none is counted twice and none missed. A report that finds the day being built waits for
/// that build instead of reading the rows a second time.
///
/// An erasure takes its visitor's events out of the days held (`erase`) rather than dropping them:
/// a busy day read again from its rows took seconds, and every erasure on the site did that to the
/// next report of today.
final class HotDays: Sendable {
    static let sinceMax = 4_096
    static let basePartsMax = 256
    /// Memory for the days held (their bases), least recently used out when a build would pass
    /// it. A busy site's day is some 55 bytes an event here (a site with 470,000 hits today holds
    /// ~26 MB; `IndexedSegment.estimatedBytes`), and a day dropped for memory is read from its rows again at the next report: a
    /// budget that holds fewer than the busy sites' todays and yesterdays reads rows all day long.
    let bytesMax: Int
    /// Days held at most, however small: every sealed day a report reads is held too (mostly
    /// with no rows at all, which spares a store read per day and report), so the count is
    /// bounded as well as the bytes.
    static let daysMax = 50_000

    /// A build of a day's base from its rows, opened by `begin`: its ticket for `finish`, and the
    /// group that reports finding the day being built wait on, which the builder leaves when it is
    /// done, whatever came of it.
    struct Build: Sendable {
        let ticket: UInt64
        let done: DispatchGroup
    }

    /// What `begin` found.
    enum Opening: Sendable {
        /// The day was not open: the caller builds it.
        case build(Build)
        /// Another report is building the day (or has built it): wait for `done`, then ask again.
        case building(done: DispatchGroup)
    }

    private struct Entry {
        let build: Build
        /// Nil while the base is being built.
        var base: [IndexedSegment]?
        var since = [Event]()
        /// What the engine reads, built from `base` and `since` on first use.
        var view: [IndexedSegment]?
        var lastUse: UInt64 = 0
        var bytes = 0
        /// Whether a fold of the events since is being built.
        var folding = false
        /// Changed by every edit of the day other than an append (an erasure): a fold built before
        /// it is not used.
        var revision: UInt64 = 0
        /// Anti-entropy's digests of every id the day holds (base and events since), a day's
        /// slices; set with the base, brought forward by each append.
        var digests = [EventSetDigest](repeating: EventSetDigest(), count: EventSetDigest.slicesPerDay)
    }

    /// A fold to build: the first `since.count` events since of a day, and what they join.
    private struct Fold {
        let day: SealedDay
        let ticket: UInt64
        let revision: UInt64
        let base: [IndexedSegment]
        let since: [Event]
    }

    private struct State {
        var entries = [SealedDay: Entry]()
        var clock: UInt64 = 0
        var tickets: UInt64 = 0

        /// Memory held by the days' bases, as budgeted.
        var bytes: Int { entries.values.reduce(0) { $0 + $1.bytes } }
    }

    private let state = Mutex(State())

    /// Where folds are built, one at a time.
    let folds = DispatchQueue(label: "footfall.hot-days.folds", qos: .utility)

    init(bytesMax: Int) {
        self.bytesMax = bytesMax
    }

    /// Returns once the folds asked for so far are built (tests; a report never needs to wait:
    /// the events of a fold in progress are still among the events since).
    func waitForFolds() {
        folds.sync {}
    }

    /// Memory held by the days' bases, as budgeted.
    var bytes: Int { state.withLock { $0.bytes } }

    /// Events a base's row scan saw that had been appended too (each then kept once): how often a
    /// build overlapped a write.
    let overlaps = Atomic<Int>(0)
    /// Bases built from rows: each one a scan of the day's rows (a cold start, a day dropped for
    /// memory or too many parts, retention or a deletion).
    let builds = Atomic<Int>(0)

    /// The day's segments as the engine reads them, or nil when the day is not held.
    func parts(_ day: SealedDay) -> [IndexedSegment]? {
        state.withLock { HotDays.use(day, in: &$0) }
    }

    /// The held days of a site within `days` but for `skipped`, in day order, with their segments
    /// (as `parts`); one look, so a day is either among them whole or not at all.
    func held(site: SiteID, days: ClosedRange<Day>, skipping skipped: Set<Day> = []) -> [(day: Day, parts: [IndexedSegment])] {
        state.withLock { state in
            HotDays.keys(site: site, days: days, in: state).filter { !skipped.contains($0.day) }.compactMap { key in
                HotDays.use(key, in: &state).map { (key.day, $0) }
            }
        }
    }

    /// Anti-entropy's digests (a day's `EventSetDigest` slices) of the site's held days within
    /// `days`, each over the day's ids before `untilMs`. They are kept per day and brought forward
    /// by every append, so a pass does not hash every id of today again: in the soak that grew
    /// with the day to a twentieth of a node's CPU. Only the ids at or after `untilMs` are read,
    /// from the parts that reach it (the latest few) and the events since, outside the lock that
    /// appends wait for. A day whose base is being built is left out; the days keep their place in
    /// the least-recently-used order.
    func digests(site: SiteID, days: ClosedRange<Day>, before untilMs: Int64) -> [Day: [EventSetDigest]] {
        let held = state.withLock { state in
            HotDays.keys(site: site, days: days, in: state).compactMap { key -> (Day, [EventSetDigest], [IndexedSegment], [Event])? in
                guard let entry = state.entries[key], let base = entry.base else { return nil }
                return (key.day, entry.digests, base, entry.since)
            }
        }
        var out = [Day: [EventSetDigest]]()
        for (day, kept, base, since) in held {
            var digests = kept
            for part in base where part.segment.timestamps.latestMs >= untilMs {
                for (row, time) in part.segment.timestamps.enumerated() where time >= untilMs {
                    EventSetDigest.remove(part.segment.ids[row], fromSliceOf: &digests)
                }
            }
            for event in since where event.timestampMs >= untilMs { EventSetDigest.remove(event.id, fromSliceOf: &digests) }
            out[day] = digests
        }
        return out
    }

    /// The held days of a site within `days`, in day order. Anti-entropy asks for every site's
    /// window (its retention, some hundreds of days) at every pass: looked up day by day, not by
    /// walking every held day of every site (up to `daysMax`, for each of 100,000 sites). A wider
    /// window (a peer's may span centuries) walks them once.
    private static func keys(site: SiteID, days: ClosedRange<Day>, in state: State) -> [SealedDay] {
        days.count <= state.entries.count
            ? days.map { SealedDay(site: site, day: $0) }.filter { state.entries[$0] != nil }
            : state.entries.keys.filter { $0.site == site && days.contains($0.day) }.sorted { $0.day < $1.day }
    }

    /// The digests of every id of `parts`.
    private static func digests(of parts: [IndexedSegment]) -> [EventSetDigest] {
        var digests = [EventSetDigest](repeating: EventSetDigest(), count: EventSetDigest.slicesPerDay)
        for id in parts.lazy.flatMap(\.segment.ids) { EventSetDigest.insert(id, intoSliceOf: &digests) }
        return digests
    }

    /// The day's segments, its view built if need be, and the day marked as used.
    private static func use(_ day: SealedDay, in state: inout State) -> [IndexedSegment]? {
        guard var entry = state.entries[day], let base = entry.base else { return nil }
        state.clock += 1
        entry.lastUse = state.clock
        if entry.view == nil { entry.view = HotDays.view(of: base, since: entry.since, day: day) }
        state.entries[day] = entry
        return entry.view
    }

    /// Opens `day`: from now on its stored events are appended. Under the write lock. A day open
    /// already (another report is building it, or built it meanwhile) stays as it is: opening it
    /// again would drop the events appended to it so far.
    func begin(_ day: SealedDay) -> Opening {
        state.withLock { state in
            if let open = state.entries[day] { return .building(done: open.build.done) }
            state.tickets += 1
            let build = Build(ticket: state.tickets, done: DispatchGroup())
            build.done.enter()
            state.entries[day] = Entry(build: build)
            return .build(build)
        }
    }

    /// Sets the base of a day opened by `begin` (`rows`, read after it) and gives the day's
    /// segments; nil when the day was dropped meanwhile (then `rows` are all there is). A day
    /// dropped and opened again by another build is not this build's: its rows may hold what the
    /// drop was for (an erased visitor's, expired ones).
    func finish(_ day: SealedDay, _ build: Build, rows: [EventSegment]) -> [IndexedSegment]? {
        let base = rows.map(IndexedSegment.init), baseDigests = HotDays.digests(of: base)
        return state.withLock { state in
            guard var entry = state.entries[day], entry.build.ticket == build.ticket, entry.base == nil else { return nil }
            let scanned = Set(rows.flatMap(\.ids)), appended = entry.since.count
            entry.since.removeAll { scanned.contains($0.id) }
            overlaps.add(appended - entry.since.count, ordering: .relaxed)
            builds.add(1, ordering: .relaxed)
            entry.base = base
            entry.digests = baseDigests
            for event in entry.since { EventSetDigest.insert(event.id, intoSliceOf: &entry.digests) }
            entry.bytes = base.reduce(0) { $0 + $1.estimatedBytes }
            // A busy day takes more than `sinceMax` appends while its rows are read; they are
            // folded now that there is a base to fold them into.
            if entry.since.count > HotDays.sinceMax, let folded = HotDays.folded(entry, day: day) { entry = folded }
            entry.view = HotDays.view(of: entry.base!, since: entry.since, day: day)
            state.clock += 1
            entry.lastUse = state.clock
            state.entries[day] = entry
            var bytes = state.bytes
            if bytes > bytesMax || state.entries.count > HotDays.daysMax {
                // Least recently used first, down to nine tenths of both bounds: one sort serves
                // many builds.
                for (key, old) in state.entries.sorted(by: { $0.value.lastUse < $1.value.lastUse }) where key != day {
                    guard bytes > bytesMax / 10 * 9 || state.entries.count > HotDays.daysMax / 10 * 9 else { break }
                    bytes -= old.bytes
                    state.entries[key] = nil
                }
            }
            return entry.view
        }
    }

    /// Drops a day whose build failed (its rows could not be read), so the next report opens it again.
    func abandon(_ day: SealedDay, _ build: Build) {
        state.withLock { state in
            if state.entries[day]?.build.ticket == build.ticket, state.entries[day]?.base == nil { state.entries[day] = nil }
        }
    }

    /// Appends newly stored events to the days held. Under the write lock, after the write.
    func append(_ events: some Sequence<Event>) {
        let due = state.withLock { state -> [Fold] in
            guard !state.entries.isEmpty else { return [] }
            var due = [Fold]()
            for event in events {
                let day = SealedDay(site: event.site, day: event.day)
                guard state.entries[day] != nil else { continue }
                state.entries[day]!.since.append(event)
                state.entries[day]!.view = nil
                // While the base is built, `finish` takes the digests of all there is.
                if state.entries[day]!.base != nil { EventSetDigest.insert(event.id, intoSliceOf: &state.entries[day]!.digests) }
                // Not while the base is being built: `finish` folds them. Dropping the day then
                // threw the build away, and the next report's build met the same fate: a day whose
                // rows take longer to read than `sinceMax` hits take to arrive was read from its
                // rows at every report, never held (a fifth of a node's CPU in session 26's soak).
                let entry = state.entries[day]!
                guard entry.since.count > HotDays.sinceMax, let base = entry.base, !entry.folding else { continue }
                if base.count >= HotDays.basePartsMax {
                    state.entries[day] = nil
                } else {
                    state.entries[day]!.folding = true
                    due.append(Fold(day: day, ticket: entry.build.ticket, revision: entry.revision, base: base, since: entry.since))
                }
            }
            return due
        }
        for fold in due { folds.async { self.build(fold) } }
    }

    /// Builds a fold and puts it in place of the events it was built from, if the day is still
    /// the one it was built for; else drops it (the next append past `sinceMax` asks again). A
    /// day with `basePartsMax` parts is dropped by `append` instead of folded.
    private func build(_ fold: Fold) {
        let base = HotDays.view(of: fold.base, since: fold.since, day: fold.day)
        state.withLock { state in
            guard var entry = state.entries[fold.day], entry.build.ticket == fold.ticket else { return }
            entry.folding = false
            guard entry.revision == fold.revision else {
                state.entries[fold.day] = entry
                return
            }
            // Appends only add at the end, so the fold's events are still the first ones since.
            state.entries[fold.day] = HotDays.entry(entry, folding: fold.since.count, into: base)
        }
    }

    /// Takes the visitor's events at or before `fence` out of the site's held `days` (an erasure,
    /// under the write lock after its write): their rows are cut out of the parts that hold them
    /// (`IndexedSegment.erasing`), the rest stay as they are. A day whose base is still being built is dropped instead,
    /// since its row scan may have read before the erasure's write.
    func erase(_ visitor: VisitorID, through fence: Int64, site: SiteID, days: Set<Day>) {
        state.withLock { state in
            for day in days {
                let key = SealedDay(site: site, day: day)
                guard var entry = state.entries[key] else { continue }
                guard let base = entry.base else {
                    state.entries[key] = nil
                    continue
                }
                // The erased ids are taken out of the digests, the rest not hashed again.
                for part in base {
                    for row in part.segment.rows(of: visitor) ?? 0..<0 where part.segment.timestamps[row] <= fence {
                        EventSetDigest.remove(part.segment.ids[row], fromSliceOf: &entry.digests)
                    }
                }
                for event in entry.since where event.visitor == visitor && event.timestampMs <= fence {
                    EventSetDigest.remove(event.id, fromSliceOf: &entry.digests)
                }
                entry.base = base.compactMap { $0.erasing(visitor, through: fence) }
                entry.since.removeAll { $0.visitor == visitor && $0.timestampMs <= fence }
                entry.view = nil
                entry.revision &+= 1
                entry.bytes = entry.base!.reduce(0) { $0 + $1.estimatedBytes }
                state.entries[key] = entry
            }
        }
    }

    /// Drops the site's days: of `days` (each looked up: sealing drops one day of each of many
    /// sites), or all of them when nil.
    func forget(site: SiteID, days: Set<Day>? = nil) {
        state.withLock { state in
            if let days {
                for day in days { state.entries[SealedDay(site: site, day: day)] = nil }
            } else {
                state.entries = state.entries.filter { key, _ in key.site != site }
            }
        }
    }

    func removeAll() {
        state.withLock { $0 = State() }
    }

    /// The entry with its events since made one more part of its base, or nil (drop it) when its
    /// base has too many parts.
    private static func folded(_ entry: Entry, day: SealedDay) -> Entry? {
        guard let base = entry.base, base.count < basePartsMax else { return nil }
        return HotDays.entry(entry, folding: entry.since.count, into: view(of: base, since: entry.since, day: day))
    }

    /// `entry` with its first `count` events since replaced by `base`, the fold of them into its
    /// base (one more part, or more: see `view`).
    private static func entry(_ entry: Entry, folding count: Int, into base: [IndexedSegment]) -> Entry {
        var folded = entry
        folded.base = base
        folded.since.removeFirst(count)
        folded.view = nil
        folded.bytes = base.reduce(0) { $0 + $1.estimatedBytes }
        return folded
    }

    /// The base, with the runs of visitors who also have events since kept for derivation across
    /// segments, and the events since as more segments: one, but for a day that took more than a
    /// segment's rows (`EventSegment.rowsMax`) while its base or a fold was being built (a busy
    /// site's today read from its rows after a restart). Made one segment, they stopped the node.
    private static func view(of base: [IndexedSegment], since: [Event], day: SealedDay) -> [IndexedSegment] {
        guard !since.isEmpty else { return base }
        let visitors = Set(since.map(\.visitor))
        let added = EventStore.parts(of: since, site: day.site, day: day.day).map(IndexedSegment.init)
        return (base + added).map { $0.keeping(visitors) }
    }
}
