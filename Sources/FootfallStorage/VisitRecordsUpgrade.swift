import FootfallModel

/// Builds the `VisitorDay` records of a store written by an earlier version, once, when it is
/// opened: that version derived visits from the visitor index at every batch and kept no records.
/// The index holds each visitor's hits of a day together (`site · day · visitor · event id`), so one
/// pass over it makes each record from consecutive keys.
///
/// A record is written whole or not at all, and writing one again makes the same bytes: a crash
/// part way loses nothing, as the next open goes over the index again.
enum VisitRecordsUpgrade {
    /// Marks a store whose visitor days all have records. Site keys start with the site id's
    /// length (at least 1), so a key starting with 0 is no site's.
    static let doneKey: [UInt8] = [0x00] + Array("visit-records".utf8)
    static let doneValue: [UInt8] = [1]
    /// Records written per batch.
    static let batchRecords = 10_000

    static func run(_ kv: any KeyValueStore) throws {
        guard try kv.get(.visits, doneKey) != doneValue else { return }
        var batch = WriteBatch()
        var recordsInBatch = 0
        var current: (key: [UInt8], hits: [Visits.Hit])?
        func finishRecord() throws {
            guard let (key, hits) = current else { return }
            batch.put(.visits, key, VisitorDay(rebuildingFrom: hits).encoded)
            recordsInBatch += 1
            if recordsInBatch >= batchRecords {
                try kv.write(batch, sync: true)
                batch = WriteBatch()
                recordsInBatch = 0
            }
        }
        try kv.scan(.visitors, from: [0x01], to: [0xff, 0xff, 0xff, 0xff]) { key, value in
            guard let recordKey = visitorDayKey(ofIndexKey: key), let hit = StorageKeys.visitorHit(key: key, value: value) else { return true }
            if current?.key != recordKey {
                try finishRecord()
                current = (recordKey, [])
            }
            current!.hits.append(hit)
            return true
        }
        try finishRecord()
        batch.put(.visits, doneKey, doneValue)
        try kv.write(batch, sync: true)
    }

    /// `site · day · visitor` of a visitor index key (`site · day · visitor · event id`).
    static func visitorDayKey(ofIndexKey key: [UInt8]) -> [UInt8]? {
        guard let siteCount = key.first.map(Int.init), key.count == 1 + siteCount + 4 + 8 + 16 else { return nil }
        return Array(key.prefix(1 + siteCount + 4 + 8))
    }
}
