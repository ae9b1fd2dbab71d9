import FootfallModel
@testable import FootfallStorage
import Testing

/// A store written by an earlier version (a key per dimension value) reads the same after the
/// upgrade to packs.
@Suite struct RollupLayoutUpgradeTests {
    let day = Day(containing: day0)

    func sketch(_ ids: Range<UInt64>) -> HyperLogLog {
        var sketch = HyperLogLog()
        for id in ids { sketch.insert(VisitorID(rawValue: id)) }
        return sketch
    }

    /// Cells as the old layout keyed them: site · metric (| 0x80 for days) · bucket · dimension.
    func putOldCell(_ kv: any KeyValueStore, _ metric: RollupMetric, dayTier: Bool, index: UInt32, _ dimension: String, _ cell: RollupCell) throws {
        var batch = WriteBatch()
        let key = StorageKeys.sitePrefix(site) + [dayTier ? metric.rawValue | 0x80 : metric.rawValue] + index.bigEndianBytes + Array(dimension.utf8)
        batch.put(.rollups, key, cell.encoded)
        try kv.write(batch, sync: true)
    }

    func seedOldLayout(_ kv: any KeyValueStore) throws {
        let quarter = QuarterHour(containing: day0).index
        try putOldCell(kv, .page, dayTier: true, index: day.index, "/a", RollupCell(count: 3, visitors: sketch(0..<3)))
        try putOldCell(kv, .page, dayTier: true, index: day.index, "/b", RollupCell(count: 2, visitors: sketch(2..<4)))
        try putOldCell(kv, .page, dayTier: true, index: day.index + 1, "/a", RollupCell(count: 1, visitors: sketch(9..<10)))
        try putOldCell(kv, .total, dayTier: true, index: day.index, "", RollupCell(count: 5, visitors: sketch(0..<4)))
        try putOldCell(kv, .total, dayTier: false, index: quarter, "", RollupCell(count: 5, visitors: sketch(0..<4)))
        try putOldCell(kv, .visits, dayTier: false, index: quarter, "", RollupCell(count: 2))
        try putOldCell(kv, .page, dayTier: false, index: quarter, "/a", RollupCell(count: 3, visitors: sketch(0..<3)))
    }

    func expectUpgraded(_ store: EventStore, _ kv: any KeyValueStore) throws {
        let pages = try store.dayTotals(site: site, metric: .page, days: day...day.advanced(by: 1))
        #expect(pages.mapValues(\.count) == ["/a": 4, "/b": 2])
        #expect(pages["/a"]?.visitors?.estimate == 4)
        #expect(try store.dayTotals(site: site, metric: .total, days: day...day)[""]?.count == 5)
        let quarter = QuarterHour(containing: day0)
        #expect(try store.rollupTotals(site: site, metric: .total, buckets: quarter..<quarter.advanced(by: 1))[""]?.count == 5)
        #expect(try store.rollupTotals(site: site, metric: .visits, buckets: quarter..<quarter.advanced(by: 1))[""]?.count == 2)
        // Every value is a pack now; breakdown quarter hours are gone. The site counts as built
        // (its packs were merged by every write).
        #expect(try kv.get(.rollups, StorageKeys.rollupsBuiltThrough(site)) != nil)
        var values = 0
        try kv.scan(.rollups, prefix: StorageKeys.sitePrefix(site)) { key, value in
            guard key != StorageKeys.rollupsBuiltThrough(site) else { return true }
            values += 1
            #expect(value.first == RollupPack.tag)
            #expect(key[StorageKeys.sitePrefix(site).count] != RollupMetric.page.rawValue)
            return true
        }
        #expect(values == 7, "day, week and quarter-hour packs")
    }

    @Test(arguments: StoreKind.allCases)
    func anOldStore_readsTheSame_asPacks(kind: StoreKind) throws {
        let (kv, cleanup) = try kind.make()
        defer { cleanup() }
        try seedOldLayout(kv)
        try expectUpgraded(try EventStore(kv: kv), kv)
        // Opening again changes nothing (nothing counted twice).
        try expectUpgraded(try EventStore(kv: kv), kv)
    }

    @Test(arguments: StoreKind.allCases)
    func anUpgradeCutShort_goesOnWithWhatIsLeft(kind: StoreKind) throws {
        let (kv, cleanup) = try kind.make()
        defer { cleanup() }
        try seedOldLayout(kv)
        _ = try EventStore(kv: kv)
        // As if the process died after some batches: the mark is missing, one old cell is left.
        var batch = WriteBatch()
        batch.delete(.rollups, RollupLayoutUpgrade.doneKey)
        try kv.write(batch, sync: true)
        try putOldCell(kv, .page, dayTier: true, index: day.index, "/b", RollupCell(count: 10, visitors: sketch(2..<3)))
        let store = try EventStore(kv: kv)
        #expect(try store.dayTotals(site: site, metric: .page, days: day...day).mapValues(\.count) == ["/a": 3, "/b": 12])
    }

    @Test(arguments: StoreKind.allCases)
    func aNewStore_isMarkedAndNewWritesAreUntouched(kind: StoreKind) throws {
        let (kv, cleanup) = try kind.make()
        defer { cleanup() }
        let store = try EventStore(kv: kv)
        _ = try store.apply([makeEvent("new", at: day0 + 60_000, path: "/n")], nowMs: day0 + TimeUnits.hourMs) { _ in RetentionPlan(days: 30)! }
        #expect(try kv.get(.rollups, RollupLayoutUpgrade.doneKey) == RollupLayoutUpgrade.builtLayout)
        let reopened = try EventStore(kv: kv)
        #expect(try reopened.dayTotals(site: site, metric: .page, days: day...day).mapValues(\.count) == ["/n": 1])
        #expect(try kv.get(.rollups, StorageKeys.rollupsBuiltThrough(site)) == nil, "a new store's sites have built nothing")
    }

    /// A store whose packs every write merged, opened by this version: its packs answer up to a
    /// few days before, the days after (whose packs stop growing) from their events.
    @Test(arguments: StoreKind.allCases)
    func aStoreOfMergedPacks_answersItsRecentDaysFromEvents(kind: StoreKind) throws {
        let (kv, cleanup) = try kind.make()
        defer { cleanup() }
        let now = day0 + 10 * TimeUnits.dayMs + 12 * TimeUnits.hourMs
        // As the version before wrote it: packs merged by each write, for an old day and today.
        let today = Day(containing: now)
        _ = try EventStore(kv: kv).apply([makeEvent("today", at: now - 60_000, path: "/t")], nowMs: now) { _ in RetentionPlan(days: 30)! }
        var batch = WriteBatch()
        batch.merge(.rollups, StorageKeys.rollupDay(site, .page, day), RollupPack.encode(["/old": RollupCell(count: 4, visitors: sketch(0..<4))]))
        batch.merge(.rollups, StorageKeys.rollupDay(site, .page, today), RollupPack.encode(["/t": RollupCell(count: 1, visitors: sketch(0..<1))]))
        batch.delete(.rollups, StorageKeys.rollupsBuiltThrough(site))
        batch.put(.rollups, RollupLayoutUpgrade.doneKey, RollupLayoutUpgrade.packsLayout)
        try kv.write(batch, sync: true)

        let store = try EventStore(kv: kv, openedAtMs: now)
        #expect(try kv.get(.rollups, StorageKeys.rollupsBuiltThrough(site)) == today.advanced(by: -RollupLayoutUpgrade.mergedDaysBuiltBefore).index.bigEndianBytes)
        #expect(try store.dayTotals(site: site, metric: .page, days: day...day).mapValues(\.count) == ["/old": 4])
        _ = try store.apply([makeEvent("later", at: now, path: "/t")], nowMs: now) { _ in RetentionPlan(days: 30)! }
        // Today's merged pack is not read (it would count "today" twice); its events are.
        #expect(try store.dayTotals(site: site, metric: .page, days: today...today).mapValues(\.count) == ["/t": 2])
    }

    /// A stored key too short for the id length it starts with (a bad disk, a bug of old) is
    /// stepped over: the sites after it are marked built too.
    @Test func aMalformedKey_doesNotStopTheMarking() throws {
        let kv = InMemoryStore()
        let first = SiteID("a.example")!, second = SiteID("z.example")!
        var batch = WriteBatch()
        batch.put(.rollups, StorageKeys.rollupDay(first, .page, Day(index: 10)), RollupPack.encode(["/": RollupCell(count: 1)]))
        batch.put(.rollups, [0x09, 0x6d], [1])
        batch.put(.rollups, StorageKeys.rollupDay(second, .page, Day(index: 10)), RollupPack.encode(["/": RollupCell(count: 1)]))
        try kv.write(batch, sync: true)
        #expect(StorageKeys.sitePrefix(first).lexicographicallyPrecedes([0x09, 0x6d]) && [0x09, 0x6d].lexicographicallyPrecedes(StorageKeys.sitePrefix(second)),
                "the malformed key lies between the two sites")

        try RollupLayoutUpgrade.markSitesBuilt(kv, through: Day(index: 20))
        #expect(try kv.get(.rollups, StorageKeys.rollupsBuiltThrough(first)) == Day(index: 20).index.bigEndianBytes)
        #expect(try kv.get(.rollups, StorageKeys.rollupsBuiltThrough(second)) == Day(index: 20).index.bigEndianBytes)
    }
}
