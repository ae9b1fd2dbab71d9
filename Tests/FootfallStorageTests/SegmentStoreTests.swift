import Foundation
import Synchronization
import FootfallModel
@testable import FootfallStorage
import Testing

/// Sealing settled days into segments, against both stores: a sealed day keeps only its segment
/// and answers exactly as its rows did; a late write waits beside it as rows until the next pass,
/// an erasure rewrites it, retention deletes it.
@Suite struct SegmentStoreTests {
    let plan = RetentionPlan(days: 30)!
    var retention: (SiteID) -> RetentionPlan { { _ in plan } }
    /// Noon of day0 + 5: days up to day0 + 3 are settled (ended over a day ago).
    let now = day0 + 5 * TimeUnits.dayMs + 12 * TimeUnits.hourMs
    var range: TimeRange { TimeRange(startMs: day0 - 2 * TimeUnits.dayMs, endMs: now) }

    /// Six days of traffic: visitors whose visits cross midnights, several pages and countries.
    func traffic() -> [Event] {
        var random = SplitMix64(seed: 42)
        var events = [Event]()
        for visitor in 0..<40 {
            var ts = day0 - 2 * TimeUnits.dayMs + Int64(random.next() % UInt64(7 * TimeUnits.dayMs))
            for n in 0..<Int(1 + random.next() % 6) {
                ts += Int64(random.next() % 40) * 60_000
                guard ts < now else { break }
                events.append(makeEvent("v\(visitor)-\(n)", visitor: UInt64(visitor), at: ts, kind: n % 4 == 3 ? .custom : .pageview,
                                        path: ["/", "/a", "/b"][Int(random.next() % 3)], country: ["DE", "FR"][Int(random.next() % 2)]))
            }
        }
        return events
    }

    /// The columnar engine's answers over the store's segments of the range.
    struct Columnar {
        let segments: [IndexedSegment]
        let range: Range<Int64>
        let filters: [ReportFilter]

        var summary: Summary { answer(SummaryTally()) }
        func breakdown(_ metric: RollupMetric) -> [BreakdownRow] { answer(BreakdownTally(metric)) }

        private func answer<Tally: ReportTally>(_ tally: Tally) -> Tally.Answer {
            var analysis = SegmentAnalysis(range: range, filters: filters, tally: tally)
            for segment in segments { analysis.add(segment) }
            analysis.finish()
            return tally.answer
        }
    }

    func analysis(_ store: EventStore, filters: [ReportFilter] = [ReportFilter(metric: .country, value: "DE")]) throws -> Columnar {
        var segments = [IndexedSegment]()
        try store.segments(site: site, in: range, nowMs: now, retention: plan) { segments.append($0) }
        return Columnar(segments: segments, range: range.startMs..<range.endMs, filters: filters)
    }

    /// The reference: every visible row of the range through the row-by-row analysis.
    func reference(_ store: EventStore, filters: [ReportFilter] = [ReportFilter(metric: .country, value: "DE")]) throws -> RowAnalysis {
        var events = [Event]()
        try store.events(site: site, in: range, nowMs: now, retention: plan) { events.append($0); return true }
        return RowAnalysis(events, filters: filters)
    }

    func isSealed(_ kv: any KeyValueStore, _ ms: Int64) throws -> Bool {
        try kv.get(.segments, StorageKeys.segmentManifest(site, Day(containing: ms))) != nil
    }

    func expectSameAnswers(_ store: EventStore) throws {
        for filters in [[ReportFilter(metric: .country, value: "DE")], [ReportFilter(metric: .entryPage, value: "/a")], []] {
            let mine = try analysis(store, filters: filters), oracle = try reference(store, filters: filters)
            #expect(mine.summary == oracle.summary)
            for metric in [RollupMetric.page, .country, .entryPage] {
                #expect(mine.breakdown(metric).sorted { $0.value < $1.value } == oracle.breakdown(metric).sorted { $0.value < $1.value })
            }
        }
    }

    @Test(arguments: StoreKind.allCases)
    func settledDaysAreSealed_andAnswerAsTheirRows(kind: StoreKind) throws {
        let (kv, cleanup) = try kind.make()
        defer { cleanup() }
        let store = try EventStore(kv: kv)
        #expect(try store.apply(traffic(), nowMs: now, retention: retention).allSatisfy { $0 == .stored })
        let before = try analysis(store)
        #expect(before.summary.pageviews > 20, "the filter matches enough traffic to compare")

        // day0 - 2 … day0 + 3 are settled; day0 + 4 (yesterday) and today are not.
        #expect(try store.sealSegments(site: site, plan: plan, nowMs: now).sealed == 6)
        #expect(try isSealed(kv, day0 + 3 * TimeUnits.dayMs))
        #expect(try !isSealed(kv, day0 + 4 * TimeUnits.dayMs))
        #expect(try store.sealSegments(site: site, plan: plan, nowMs: now).sealed == 0, "a sealed day is not sealed again")
        #expect(try analysis(store).summary == before.summary)
        // Building the rollups of the sealed dates read each sealed day first.
        #expect(store.segmentCacheUse.misses == 6, "each sealed day is decoded once")
        try expectSameAnswers(store)
        #expect(store.segmentCacheUse.misses == 6 && store.segmentCacheUse.hits > 0, "later reads find them in memory")
        #expect(store.segmentCacheUse.bytes > 0)
    }

    /// Whether any row (event or visitor index entry) of the day of `ms` is stored.
    func holdsRows(_ kv: any KeyValueStore, _ ms: Int64) throws -> Bool {
        let day = Day(containing: ms)
        return try [ColumnFamily.events, .visitors].contains { family in
            var any = false
            try kv.scan(family, from: StorageKeys.eventDay(site, day), to: StorageKeys.eventDay(site, day.advanced(by: 1))) { _, _ in
                any = true
                return false
            }
            return any
        }
    }

    @Test(arguments: StoreKind.allCases)
    func sealing_keepsOnlyTheSegment_andEveryReadStillFindsTheDay(kind: StoreKind) throws {
        let (kv, cleanup) = try kind.make()
        defer { cleanup() }
        let store = try EventStore(kv: kv)
        let events = traffic()
        _ = try store.apply(events, nowMs: now, retention: retention)
        func reads() throws -> (events: [Event], visitor: [Event], ids: [EventID], stored: [Event], digests: [Day: [EventSetDigest]], oldest: Int64?) {
            var all = [Event]()
            try store.events(site: site, in: range, nowMs: now, retention: plan) { all.append($0); return true }
            let visitor = events[0].visitor, day = events[0].day
            let ids = try (0..<EventSetDigest.slicesPerDay).flatMap { try store.eventIDs(site: site, day: day, slice: $0, fromMs: 0, untilMs: now) }
            return (all, try store.visitorEvents(site: site, visitor: visitor, nowMs: now, retention: plan), ids.sorted(),
                    try store.storedEvents(site: site, ids: events.map(\.id)), try store.digests(site: site, fromMs: 0, untilMs: 1 << 52),
                    try store.oldestEventMs(site: site))
        }
        let before = try reads()
        #expect(before.events.count == events.count && !before.ids.isEmpty && before.stored.count == events.count)
        let settled = day0 + 3 * TimeUnits.dayMs
        #expect(try holdsRows(kv, settled))

        #expect(try store.sealSegments(site: site, plan: plan, nowMs: now).sealed == 6)
        #expect(try isSealed(kv, settled) && !holdsRows(kv, settled), "a sealed day keeps its segment only")
        #expect(try holdsRows(kv, now - TimeUnits.dayMs), "yesterday is not settled: its rows stay")
        let after = try reads()
        #expect(after.events == before.events)
        #expect(after.visitor == before.visitor && !after.visitor.isEmpty)
        #expect(after.ids == before.ids)
        #expect(Set(after.stored) == Set(before.stored))
        #expect(after.digests == before.digests)
        #expect(after.oldest == before.oldest)
        #expect(try store.apply(events, nowMs: now, retention: retention).allSatisfy { $0 == .duplicate }, "a sealed day still knows its ids")
        try expectSameAnswers(store)
    }

    @Test(arguments: StoreKind.allCases)
    func lateHitForASealedDay_isStoredBesideIt_andFoldedIn(kind: StoreKind) throws {
        let (kv, cleanup) = try kind.make()
        defer { cleanup() }
        let store = try EventStore(kv: kv)
        let events = traffic()
        _ = try store.apply(events, nowMs: now, retention: retention)
        _ = try store.sealSegments(site: site, plan: plan, nowMs: now)
        // A visitor's hit on a sealed day, and a late hit of theirs five minutes on: the visit
        // record is rebuilt from the segment, so the late hit joins that visit.
        let known = try #require(events.filter { $0.timestampMs < day0 + 3 * TimeUnits.dayMs && $0.timestampMs % TimeUnits.dayMs < 20 * TimeUnits.hourMs }
            .max { $0.timestampMs < $1.timestampMs })
        let late = known.timestampMs + 5 * 60_000
        #expect(try isSealed(kv, late) && !holdsRows(kv, late))
        let day = Day(containing: late)
        let visits = try store.dayTotals(site: site, metric: .visits, days: day...day)[""]?.count ?? 0
        let pageviews = try analysis(store).summary.pageviews
        #expect(store.segmentCache.days(of: site).contains(day), "the read cached the sealed day")

        // A repair or a replica's write brings an event for the sealed day.
        let hit = makeEvent("late", visitor: known.visitor.rawValue, at: late, country: "DE")
        #expect(try store.apply([hit], nowMs: now, retention: retention) == [.stored])
        #expect(try store.apply([hit], nowMs: now, retention: retention) == [.duplicate])
        #expect(try isSealed(kv, late) && holdsRows(kv, late), "the row waits beside the segment")
        #expect(store.segmentCache.days(of: site).contains(day), "the segment did not change")
        #expect(try store.dayTotals(site: site, metric: .visits, days: day...day)[""]?.count ?? 0 == visits, "the hit joined the sealed visit")
        #expect(try analysis(store).summary.pageviews == pageviews + 1)
        try expectSameAnswers(store)

        #expect(try store.sealSegments(site: site, plan: plan, nowMs: now).sealed == 1, "only that day is sealed again")
        #expect(try isSealed(kv, late) && !holdsRows(kv, late))
        #expect(try analysis(store).summary.pageviews == pageviews + 1)
        #expect(try store.apply([hit], nowMs: now, retention: retention) == [.duplicate])
        try expectSameAnswers(store)
    }

    @Test(arguments: StoreKind.allCases)
    func erasure_rewritesTheVisitorsSegments_andTheCacheForgetsThem(kind: StoreKind) throws {
        let (kv, cleanup) = try kind.make()
        defer { cleanup() }
        let store = try EventStore(kv: kv)
        let events = traffic()
        _ = try store.apply(events, nowMs: now, retention: retention)
        _ = try store.sealSegments(site: site, plan: plan, nowMs: now)
        // A visitor with hits on a settled (sealed) day.
        let visitor = events.first { $0.timestampMs < day0 + 3 * TimeUnits.dayMs }!.visitor
        let days = Set(events.filter { $0.visitor == visitor }.map(\.day))
        let sealedDays = try days.filter { try isSealed(kv, $0.startMs) }
        #expect(!sealedDays.isEmpty, "the visitor has a sealed day to erase from")
        _ = try analysis(store)
        #expect(store.segmentCache.days(of: site).isSuperset(of: sealedDays), "a read caches the sealed days")

        let record = try store.erase(site: site, visitor: visitor, requestID: "er_1", node: "n1", nowMs: now, fenceMs: now + 60_000)
        #expect(record.deletedEvents == Int64(events.filter { $0.visitor == visitor }.count))
        #expect(store.segmentCache.days(of: site).isDisjoint(with: sealedDays), "the erased visitor's days leave the cache at once")
        // What is stored, decoded straight from the family: no segment holds the visitor.
        try kv.scan(.segments, prefix: StorageKeys.sitePrefix(site)) { key, value in
            for day in sealedDays where key.starts(with: StorageKeys.eventDay(site, day)) && key.count > StorageKeys.eventDay(site, day).count {
                if key == StorageKeys.segmentVisitorFilter(site, day) {
                    // The filter may keep a stale bit, never the id (it holds bits only); it is
                    // rewritten with the day, so it no longer names the visitor at all.
                    let filter = try #require(VisitorFilter(encoded: value))
                    let parts = try #require(try store.sealedParts(site: site, day: day))
                    #expect(filter == VisitorFilter(parts.flatMap(\.segment.visitors)))
                } else {
                    let part = try #require(SegmentCodec.decode(value, site: site, day: day))
                    #expect(part.rows(of: visitor) == nil)
                }
            }
            return true
        }
        var rows = 0
        try store.segments(site: site, in: range, nowMs: now, retention: plan) { indexed in
            rows += indexed.segment.count
            #expect(!indexed.segment.visitors.contains(visitor))
        }
        #expect(rows == events.count - events.filter { $0.visitor == visitor }.count)
        #expect(try store.visitorEvents(site: site, visitor: visitor, nowMs: now, retention: plan).isEmpty)
        try expectSameAnswers(store)
    }

    @Test(arguments: StoreKind.allCases)
    func retention_deletesExpiredSegments(kind: StoreKind) throws {
        let (kv, cleanup) = try kind.make()
        defer { cleanup() }
        let store = try EventStore(kv: kv)
        _ = try store.apply(traffic(), nowMs: now, retention: retention)
        _ = try store.sealSegments(site: site, plan: plan, nowMs: now)
        #expect(try isSealed(kv, day0 - 2 * TimeUnits.dayMs))
        // 30 days later the first days have expired.
        let later = day0 + 29 * TimeUnits.dayMs
        try store.enforceRetention(site: site, plan: plan, nowMs: later)
        #expect(try !isSealed(kv, day0 - 2 * TimeUnits.dayMs))
        var keys = 0
        try kv.scan(.segments, prefix: StorageKeys.sitePrefix(site)) { key, _ in
            #expect(!key.lexicographicallyPrecedes(StorageKeys.eventDay(site, plan.firstKeptDay(nowMs: later))))
            keys += 1
            return true
        }
        #expect(keys > 0, "the days still kept keep their segments")
    }

    @Test(arguments: StoreKind.allCases)
    func deletingTheSite_orItsCopy_removesItsSegments(kind: StoreKind) throws {
        let (kv, cleanup) = try kind.make()
        defer { cleanup() }
        let store = try EventStore(kv: kv)
        _ = try store.apply(traffic(), nowMs: now, retention: retention)
        #expect(try store.sealSegments(site: site, plan: plan, nowMs: now).sealed > 0)
        try store.deleteCopy(of: site)
        #expect(try !store.holdsRawData(of: site))
        _ = try store.apply(traffic(), nowMs: now, retention: retention)
        #expect(try store.sealSegments(site: site, plan: plan, nowMs: now).sealed > 0)
        try store.deleteSite(site)
        #expect(try !store.holdsData(of: site))
    }

    /// A stored value is hostile too: a manifest or part that does not decode (damage, another
    /// version, counts out of range) makes the day read as not sealed, from the rows it has
    /// (none after sealing: anti-entropy then finds the day's ids missing and brings the events
    /// back from a replica as rows, and the next pass seals them), never a trap.
    @Test(arguments: StoreKind.allCases)
    func damagedSegments_areReadFromRows(kind: StoreKind) throws {
        let (kv, cleanup) = try kind.make()
        defer { cleanup() }
        let store = try EventStore(kv: kv)
        _ = try store.apply(traffic(), nowMs: now, retention: retention)
        _ = try store.sealSegments(site: site, plan: plan, nowMs: now)
        let day = Day(containing: day0 + TimeUnits.dayMs)
        let manifest = SegmentManifest(of: [EventSegment(site: site, day: day, events: (0..<10).map { makeEvent("m\($0)", at: day.startMs + Int64($0)) })])
        #expect(SegmentManifest(encoded: manifest.encoded) == manifest)
        #expect(manifest.rows == 10 && manifest.digests.reduce(0) { $0 + $1.count } == 10)
        let seal = [UInt8](repeating: 7, count: 8)
        // One row in slice 0: version 3 is this one's; 2 is the one before (its segments held id
        // times apart, its manifest no digests), 4 a later one.
        let digests = [0, 0, 0, 0, 0, 0, 0, 1] + [UInt8](repeating: 9, count: 8) + [UInt8](repeating: 0, count: 16 * 15)
        #expect(SegmentManifest(encoded: [3, 0, 1, 0, 0, 0, 1] + seal + digests) != nil)
        for bad: [UInt8] in [[], [1, 0, 1, 0, 0, 0, 1], [3, 0, 0, 0, 0, 0, 0] + seal + digests, [3, 0xff, 0xff, 0, 0, 0, 1] + seal + digests,
                             [3, 0, 1, 0xff, 0xff, 0xff, 0xff] + seal + digests, [2, 0, 1, 0, 0, 0, 1] + seal, [2, 0, 1, 0, 0, 0, 1] + seal + digests,
                             [4, 0, 1, 0, 0, 0, 1] + seal + digests, [3, 0, 1, 0, 0, 0, 1] + seal + digests + [0],
                             [3, 0, 1, 0, 0, 0, 2] + seal + digests, [3, 0, 1, 0, 0, 0, 1] + seal + [UInt8](repeating: 0xff, count: 16 * 16)] {
            #expect(SegmentManifest(encoded: bad) == nil)
        }
        var batch = WriteBatch()
        batch.put(.segments, StorageKeys.segmentPart(site, day, 0), Array("not a segment".utf8))
        batch.put(.segments, StorageKeys.segmentManifest(site, day.advanced(by: 1)), [4, 0, 9, 0, 0, 0, 1] + seal + digests)
        try kv.write(batch, sync: true)
        try expectSameAnswers(store)
    }

    /// A day of more rows than a segment holds is cut into full parts in row order (by visitor,
    /// then time), and a day that fits is one part: together they hold every event once.
    @Test(arguments: [0, 1, 5_000, EventSegment.rowsMax, 2 * EventSegment.rowsMax + 7])
    func aDaysEvents_areCutIntoSegmentsInRowOrder(count: Int) {
        var random = SplitMix64(seed: UInt64(count))
        let events = (0..<count).map { n in
            makeEvent("p\(n)", visitor: random.next() % UInt64(max(1, count / 5)), at: day0 + Int64(random.next() % UInt64(TimeUnits.dayMs)))
        }
        let parts = EventStore.parts(of: events, site: site, day: Day(containing: day0))
        #expect(parts.count == (count + EventSegment.rowsMax - 1) / EventSegment.rowsMax)
        #expect(parts.dropLast().allSatisfy { $0.count == EventSegment.rowsMax })
        #expect(parts.flatMap(\.events) == events.sorted(by: EventSegment.rowOrder))
    }

    /// Late hits for one settled day while it is sealed again and again: whatever interleaving
    /// happens, a stored segment never misses a row. The race is shown to happen (a pass discards
    /// what it built) before the result is trusted.
    @Test func writesDuringSealing_areNeverLostFromTheSegment() throws {
        let (kv, cleanup) = try StoreKind.rocksDB.make()
        defer { cleanup() }
        let store = try EventStore(kv: kv, syncWrites: false)
        let day = day0 + 2 * TimeUnits.dayMs
        _ = try store.apply((0..<3_000).map { makeEvent("base\($0)", visitor: UInt64($0 % 300), at: day + Int64($0) * 20_000) },
                            nowMs: now, retention: retention)
        let writer = Thread {
            for n in 0..<400 {
                _ = try? store.apply([makeEvent("late\(n)", visitor: UInt64(n), at: day + Int64(n) * 1_000)], nowMs: now, retention: retention)
            }
        }
        var discarded = 0
        writer.start()
        repeat { discarded += try store.sealSegments(site: site, plan: plan, nowMs: now).discarded } while !writer.isFinished
        #expect(discarded > 0, "no sealing pass overlapped a write: the race was not exercised")
        _ = try store.sealSegments(site: site, plan: plan, nowMs: now)
        var sealed = 0
        try store.segments(site: site, in: TimeRange(startMs: day, endMs: day + TimeUnits.dayMs), nowMs: now, retention: plan) { sealed += $0.segment.count }
        #expect(try isSealed(kv, day))
        #expect(sealed == 3_400)
    }

    /// A day not sealed answers from memory after its first report: events stored since come in as
    /// one more segment, and visitors with rows in both are read across them, with the rows' answers.
    @Test(arguments: StoreKind.allCases)
    func hotDays_takeEventsStoredSince_andAnswerAsTheirRows(kind: StoreKind) throws {
        let (kv, cleanup) = try kind.make()
        defer { cleanup() }
        let store = try EventStore(kv: kv)
        _ = try store.apply(traffic(), nowMs: now, retention: retention)
        try expectSameAnswers(store)
        let today = SealedDay(site: site, day: Day(containing: now))
        let base = try #require(store.hotDays.parts(today), "the report built today's base and holds it")

        // Later hits today: half continue visitors the base holds, half are new.
        let later = (0..<30).map { (n: Int) -> Event in
            let visitor = UInt64(n % 2 == 0 ? n : 1_000 + n), at: Int64 = now - TimeUnits.hourMs + Int64(n) * 60_000
            return makeEvent("later\(n)", visitor: visitor, at: at, path: n % 2 == 0 ? "/" : "/a", country: "DE")
        }
        #expect(try store.apply(later, nowMs: now, retention: retention).allSatisfy { $0 == .stored })
        let held = try #require(store.hotDays.parts(today))
        #expect(held.count == base.count + 1, "the events since are one more segment, not a rebuild")
        #expect(held.last?.segment.count == later.count)
        try expectSameAnswers(store)

        // An erasure takes the visitor out of the held day at once, without reading its rows again.
        let erased = VisitorID(rawValue: 2), builds = store.hotDayBuilds
        #expect(held.contains { $0.segment.rows(of: erased) != nil })
        _ = try store.erase(site: site, visitor: erased, requestID: "er_2", node: "n1", nowMs: now, fenceMs: now)
        let kept = try #require(store.hotDays.parts(today), "the day stays held")
        #expect(kept.allSatisfy { $0.segment.rows(of: erased) == nil })
        try expectSameAnswers(store)
        #expect(store.hotDayBuilds == builds)

        // Once sealed, the day is read from its segment: the held copy goes.
        #expect(store.hotDays.parts(today) != nil)
        _ = try store.sealSegments(site: site, plan: plan, nowMs: now + 2 * TimeUnits.dayMs)
        #expect(store.hotDays.parts(today) == nil)
    }

    /// A store with `traffic()`, its today held (answering as its rows do), and the parts held.
    private func heldToday(_ kv: any KeyValueStore) throws -> (store: EventStore, today: SealedDay, parts: Int) {
        let store = try EventStore(kv: kv)
        _ = try store.apply(traffic(), nowMs: now, retention: retention)
        try expectSameAnswers(store)
        let today = SealedDay(site: site, day: Day(containing: now))
        return (store, today, try #require(store.hotDays.parts(today)).count)
    }

    /// `sinceMax + 10` hits of 500 visitors from an hour past midnight, so the busy visitors' runs
    /// can be whole (not near midnight) and some of their visits join hits of the base.
    private func busyHits() -> (start: Int64, hits: [Event]) {
        let start = Day(containing: now).startMs + TimeUnits.hourMs
        return (start, (0..<HotDays.sinceMax + 10).map { n in
            makeEvent("busy\(n)", visitor: UInt64(n % 500), at: start + Int64(n) * 9_000, path: ["/", "/a"][n % 2], country: "DE")
        })
    }

    /// A busy day's events since are folded into its base as a part of their own once there are
    /// more than `sinceMax`: the day stays held (never read from its rows again) and answers as
    /// its rows do, visitors with rows in several parts included.
    @Test func manyEventsSince_areFoldedIntoTheBase() throws {
        let (kv, cleanup) = try StoreKind.inMemory.make()
        defer { cleanup() }
        let (store, today, base) = try heldToday(kv)
        let (start, busy) = busyHits()
        for batch in stride(from: 0, to: busy.count, by: 1_000) {
            #expect(try store.apply(Array(busy[batch..<min(busy.count, batch + 1_000)]), nowMs: now, retention: retention).allSatisfy { $0 == .stored })
        }
        store.hotDays.waitForFolds()
        let held = try #require(store.hotDays.parts(today), "the day is still held")
        #expect(held.count == base + 2, "the first \(HotDays.sinceMax + 1) since are one more part of the base, the rest since")
        try expectSameAnswers(store)

        // An erasure whose fence falls among a folded visitor's hits: those before it leave every
        // part of every held day, those after stay, and no day is read from its rows again.
        let visitor = VisitorID(rawValue: 7), fence = start + 2_000 * 9_000, builds = store.hotDayBuilds
        let record = try store.erase(site: site, visitor: visitor, requestID: "er_7", node: "n1", nowMs: now, fenceMs: fence)
        #expect(record.deletedEvents > 0)
        let after = try #require(store.hotDays.parts(today), "the day is still held")
        let rows = after.flatMap { part in part.segment.rows(of: visitor).map { Array($0).map { part.segment.timestamps[$0] } } ?? [] }
        #expect(!rows.isEmpty && rows.allSatisfy { $0 > fence })
        #expect(rows.count == busy.filter { $0.visitor == visitor && $0.timestampMs > fence }.count)
        try expectSameAnswers(store)
        #expect(store.hotDayBuilds == builds)
    }

    /// A fold is built off the write lock, so an erasure can come while it is being built: the
    /// fold, made from events the erasure took out, must not be put in place (the erased visitor
    /// would be back in every report of the day); the day stays held and answers as its rows do.
    @Test func anErasureWhileAFoldIsBuilt_dropsTheFold() throws {
        let (kv, cleanup) = try StoreKind.inMemory.make()
        defer { cleanup() }
        let (store, today, base) = try heldToday(kv)
        let (start, busy) = busyHits()
        store.hotDays.folds.suspend()
        #expect(try store.apply(busy, nowMs: now, retention: retention).allSatisfy { $0 == .stored })
        let visitor = VisitorID(rawValue: 7)
        let fence = start + Int64(busy.count) * 9_000
        let record = try store.erase(site: site, visitor: visitor, requestID: "er_7", node: "n1", nowMs: now, fenceMs: fence)
        #expect(record.deletedEvents > 0)
        store.hotDays.folds.resume()
        store.hotDays.waitForFolds()
        let held = try #require(store.hotDays.parts(today), "the day is still held")
        #expect(held.count == base + 1, "the fold was dropped: the events since are one part, as before any fold")
        let kept = held.flatMap { part in part.segment.rows(of: visitor).map { Array($0).map { part.segment.timestamps[$0] } } ?? [] }
        #expect(kept.allSatisfy { $0 > fence }, "no part holds an erased hit")
        try expectSameAnswers(store)

        // The next append past `sinceMax` folds again, and this time the fold is used.
        let more = (0..<10).map { makeEvent("more\($0)", visitor: 900, at: start + Int64(HotDays.sinceMax + 20 + $0) * 9_000) }
        _ = try store.apply(more, nowMs: now, retention: retention)
        store.hotDays.waitForFolds()
        #expect(try #require(store.hotDays.parts(today)).count == base + 2,
                "the events since up to the first of these are one more part of the base, the other nine since")
        try expectSameAnswers(store)
    }

    /// The hot tier holds what its budget allows (`--hot-days-mb`): within it, busy sites' todays
    /// are read from their rows once, however often each is reported on; past it, a build drops the
    /// least recently used day, which its next report reads from its rows again (in session 25's
    /// soak a budget holding a few of eight busy todays made that a fifth of a node's CPU).
    @Test func hotDays_holdWhatTheirBudgetAllows_andDropTheLeastRecentlyUsed() throws {
        let sites = (1...3).map { SiteID("busy\($0).example")! }
        let start = now - 6 * TimeUnits.hourMs, todays = TimeRange(startMs: Day(containing: now).startMs, endMs: now)
        func storeWithBusyTodays(hotDaysBytes: Int) throws -> (EventStore, () -> Void) {
            let (kv, cleanup) = try StoreKind.inMemory.make()
            let store = try EventStore(kv: kv, syncWrites: false, hotDaysBytes: hotDaysBytes)
            for site in sites {
                _ = try store.apply((0..<2_000).map { makeEvent("\(site)-\($0)", site: site, visitor: UInt64($0 % 200), at: start + Int64($0) * 5_000) },
                                    nowMs: now, retention: retention)
            }
            return (store, cleanup)
        }
        func report(_ store: EventStore, _ site: SiteID) throws -> Int {
            var rows = 0
            try store.segments(site: site, in: todays, nowMs: now, retention: plan) { rows += $0.segment.count }
            return rows
        }

        let (roomy, closeRoomy) = try storeWithBusyTodays(hotDaysBytes: 512 << 20)
        defer { closeRoomy() }
        #expect(try report(roomy, sites[0]) == 2_000)
        let oneDay = roomy.hotDayBytes
        // Each row's id, run and visit at least (its other columns take a byte or none here).
        #expect(oneDay > 2_000 * 24, "a day's estimate counts its columns: \(oneDay) bytes")
        for _ in 0..<3 { for site in sites { #expect(try report(roomy, site) == 2_000) } }
        #expect(roomy.hotDayBuilds == 3, "each today read from its rows once")
        #expect(roomy.hotDayBytes == 3 * oneDay)

        // Room for two of the three: each build past it drops the least recently used.
        let (tight, closeTight) = try storeWithBusyTodays(hotDaysBytes: oneDay * 5 / 2)
        defer { closeTight() }
        for site in sites { #expect(try report(tight, site) == 2_000) }
        #expect(tight.hotDayBuilds == 3)
        #expect(tight.hotDays.parts(SealedDay(site: sites[0], day: todays.days.lowerBound)) == nil, "the least recently used today was dropped")
        #expect(tight.hotDays.parts(SealedDay(site: sites[2], day: todays.days.lowerBound)) != nil)
        #expect(tight.hotDayBytes <= oneDay * 5 / 2)
        #expect(try report(tight, sites[0]) == 2_000)
        #expect(tight.hotDayBuilds == 4, "the dropped today is read from its rows again")
    }

    /// Anti-entropy's digests of the days the hot tier holds are taken from the digests it keeps,
    /// and equal those of the rows: once the days are held, after writes appended to them (past
    /// a fold), after an erasure cut them, beside days read from their rows, and for windows that
    /// end anywhere in them (a pass's ends a minute before now).
    @Test(arguments: StoreKind.allCases)
    func digestsOfHeldDays_equalTheDigestsOfTheirRows(kind: StoreKind) throws {
        let (kv, cleanup) = try kind.make(), (otherKV, otherCleanup) = try kind.make()
        defer { cleanup(); otherCleanup() }
        let held = try EventStore(kv: kv), unheld = try EventStore(kv: otherKV)
        func everyStore(_ change: (EventStore) throws -> Void) rethrows { try change(held); try change(unheld) }
        let ends: [Int64] = [1 << 52, now + 1, now - 60_000, now - 3 * TimeUnits.hourMs, Day(containing: now).startMs + 1,
                             Day(containing: now).startMs, now - TimeUnits.dayMs - 7_777, now - 2 * TimeUnits.dayMs + 1]
        /// The digests of windows from the first event to each of `ends`.
        func digests(_ store: EventStore) throws -> [[Day: [EventSetDigest]]] {
            try ends.map { try store.digests(site: site, fromMs: 0, untilMs: $0) }
        }
        let days = Day(containing: range.startMs)...Day(containing: now)
        try everyStore { _ = try $0.apply(traffic(), nowMs: now, retention: retention) }
        // A report of the last three days holds them; the days before stay rows only.
        try held.segments(site: site, in: TimeRange(startMs: now - 2 * TimeUnits.dayMs, endMs: now), nowMs: now, retention: plan) { _ in }
        #expect(held.hotDays.held(site: site, days: days).count == 3, "the report left three days held")
        #expect(unheld.hotDays.held(site: site, days: days).isEmpty)
        // The fault this test is about must take effect: the held days' digests come from memory.
        #expect(held.hotDays.digests(site: site, days: days, before: now).count == 3)
        #expect(try digests(held) == digests(unheld))
        #expect(try digests(held)[0].count >= 6)

        try everyStore { _ = try $0.apply([makeEvent("late-1", visitor: 7, at: now - 60_000), makeEvent("late-2", visitor: 99, at: now - TimeUnits.dayMs)],
                                          nowMs: now, retention: retention) }
        #expect(try digests(held) == digests(unheld), "after writes appended to the held days")
        // Past `sinceMax` appends, the events since are folded into a part of their own.
        let today = SealedDay(site: site, day: Day(containing: now)), partsBefore = try #require(held.hotDays.parts(today)).count
        let busy = (0..<(HotDays.sinceMax + 500)).map { makeEvent("busy-\($0)", visitor: UInt64(200 + $0 % 97), at: now - 5 * TimeUnits.hourMs + Int64($0) * 3_000) }
        try everyStore { _ = try $0.apply(busy, nowMs: now, retention: retention) }
        held.hotDays.waitForFolds()
        #expect(try #require(held.hotDays.parts(today)).count > partsBefore, "the fold happened")
        #expect(try digests(held) == digests(unheld), "after a fold")
        // Visitor 7 has ids in the folded parts and, with this one, among the events since.
        try everyStore { _ = try $0.apply([makeEvent("late-3", visitor: 7, at: now - 30_000)], nowMs: now, retention: retention) }
        try everyStore { _ = try $0.erase(site: site, visitor: VisitorID(rawValue: 7), requestID: "r1", node: "n1", nowMs: now, fenceMs: now) }
        #expect(try digests(held) == digests(unheld), "after an erasure cut the held days")
        #expect(held.hotDays.held(site: site, days: days).count == 3, "still held")
    }

    /// A write between a hot day's opening and its row scan is both appended and scanned: it is
    /// counted once. One after the scan is only appended, and counted too. (Driven step by step
    /// as `hotParts` runs them, so the overlap surely happens.)
    @Test func aWriteSeenByAHotDaysScan_isCountedOnce() throws {
        let (kv, cleanup) = try StoreKind.rocksDB.make()
        defer { cleanup() }
        let store = try EventStore(kv: kv, syncWrites: false)
        let start = now - 6 * TimeUnits.hourMs, today = SealedDay(site: site, day: Day(containing: now))
        func events(_ name: String, _ count: Int) -> [Event] {
            (0..<count).map { makeEvent("\(name)\($0)", visitor: UInt64($0 % 300), at: start + Int64($0) * 5_000) }
        }
        _ = try store.apply(events("base", 3_000), nowMs: now, retention: retention)
        let build = try opened(today, in: store)
        _ = try store.apply(events("during", 10), nowMs: now, retention: retention)
        let rows = try store.rowSegments(site: site, day: today.day, in: today.day.startMs..<now, nowMs: now, retention: plan)
        _ = try store.apply(events("after", 5), nowMs: now, retention: retention)
        let parts = try #require(store.hotDays.finish(today, build, rows: rows))
        #expect(store.hotDays.overlaps.load(ordering: .relaxed) == 10)
        #expect(Columnar(segments: parts, range: start..<now, filters: []).summary.pageviews == 3_015)
        // The digests the hot tier keeps count the events appended during the build too: equal to
        // those of the day's ids read (a window from just after midnight is read, not kept).
        let kept = try store.digests(site: site, fromMs: 0, untilMs: now + 1)[today.day]
        let read = try store.digests(site: site, fromMs: today.day.startMs + 1, untilMs: now + 1)[today.day]
        #expect(kept != nil && kept == read)
        #expect(kept?.reduce(0) { $0 + $1.count } == 3_015)
    }

    /// More than `sinceMax` hits arriving while a busy day's rows are read (seconds for a day of
    /// hundreds of thousands) are folded once the base is set: the build is kept, and the day is
    /// not read from its rows again. Dropping the day at the overflow threw every such build away,
    /// so each report of the day read all its rows (found in session 26's soak).
    @Test func manyWritesDuringAHotDaysBuild_keepTheBuild() throws {
        let (store, cleanup) = try storeWithTodaysBase()
        defer { cleanup() }
        let today = SealedDay(site: site, day: Day(containing: now))
        let build = try opened(today, in: store)
        let rows = try store.rowSegments(site: site, day: today.day, in: today.day.startMs..<now, nowMs: now, retention: plan)
        let during = (0..<HotDays.sinceMax + 100).map { makeEvent("during\($0)", visitor: UInt64(1_000 + $0 % 400), at: todaysBaseStart + Int64($0) * 1_000) }
        for batch in stride(from: 0, to: during.count, by: 1_000) {
            _ = try store.apply(Array(during[batch..<min(during.count, batch + 1_000)]), nowMs: now, retention: retention)
        }
        let kept = store.hotDays.finish(today, build, rows: rows)
        let parts = try #require(kept, "the build is kept")
        #expect(Columnar(segments: parts, range: todaysBaseStart..<now, filters: []).summary.pageviews == Int64(3_000 + during.count))
        let held = try #require(store.hotDays.parts(today), "the day is held")
        #expect(held.count == rows.count + 1, "the hits during the build are one folded part")
        #expect(store.hotDayBuilds == 1)
        var read = 0
        try store.segments(site: site, in: TimeRange(startMs: todaysBaseStart, endMs: now), nowMs: now, retention: plan) { read += $0.segment.count }
        #expect(read == 3_000 + during.count)
        #expect(store.hotDayBuilds == 1, "the next report reads the held day, not the rows")
    }

    /// More hits than one segment holds (`EventSegment.rowsMax`) arriving while a day's base is
    /// built, or while a fold is, become as many parts as they need. Made one segment, they
    /// stopped the node (a precondition) at the first report of a busy site's today after a restart.
    @Test func moreHitsThanASegmentHolds_duringABuildOrAFold_becomeSeveralParts() throws {
        let (store, cleanup) = try storeWithTodaysBase()
        defer { cleanup() }
        let today = SealedDay(site: site, day: Day(containing: now))
        func pageviews(_ parts: [IndexedSegment]) -> Int64 { Columnar(segments: parts, range: todaysBaseStart..<now, filters: []).summary.pageviews }
        func hits(_ name: String, from start: Int64) -> [Event] {
            (0..<EventSegment.rowsMax + 100).map { makeEvent("\(name)\($0)", visitor: UInt64(1_000 + $0 % 4_000), at: start + Int64($0) * 150) }
        }
        let build = try opened(today, in: store)
        let rows = try store.rowSegments(site: site, day: today.day, in: today.day.startMs..<now, nowMs: now, retention: plan)
        let during = hits("during", from: todaysBaseStart)
        store.hotDays.append(during)  // as `EventStore.apply` does once it has stored them
        let parts = try #require(store.hotDays.finish(today, build, rows: rows), "the build is kept")
        #expect(parts.allSatisfy { $0.segment.count <= EventSegment.rowsMax })
        #expect(parts.count >= rows.count + 2)
        #expect(pageviews(parts) == Int64(3_000 + during.count))

        store.hotDays.folds.suspend()
        let baseBytes = store.hotDays.bytes
        let more = hits("more", from: todaysBaseStart + 3 * TimeUnits.hourMs)
        store.hotDays.append(more)
        // The base is as it was: the fold waits, and the hits are all still events since.
        #expect(store.hotDays.bytes == baseBytes)
        let held = try #require(store.hotDays.parts(today), "the day is held while its fold waits")
        #expect(held.allSatisfy { $0.segment.count <= EventSegment.rowsMax })
        #expect(pageviews(held) == Int64(3_000 + during.count + more.count))
        store.hotDays.folds.resume()
        store.hotDays.waitForFolds()
        #expect(store.hotDays.bytes > baseBytes, "the fold is in the base")
        #expect(pageviews(try #require(store.hotDays.parts(today))) == Int64(3_000 + during.count + more.count))
    }

    /// When the hits of `storeWithTodaysBase` begin: six hours before `now`.
    var todaysBaseStart: Int64 { now - 6 * TimeUnits.hourMs }

    /// A RocksDB store holding 3,000 hits of 300 visitors today, one each 5 s from `todaysBaseStart`.
    func storeWithTodaysBase() throws -> (EventStore, () -> Void) {
        let (kv, cleanup) = try StoreKind.rocksDB.make()
        let store = try EventStore(kv: kv, syncWrites: false)
        _ = try store.apply((0..<3_000).map { makeEvent("base\($0)", visitor: UInt64($0 % 300), at: todaysBaseStart + Int64($0) * 5_000) },
                            nowMs: now, retention: retention)
        return (store, cleanup)
    }

    /// Opens `day` for a build, as `hotParts` does; fails the test when it was open already.
    func opened(_ day: SealedDay, in store: EventStore) throws -> HotDays.Build {
        let opening = store.writeLock.withLock { _ in store.hotDays.begin(day) }
        guard case .build(let build) = opening else { throw StorageError("\(day) was open already") }
        return build
    }

    /// A second report building a day the first is building leaves the first's entry alone: the
    /// events appended since the first opened it stay (opening it again dropped them, and the
    /// day was held without them until sealed).
    @Test func aSecondBuildOfADay_keepsWhatWasAppendedForTheFirst() throws {
        let (store, cleanup) = try storeWithTodaysBase()
        defer { cleanup() }
        let start = todaysBaseStart, today = SealedDay(site: site, day: Day(containing: now))
        let first = try opened(today, in: store)
        let rows = try store.rowSegments(site: site, day: today.day, in: today.day.startMs..<now, nowMs: now, retention: plan)
        _ = try store.apply((0..<10).map { makeEvent("during\($0)", visitor: UInt64($0), at: start + Int64($0) * 1_000) }, nowMs: now, retention: retention)
        let again = store.writeLock.withLock { _ in store.hotDays.begin(today) }
        guard case .building = again else { Issue.record("the day is open already: \(again)"); return }
        let parts = try #require(store.hotDays.finish(today, first, rows: rows))
        #expect(Columnar(segments: parts, range: start..<now, filters: []).summary.pageviews == 3_010)
    }

    /// A report that finds a day being built waits for that build and answers from it, instead of
    /// reading the day's rows a second time (on a restarted node every report of a busy site's
    /// today did, each for seconds).
    @Test func aReportDuringABuild_waitsForIt() throws {
        let (store, cleanup) = try storeWithTodaysBase()
        defer { cleanup() }
        let start = todaysBaseStart, today = SealedDay(site: site, day: Day(containing: now))
        let build = try opened(today, in: store)
        let answered = Atomic<Int64>(-1)
        let report = Thread { [self] in
            var segments = [IndexedSegment]()
            try? store.segments(site: site, in: TimeRange(startMs: start, endMs: now), nowMs: now, retention: plan) { segments.append($0) }
            answered.store(Columnar(segments: segments, range: start..<now, filters: []).summary.pageviews, ordering: .sequentiallyConsistent)
        }
        report.start()
        Thread.sleep(forTimeInterval: 0.3)
        #expect(answered.load(ordering: .sequentiallyConsistent) == -1, "the report waits for the build")
        let rows = try store.rowSegments(site: site, day: today.day, in: today.day.startMs..<now, nowMs: now, retention: plan)
        _ = try #require(store.hotDays.finish(today, build, rows: rows))
        build.done.leave()
        for _ in 0..<500 where answered.load(ordering: .sequentiallyConsistent) == -1 { Thread.sleep(forTimeInterval: 0.01) }
        #expect(answered.load(ordering: .sequentiallyConsistent) == 3_000)
        #expect(store.hotDayBuilds == 1, "the day was read from its rows once")
    }

    /// A warm-up after a start reads the site's today into memory, rows and rollups, as its first
    /// report would: that report then reads nothing from rows and builds no date.
    @Test func aWarmUp_readsTodayIntoMemory_beforeTheFirstReport() throws {
        let (kv, cleanup) = try StoreKind.rocksDB.make()
        defer { cleanup() }
        _ = try EventStore(kv: kv).apply(traffic(), nowMs: now, retention: retention)
        let store = try EventStore(kv: kv)  // as after a restart: nothing in memory
        let today = Day(containing: now), key = SealedDay(site: site, day: today)
        func isCurrent() -> Bool {
            let inputs = store.recentRollups.inputs(of: site, days: EventStore.daysRead(by: today, calendar: .utc))
            if case .current = store.recentRollups.lookup(key, inputs: inputs) { return true }
            return false
        }
        #expect(store.hotDays.parts(key) == nil && !isCurrent())
        try store.warmUp(site: site, nowMs: now)
        #expect(store.hotDays.parts(key) != nil && isCurrent())
        let builds = store.hotDayBuilds
        let total = try store.dayTotals(site: site, metric: .total, days: today...today)[""]?.count
        #expect(total == Int64(traffic().filter { $0.day == today && $0.kind == .pageview }.count))
        #expect(store.hotDayBuilds == builds && isCurrent())
    }

    /// A build whose day an erasure dropped, and another report opened again, is not held: its
    /// rows were read before the erasure and hold the erased visitor.
    @Test func aBuildThatAnErasureOvertook_isNotHeld() throws {
        let (kv, cleanup) = try StoreKind.rocksDB.make()
        defer { cleanup() }
        let store = try EventStore(kv: kv, syncWrites: false)
        let start = now - 6 * TimeUnits.hourMs, today = SealedDay(site: site, day: Day(containing: now))
        _ = try store.apply((0..<300).map { makeEvent("base\($0)", visitor: UInt64($0 % 30), at: start + Int64($0) * 5_000) },
                            nowMs: now, retention: retention)
        let erased = VisitorID(rawValue: 7)
        let first = try opened(today, in: store)
        let stale = try store.rowSegments(site: site, day: today.day, in: today.day.startMs..<now, nowMs: now, retention: plan)
        #expect(stale.contains { $0.rows(of: erased) != nil }, "the first build read the visitor's rows")
        _ = try store.erase(site: site, visitor: erased, requestID: "er_7", node: "n1", nowMs: now, fenceMs: now)
        let second = try opened(today, in: store)
        #expect(store.hotDays.finish(today, first, rows: stale) == nil)
        let rows = try store.rowSegments(site: site, day: today.day, in: today.day.startMs..<now, nowMs: now, retention: plan)
        let parts = try #require(store.hotDays.finish(today, second, rows: rows))
        #expect(parts.allSatisfy { $0.segment.rows(of: erased) == nil })
        #expect(try #require(store.hotDays.parts(today)).allSatisfy { $0.segment.rows(of: erased) == nil })
    }

    /// Writes racing reports that build a hot day again and again: each report counts every write
    /// made before it began and none twice. The builds are shown to overlap writes.
    @Test func writesDuringAHotDaysBuild_areCountedOnce() throws {        let (kv, cleanup) = try StoreKind.rocksDB.make()
        defer { cleanup() }
        let store = try EventStore(kv: kv, syncWrites: false)
        let start = now - 6 * TimeUnits.hourMs
        _ = try store.apply((0..<3_000).map { makeEvent("base\($0)", visitor: UInt64($0 % 300), at: start + Int64($0) * 5_000) },
                            nowMs: now, retention: retention)
        let written = Atomic<Int>(0)
        let writer = Thread {
            for n in 0..<3_000 {
                _ = try? store.apply([makeEvent("since\(n)", visitor: UInt64(n), at: start + Int64(n) * 1_000)], nowMs: now, retention: retention)
                written.add(1, ordering: .sequentiallyConsistent)
            }
        }
        func pageviews() throws -> Int64 {
            var segments = [IndexedSegment]()
            try store.segments(site: site, in: TimeRange(startMs: start, endMs: now), nowMs: now, retention: plan) { segments.append($0) }
            return Columnar(segments: segments, range: start..<now, filters: []).summary.pageviews
        }
        writer.start()
        var overlapped = 0
        repeat {
            store.hotDays.forget(site: site)
            let before = written.load(ordering: .sequentiallyConsistent)
            let counted = try pageviews() - 3_000
            let after = written.load(ordering: .sequentiallyConsistent)
            #expect(counted >= Int64(before) && counted <= Int64(after) + 1, "\(counted) counted, \(before)…\(after) written")
            if after > before { overlapped += 1 }
        } while !writer.isFinished
        #expect(overlapped > 0, "no build overlapped a write: the race was not exercised")
        #expect(try pageviews() == 6_000)
    }
}
