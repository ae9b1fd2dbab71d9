import FootfallModel
import FootfallStorage
import Testing

/// The `VisitorDay` records that visit derivation keeps (the `visits` family) follow the visitor's
/// hits through an upgrade, an erasure and retention.
@Suite struct VisitRecordTests {
    let plan = RetentionPlan(days: 30)!
    var retention: (SiteID) -> RetentionPlan { { _ in plan } }
    let now = day0 + 12 * TimeUnits.hourMs
    let start = day0 + 8 * TimeUnits.hourMs

    func visitRecordKeys(_ kv: any KeyValueStore) throws -> [[UInt8]] {
        var keys = [[UInt8]]()
        try kv.scan(.visits, prefix: StorageKeys.sitePrefix(site)) { key, _ in
            keys.append(key)
            return true
        }
        return keys
    }

    func total(_ store: EventStore, _ metric: RollupMetric) throws -> Int64 {
        try store.dayTotals(site: site, metric: metric, days: Day(containing: day0)...Day(containing: day0))[""]?.count ?? 0
    }

    /// A store written before visit records kept only the visitor index: opening it builds them,
    /// so a late hit still bridges the visits of hits stored before.
    @Test(arguments: StoreKind.allCases)
    func storeWithoutVisitRecords_buildsThemOnOpen(kind: StoreKind) throws {
        let (kv, cleanup) = try kind.make()
        defer { cleanup() }
        _ = try EventStore(kv: kv).apply([makeEvent("a", at: start, path: "/in"), makeEvent("c", at: start + 50 * 60_000, path: "/out")],
                                         nowMs: now, retention: retention)
        var asBefore = WriteBatch()
        asBefore.deleteRange(.visits, [], [0xff, 0xff, 0xff, 0xff])
        try kv.write(asBefore, sync: true)

        let store = try EventStore(kv: kv)
        #expect(try visitRecordKeys(kv).count == 1)
        _ = try store.apply([makeEvent("b", at: start + 25 * 60_000, path: "/mid")], nowMs: now, retention: retention)
        #expect(try total(store, .visits) == 1)
        #expect(try total(store, .visitDuration) == 50 * 60_000)
    }

    /// A visit record holds times and pages of the visitor's hits: an erasure removes it, or keeps
    /// only what hits after the fence make.
    @Test(arguments: StoreKind.allCases)
    func erasure_removesTheVisitorsVisitRecords(kind: StoreKind) throws {
        let (kv, cleanup) = try kind.make()
        defer { cleanup() }
        let store = try EventStore(kv: kv)
        _ = try store.apply([makeEvent("mine", visitor: 7, at: now - 60_000), makeEvent("other", visitor: 8, at: now - 60_000)],
                            nowMs: now, retention: retention)
        #expect(try visitRecordKeys(kv).count == 2)
        _ = try store.apply([makeEvent("after", visitor: 7, at: now + 400_000, path: "/later")], nowMs: now + 400_000, retention: retention)
        _ = try store.erase(site: site, visitor: VisitorID(rawValue: 7), requestID: "r1", node: "n1", nowMs: now, fenceMs: now + 300_000)

        let kept = try #require(try kv.get(.visits, StorageKeys.visitorDay(site, Day(containing: now), VisitorID(rawValue: 7))).flatMap(VisitorDay.init(encoded:)))
        #expect(kept.hits == 1)
        #expect(kept.runs.map(\.firstMs) == [now + 400_000])
        _ = try store.erase(site: site, visitor: VisitorID(rawValue: 7), requestID: "r2", node: "n1", nowMs: now + 500_000, fenceMs: now + 600_000)
        #expect(try visitRecordKeys(kv) == [StorageKeys.visitorDay(site, Day(containing: now), VisitorID(rawValue: 8))])
    }

    @Test(arguments: StoreKind.allCases)
    func retention_expiresVisitRecordsWithTheirDay(kind: StoreKind) throws {
        let (kv, cleanup) = try kind.make()
        defer { cleanup() }
        let store = try EventStore(kv: kv)
        _ = try store.apply([makeEvent("x", visitor: 3, at: now - TimeUnits.dayMs)], nowMs: now, retention: retention)
        #expect(try visitRecordKeys(kv).count == 1)
        try store.enforceRetention(site: site, plan: plan, nowMs: now + 31 * TimeUnits.dayMs)
        #expect(try visitRecordKeys(kv).isEmpty)
    }
}
