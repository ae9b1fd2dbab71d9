import FootfallModel

/// Rewrites rollups stored by earlier versions, once, when a store is opened. Those kept one key
/// per dimension value (`site · metric · bucket · dimension` → `RollupCell`) in a UTC-day tier and
/// in quarter hours for every metric; now a pack holds a bucket's cells (`RollupPack`).
///
/// - Day cells become the packs of the same dates (and of their weeks): the same days for a site
///   in UTC; a site in another zone keeps UTC boundaries for those days, as after a change of zone.
/// - Quarter-hour cells of the total and visits become their packs; those of breakdowns, which the
///   day tier holds too, are dropped.
///
/// Each batch deletes old keys together with merging their cells into packs, so a crash part way
/// loses and doubles nothing: the next open goes on with the keys that are left.
///
/// Then (layout 3) rollups are built from settled days, not merged by each write (see
/// `EventStore+Rollups.swift`): a store whose packs were merged by every write marks each of its
/// sites built through a few days before it is opened, so those packs answer and the days after
/// them, whose packs stop growing now, are built from their events.
enum RollupLayoutUpgrade {
    /// Marks a store whose rollups are all packs. Site keys start with the site id's length
    /// (at least 1), so a key starting with 0 is no site's.
    static let doneKey: [UInt8] = [0x00] + Array("rollup-layout".utf8)
    static let packsLayout: [UInt8] = [2]
    static let builtLayout: [UInt8] = [3]
    /// Old cells rewritten per batch.
    static let batchCells = 10_000
    /// How many days before it is opened a store of merged packs counts as built: a few more
    /// than `EventStore.lastBuildableDay` leaves unbuilt, and local dates run a day ahead of UTC.
    static let mergedDaysBuiltBefore = 4

    static func run(_ kv: any KeyValueStore, openedAtMs: Int64) throws {
        let layout = try kv.get(.rollups, doneKey)
        guard layout != builtLayout else { return }
        if layout != packsLayout { try convertCellsToPacks(kv) }
        try markSitesBuilt(kv, through: Day(containing: openedAtMs).advanced(by: -mergedDaysBuiltBefore))
        var done = WriteBatch()
        done.put(.rollups, doneKey, builtLayout)
        try kv.write(done, sync: true)
    }

    /// Marks every site that has rollups built through `day` (the key `StorageKeys.rollupsBuiltThrough`
    /// makes), one seek per site: each site's keys follow its prefix, the length of its id and the
    /// id. A key too short for the length it starts with is no site's and is stepped over.
    static func markSitesBuilt(_ kv: any KeyValueStore, through day: Day) throws {
        var batch = WriteBatch()
        var from: [UInt8] = [0x01]
        while true {
            var found: (sitePrefix: [UInt8]?, next: [UInt8])?
            try kv.scan(.rollups, from: from, to: [0xff, 0xff, 0xff, 0xff]) { key, _ in
                let length = Int(key[0])
                found = key.count > length ? (Array(key[...length]), StorageKeys.prefixEnd(Array(key[...length]))) : (nil, key + [0])
                return false
            }
            guard let found else { break }
            if let sitePrefix = found.sitePrefix { batch.put(.rollups, sitePrefix + [0x00], day.index.bigEndianBytes) }
            from = found.next
        }
        if !batch.isEmpty { try kv.write(batch, sync: true) }
    }

    /// Rewrites the cells of layout 1 (a key per dimension value) as packs.
    static func convertCellsToPacks(_ kv: any KeyValueStore) throws {
        var batch = WriteBatch()
        var packs = [[UInt8]: [String: RollupCell]]()
        var cellsInBatch = 0
        func flush() throws {
            for (key, cells) in packs where !cells.isEmpty { batch.merge(.rollups, key, RollupPack.encode(cells)) }
            if !batch.isEmpty { try kv.write(batch, sync: true) }
            batch = WriteBatch()
            packs = [:]
            cellsInBatch = 0
        }
        try kv.scan(.rollups, from: [0x01], to: [0xff, 0xff, 0xff, 0xff]) { key, value in
            guard value.first != RollupPack.tag, let (packKeys, dimension) = oldCellKey(key) else { return true }
            // The old key of a cell without a dimension is its pack's key: the delete goes first in
            // the batch, the merge after it.
            batch.delete(.rollups, key)
            if let cell = RollupCell(encoded: value) {
                for packKey in packKeys { packs[packKey, default: [:]][dimension, default: RollupCell(count: 0)].merge(cell) }
            }
            cellsInBatch += 1
            if cellsInBatch == batchCells { try flush() }
            return true
        }
        try flush()
    }

    /// The keys of the packs an old cell goes to (its day's and week's, its quarter hour's, or
    /// none for a cell that is dropped) and its dimension.
    static func oldCellKey(_ key: [UInt8]) -> (packKeys: [[UInt8]], dimension: String)? {
        guard let siteLength = key.first.map(Int.init), key.count >= 1 + siteLength + 1 + 4,
              let site = SiteID(String(decoding: key[1...siteLength], as: UTF8.self)) else { return nil }
        let metricAt = 1 + siteLength
        guard let metric = RollupMetric(rawValue: key[metricAt] & 0x7f) else { return nil }
        let index = UInt32(bigEndianBytes: key[(metricAt + 1)..<(metricAt + 5)])
        let dimension = String(decoding: key[(metricAt + 5)...], as: UTF8.self)
        if key[metricAt] & 0x80 != 0 {
            return ([StorageKeys.rollupDay(site, metric, Day(index: index)), StorageKeys.rollupWeek(site, metric, index / 7)], dimension)
        }
        return (metric.keepsQuarterHours ? [StorageKeys.rollupBucket(site, metric, QuarterHour(index: index))] : [], dimension)
    }
}
