import Foundation
import FootfallModel
import FootfallStorage
import Testing

/// The site-data rules on top of the storage contract, run against both stores.
@Suite struct EventStoreTests {
    let plan = RetentionPlan(days: 30)!
    var retention: (SiteID) -> RetentionPlan { { _ in plan } }
    let now = day0 + 12 * TimeUnits.hourMs

    func totals(_ store: EventStore, _ metric: RollupMetric) throws -> [String: RollupCell] {
        try store.dayTotals(site: site, metric: metric, days: Day(containing: day0 - 40 * TimeUnits.dayMs)...Day(containing: day0 + 2 * TimeUnits.dayMs))
            .mapValues { RollupCell(count: $0.count, visitors: $0.visitors) }
    }

    /// Encoding checks what decoding checks: an event the store could not read back (here a
    /// title past the stored bound) fails its batch before anything is written, rather than
    /// leaving a row every later read of the day would refuse.
    @Test(arguments: StoreKind.allCases)
    func anEventTheStoreCouldNotReadBack_failsItsBatch_andNothingIsWritten(kind: StoreKind) throws {
        let (kv, cleanup) = try kind.make()
        defer { cleanup() }
        let store = try EventStore(kv: kv)
        let good = makeEvent("good", at: now - 60_000)
        var unreadable = makeEvent("unreadable", visitor: 2, at: now - 30_000)
        unreadable.title = String(repeating: "t", count: EventCodec.Bounds.textBytesMax + 1)
        #expect(throws: StorageError.self) { try EventCodec.encode(unreadable) }
        #expect(throws: StorageError.self) { _ = try store.apply([good, unreadable], nowMs: now, retention: retention) }
        #expect(try store.storedEvents(site: site, ids: [good.id, unreadable.id]).isEmpty)
        #expect(try totals(store, .page).isEmpty)
        // The batch without it is stored whole.
        #expect(try store.apply([good], nowMs: now, retention: retention) == [.stored])
        #expect(try store.storedEvents(site: site, ids: [good.id]).map(\.id) == [good.id])
    }

    @Test(arguments: StoreKind.allCases)
    func reapplyingTheSameEvents_changesNothing_rollupsIncluded(kind: StoreKind) throws {
        let (kv, cleanup) = try kind.make()
        defer { cleanup() }
        let store = try EventStore(kv: kv)
        let events = (0..<20).map { makeEvent("hit\($0)", visitor: UInt64($0 % 4), at: now - Int64($0) * 60_000, path: "/p\($0 % 3)") }
        #expect(try store.apply(events, nowMs: now, retention: retention).allSatisfy { $0 == .stored })
        let pagesBefore = try totals(store, .page)
        let visitsBefore = try totals(store, .visits)
        // A retry of the whole batch, and a batch holding the same event twice.
        #expect(try store.apply(events, nowMs: now, retention: retention).allSatisfy { $0 == .duplicate })
        #expect(try store.apply([events[0], events[0]], nowMs: now, retention: retention) == [.duplicate, .duplicate])
        #expect(try totals(store, .page) == pagesBefore)
        #expect(try totals(store, .visits) == visitsBefore)
        #expect(pagesBefore.values.reduce(0) { $0 + $1.count } == 20)
        #expect(visitsBefore[""]?.count == 4)
    }

    @Test(arguments: StoreKind.allCases)
    func sameBatchDuplicate_isStoredOnce(kind: StoreKind) throws {
        let (kv, cleanup) = try kind.make()
        defer { cleanup() }
        let store = try EventStore(kv: kv)
        let event = makeEvent("dup", at: now)
        #expect(try store.apply([event, event], nowMs: now, retention: retention) == [.stored, .duplicate])
        #expect(try totals(store, .total)[""]?.count == 1)
    }

    @Test(arguments: StoreKind.allCases)
    func lateEventBridgingTwoVisits_mergesThem(kind: StoreKind) throws {
        let (kv, cleanup) = try kind.make()
        defer { cleanup() }
        let store = try EventStore(kv: kv)
        let start = day0 + 8 * TimeUnits.hourMs
        _ = try store.apply([makeEvent("a", at: start, path: "/in"), makeEvent("c", at: start + 50 * 60_000, path: "/out")],
                            nowMs: now, retention: retention)
        #expect(try totals(store, .visits)[""]?.count == 2)
        #expect(try totals(store, .bounces)[""]?.count == 2)
        // Arrives late, 25 minutes after the first: one visit of 50 minutes, no bounce.
        _ = try store.apply([makeEvent("b", at: start + 25 * 60_000, path: "/mid")], nowMs: now, retention: retention)
        #expect(try totals(store, .visits)[""]?.count == 1)
        #expect(try totals(store, .bounces)[""]?.count ?? 0 == 0)
        #expect(try totals(store, .visitDuration)[""]?.count == 50 * 60_000)
        #expect(try totals(store, .entryPage).filter { $0.value.count != 0 }.mapValues(\.count) == ["/in": 1])
        #expect(try totals(store, .exitPage).filter { $0.value.count != 0 }.mapValues(\.count) == ["/out": 1])
    }

    @Test(arguments: StoreKind.allCases)
    func visitAcrossMidnight_isOneVisit(kind: StoreKind) throws {
        let (kv, cleanup) = try kind.make()
        defer { cleanup() }
        let store = try EventStore(kv: kv)
        let midnight = day0
        _ = try store.apply([makeEvent("late", at: midnight - 5 * 60_000)], nowMs: now, retention: retention)
        _ = try store.apply([makeEvent("early", at: midnight + 5 * 60_000)], nowMs: now, retention: retention)
        #expect(try totals(store, .visits)[""]?.count == 1)
    }

    @Test(arguments: StoreKind.allCases)
    func eventOlderThanRetention_isRefused(kind: StoreKind) throws {
        let (kv, cleanup) = try kind.make()
        defer { cleanup() }
        let store = try EventStore(kv: kv)
        let old = makeEvent("old", at: now - 31 * TimeUnits.dayMs)
        #expect(try store.apply([old], nowMs: now, retention: retention) == [.expired])
        #expect(try totals(store, .total).isEmpty)
    }

    @Test(arguments: StoreKind.allCases)
    func erasure_deletesVisitorData_fencesPastEvents_acceptsNewConsentedOnes(kind: StoreKind) throws {
        let (kv, cleanup) = try kind.make()
        defer { cleanup() }
        let store = try EventStore(kv: kv)
        var mine = makeEvent("mine", visitor: 7, at: now - 60_000)
        mine.consented = true
        mine.pii = PII(email: "ann@example.com")
        let other = makeEvent("other", visitor: 8, at: now - 60_000)
        _ = try store.apply([mine, other], nowMs: now, retention: retention)
        #expect(try store.visitorRecord(site: site, visitor: VisitorID(rawValue: 7))?.pii.email == "ann@example.com")

        let record = try store.erase(site: site, visitor: VisitorID(rawValue: 7), requestID: "r1", node: "n1", nowMs: now, fenceMs: now + 300_000)
        #expect(record.deletedEvents == 1)
        #expect(try store.visitorEvents(site: site, visitor: VisitorID(rawValue: 7), nowMs: now, retention: plan).isEmpty)
        #expect(try store.visitorRecord(site: site, visitor: VisitorID(rawValue: 7)) == nil)
        #expect(try store.visitorEvents(site: site, visitor: VisitorID(rawValue: 8), nowMs: now, retention: plan).count == 1)
        // The same event replayed (a retry, a hint, a repair stream) never comes back.
        #expect(try store.apply([mine], nowMs: now + 1000, retention: retention) == [.fenced])
        var older = makeEvent("older", visitor: 7, at: now - 120_000)
        older.consented = true
        #expect(try store.apply([older], nowMs: now + 1000, retention: retention) == [.fenced])
        // A hit stamped a little in the future (a fast client clock) is fenced too.
        #expect(try store.apply([makeEvent("ahead", visitor: 7, at: now + 200_000)], nowMs: now + 1000, retention: retention) == [.fenced])
        // Fresh data after the fence is new data.
        #expect(try store.apply([makeEvent("fresh", visitor: 7, at: now + 400_000)], nowMs: now + 400_000, retention: retention) == [.stored])
        // The fence survives a restart of the store.
        let reopened = try EventStore(kv: kv)
        #expect(try reopened.apply([mine], nowMs: now + 500_000, retention: retention) == [.fenced])
        // A date not built yet counts what its events are: the erased hit no more.
        #expect(try totals(store, .total)[""]?.count == 2)
    }

    /// Rollups hold no personal data: a date built before an erasure keeps counting the erased
    /// visitor's hits.
    @Test func erasure_leavesBuiltRollups() throws {
        let store = try EventStore(kv: InMemoryStore())
        _ = try store.apply([makeEvent("mine", visitor: 7, at: now - 60_000), makeEvent("other", visitor: 8, at: now - 60_000)],
                            nowMs: now, retention: retention)
        let later = now + 8 * TimeUnits.dayMs
        try store.sealSegments(site: site, plan: plan, nowMs: later)
        _ = try store.erase(site: site, visitor: VisitorID(rawValue: 7), requestID: "r1", node: "n1", nowMs: later, fenceMs: later)
        #expect(try store.visitorEvents(site: site, visitor: VisitorID(rawValue: 7), nowMs: later, retention: plan).isEmpty)
        #expect(try totals(store, .total)[""]?.count == 2)
    }

    /// An erasure removes what its fence covers and nothing newer: a replica that receives it late
    /// (after the visitor consented again and was written about) or twice (a replayed hint) keeps
    /// the CRM record's later notes, personal data and counts. The simulation lost acknowledged
    /// notes this way when erasure deleted the whole record.
    @Test(arguments: StoreKind.allCases)
    func erasure_keepsWhatTheRecordGotAfterTheFence_whenAppliedLateOrTwice(kind: StoreKind) throws {
        let (kv, cleanup) = try kind.make()
        defer { cleanup() }
        let store = try EventStore(kv: kv)
        let visitor = VisitorID(rawValue: 7), fence = now + 300_000
        func consented(_ id: String, at ms: Int64, pii: PII? = nil) -> Event {
            var event = makeEvent(id, visitor: 7, at: ms)
            event.consented = true
            event.pii = pii
            return event
        }
        func note(_ id: String, at ms: Int64) -> VisitorEdit {
            VisitorEdit(site: site, visitor: visitor, atMs: ms, change: .addNote(id: id, text: "note \(id)"))
        }
        _ = try store.apply([consented("before", at: now - 60_000, pii: PII(name: "Ann", email: "old@example.com"))], nowMs: now, retention: retention)
        try store.apply(note("before", at: now - 30_000))
        // The erasure reaches this replica late: the visitor came back after its fence first.
        _ = try store.apply([consented("after-1", at: fence + 60_000, pii: PII(email: "new@example.com")), consented("after-2", at: fence + 120_000)],
                            nowMs: fence + 120_000, retention: retention)
        try store.apply(note("after", at: fence + 90_000))
        for attempt in 1...2 {
            _ = try store.erase(site: site, visitor: visitor, requestID: "r1", node: "n1", nowMs: fence + 130_000, fenceMs: fence)
            let record = try #require(try store.visitorRecord(site: site, visitor: visitor), "attempt \(attempt)")
            #expect(record.notes.map(\.id) == ["after"], "attempt \(attempt)")
            #expect(record.pii.email == "new@example.com", "attempt \(attempt)")
            #expect(record.pii.name == "", "the name given before the fence is erased (attempt \(attempt))")
            #expect(record.events == 2 && record.pageviews == 2, "attempt \(attempt)")
            #expect(record.firstSeenMs == fence + 60_000 && record.lastSeenMs == fence + 120_000, "attempt \(attempt)")
        }
        // With nothing after the fence, the record goes.
        let other = VisitorID(rawValue: 8)
        var only = makeEvent("only", visitor: 8, at: now - 60_000)
        only.consented = true
        _ = try store.apply([only], nowMs: now, retention: retention)
        _ = try store.erase(site: site, visitor: other, requestID: "r2", node: "n1", nowMs: now, fenceMs: now + 300_000)
        #expect(try store.visitorRecord(site: site, visitor: other) == nil)
    }

    /// Two erasures of one visitor (a client retried through another node) reach replicas in
    /// either order: a hint of the earlier one can land after the later one. Every replica must
    /// end up naming the same request, or polling the status never sees it complete (chaos,
    /// minority-split, once saw an erasure stay pending for good).
    @Test(arguments: StoreKind.allCases)
    func erasure_recordNamesTheLatestRequest_whateverOrderTheyArriveIn(kind: StoreKind) throws {
        let visitor = VisitorID(rawValue: 7)
        var records = [ErasureRecord]()
        for order in [["early", "late"], ["late", "early"]] {
            let (kv, cleanup) = try kind.make()
            defer { cleanup() }
            let store = try EventStore(kv: kv)
            let fences = ["early": now + 300_000, "late": now + 310_000]
            for request in order {
                _ = try store.erase(site: site, visitor: visitor, requestID: request, node: "n1", nowMs: now, fenceMs: fences[request]!)
            }
            let record = try #require(try store.erasureRecord(site: site, visitor: visitor))
            #expect(record.requestID == "late", "applied \(order)")
            #expect(record.erasedAtMs == now + 310_000)
            #expect(record.confirmations.map(\.node) == ["n1"])
            records.append(record)
        }
        #expect(records[0].order == records[1].order)
    }
    @Test(arguments: StoreKind.allCases)
    func retentionEnforcement_removesRawData_keepsRollups(kind: StoreKind) throws {
        let (kv, cleanup) = try kind.make()
        defer { cleanup() }
        let store = try EventStore(kv: kv)
        var event = makeEvent("x", visitor: 3, at: now - TimeUnits.dayMs)
        event.consented = true
        _ = try store.apply([event], nowMs: now, retention: retention)
        let rollupsBefore = try totals(store, .page)
        let later = now + 31 * TimeUnits.dayMs
        // Reads already hide it...
        var seen = 0
        try store.events(site: site, in: TimeRange(startMs: 0, endMs: later), nowMs: later, retention: plan) { _ in seen += 1; return true }
        #expect(seen == 0)
        // ...and enforcement deletes it, the visitor index and the CRM record too.
        try store.enforceRetention(site: site, plan: plan, nowMs: later)
        #expect(try store.oldestEventMs(site: site) == nil)
        #expect(try store.visitorRecord(site: site, visitor: VisitorID(rawValue: 3)) == nil)
        var indexEntries = 0
        try kv.scan(.visitors, prefix: StorageKeys.sitePrefix(site)) { _, _ in indexEntries += 1; return true }
        #expect(indexEntries == 0)
        #expect(try totals(store, .page) == rollupsBefore)
    }

    /// The hourly pass runs for every site: with nothing expired it must leave the files alone
    /// (it used to compact each site's range anyway, rewriting every file that straddled it while
    /// holding the write lock, and ingest stalled for seconds after each start).
    @Test func retentionPass_withNothingExpired_rewritesNoFile() throws {
        let (kv, cleanup) = try StoreKind.rocksDB.make()
        defer { cleanup() }
        let rocks = try #require(kv as? RocksDBStore)
        let store = try EventStore(kv: kv)
        var events = [Event]()
        for i in 0..<200 {
            var event = makeEvent("keep-\(i)", site: i % 2 == 0 ? site : otherSite, visitor: UInt64(i % 7), at: now - Int64(i) * 60_000)
            event.consented = true
            events.append(event)
        }
        _ = try store.apply(events, nowMs: now, retention: retention)
        try rocks.flushAll()
        func tables() throws -> Set<String> { Set(try FileManager.default.contentsOfDirectory(atPath: rocks.path).filter { $0.hasSuffix(".sst") }) }
        let before = try tables()
        #expect(!before.isEmpty)
        for id in [site, otherSite] { try store.enforceRetention(site: id, plan: plan, nowMs: now) }
        #expect(try tables() == before, "no table file was rewritten")
        // And once something did expire, it goes.
        try store.enforceRetention(site: site, plan: plan, nowMs: now + 31 * TimeUnits.dayMs)
        #expect(try store.oldestEventMs(site: site) == nil)
        #expect(try store.oldestEventMs(site: otherSite) != nil)
    }

    @Test(arguments: StoreKind.allCases)
    func deleteSite_removesOnlyThatSite(kind: StoreKind) throws {
        let (kv, cleanup) = try kind.make()
        defer { cleanup() }
        let store = try EventStore(kv: kv)
        _ = try store.apply([makeEvent("a", at: now), makeEvent("b", site: otherSite, at: now)], nowMs: now, retention: retention)
        try store.deleteSite(site)
        #expect(try store.oldestEventMs(site: site) == nil)
        #expect(try totals(store, .total).isEmpty)
        #expect(try store.oldestEventMs(site: otherSite) != nil)
    }

    @Test(arguments: StoreKind.allCases)
    func readsOfOneSite_neverReturnAnother(kind: StoreKind) throws {
        let (kv, cleanup) = try kind.make()
        defer { cleanup() }
        let store = try EventStore(kv: kv)
        _ = try store.apply([makeEvent("a", at: now), makeEvent("b", site: otherSite, at: now)], nowMs: now, retention: retention)
        var sites = Set<SiteID>()
        try store.events(site: site, in: TimeRange(startMs: 0, endMs: now + 1), nowMs: now, retention: plan) { sites.insert($0.site); return true }
        #expect(sites == [site])
    }
}

/// The rollup tiers against a recount of the events they were built from: the daily tier per local
/// date of the site's zone, the quarter hours for the metrics hourly charts read.
@Suite struct RollupTierTests {
    /// +5:30 all year: a UTC day and a local date never line up, so a tier keyed by the wrong
    /// calendar shows up in every day's count.
    static let kolkata = SiteCalendar(identifier: "Asia/Kolkata")

    @Test(arguments: StoreKind.allCases)
    func dailyCells_countEachLocalDate_inTheSitesZone(kind: StoreKind) throws {
        let (kv, cleanup) = try kind.make()
        defer { cleanup() }
        let store = try EventStore(kv: kv) { _ in RollupTierTests.kolkata }
        let now = day0 + 21 * TimeUnits.dayMs
        var generator = SplitMix64(seed: 42)
        let events = (0..<3000).map { i -> Event in
            let at = day0 + Int64.random(in: 0..<(20 * TimeUnits.dayMs), using: &generator)
            return makeEvent("tier\(i)", visitor: UInt64.random(in: 0..<400, using: &generator), at: at,
                             path: "/p\(Int.random(in: 0..<7, using: &generator))")
        }
        _ = try store.apply(events, nowMs: now) { _ in RetentionPlan(days: 30)! }
        // Runs of 1 to 21 dates: within a week, across one, and holding whole weeks.
        let dates = RollupTierTests.kolkata.day(containing: day0)...RollupTierTests.kolkata.day(containing: day0 + 20 * TimeUnits.dayMs)
        let localDates = events.map { RollupTierTests.kolkata.day(containing: $0.timestampMs) }
        for first in dates {
            for last in first...dates.upperBound {
                let inRange = events.indices.filter { (first...last).contains(localDates[$0]) }.map { events[$0] }
                var expected = [String: Int64]()
                for event in inRange { expected[event.path, default: 0] += 1 }
                let pages = try store.dayTotals(site: site, metric: .page, days: first...last)
                #expect(pages.mapValues(\.count) == expected, "pages over local dates \(first.index)...\(last.index)")
                let total = try store.dayTotals(site: site, metric: .total, days: first...last)[""]
                #expect(total?.count ?? 0 == Int64(inRange.count))
                let visitors = Set(inRange.map(\.visitor)).count
                #expect(abs((total?.visitors?.estimate ?? 0) - visitors) <= max(2, visitors * 3 / 100))
            }
        }
    }

    @Test(arguments: StoreKind.allCases)
    func quarterHours_keepOnlyWhatHourlyChartsRead_andCountExactly(kind: StoreKind) throws {
        let (kv, cleanup) = try kind.make()
        defer { cleanup() }
        let store = try EventStore(kv: kv)
        var generator = SplitMix64(seed: 7)
        let events = (0..<500).map { i in
            makeEvent("qh\(i)", visitor: UInt64.random(in: 0..<50, using: &generator),
                      at: day0 + Int64.random(in: 0..<(6 * TimeUnits.hourMs), using: &generator), path: "/p\(i % 5)")
        }
        _ = try store.apply(events, nowMs: day0 + TimeUnits.dayMs) { _ in RetentionPlan(days: 30)! }
        for hour in 0..<6 {
            let range = TimeRange(startMs: day0 + Int64(hour) * TimeUnits.hourMs, endMs: day0 + Int64(hour + 1) * TimeUnits.hourMs)
            let total = try store.rollupTotals(site: site, metric: .total, buckets: range.quarterHours)[""]
            #expect(total?.count ?? 0 == Int64(events.filter { range.contains($0.timestampMs) }.count), "hour \(hour)")
        }
        // Built, quarter-hour keys exist for the total and visits only (metric codes from 1 to 0x3f).
        try store.sealSegments(site: site, plan: RetentionPlan(days: 30)!, nowMs: day0 + 8 * TimeUnits.dayMs)
        var metrics = Set<UInt8>()
        let prefix = StorageKeys.sitePrefix(site)
        try kv.scan(.rollups, prefix: prefix) { key, _ in
            if (1..<0x40).contains(key[prefix.count]) { metrics.insert(key[prefix.count]) }
            return true
        }
        #expect(metrics == [RollupMetric.total.rawValue, RollupMetric.visits.rawValue])
    }
}
