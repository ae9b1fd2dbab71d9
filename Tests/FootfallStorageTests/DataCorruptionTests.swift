import FootfallModel
@testable import FootfallStorage
import Foundation
import Synchronization
import Testing

/// A store whose table file fails its checksum reports it to its corruption handler before it
/// throws, on a read and on a full verification; a clean store verifies clean. The node's stop
/// itself (exit 65, the marker, the refused restart) is Tests/Durability/corruption_test.py's.
@Suite struct DataCorruptionTests {
    @Test func aDamagedTableFile_isReportedToTheHandler_andVerifyNamesIt() throws {
        let folder = NSTemporaryDirectory() + "footfall-damage-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: folder) }
        var plain = RocksDBStore.Settings()
        plain.compression = .none
        let store = try RocksDBStore(path: folder, settings: plain)
        var batch = WriteBatch()
        for n in 0..<5_000 { batch.put(.events, Array("event-\(n)".utf8), Array(repeating: UInt8(n % 251), count: 64)) }
        try store.write(batch, sync: true)
        try store.flushAll()
        let clean = try store.verifyEveryBlock()
        #expect(clean.first { $0.0 == .events }?.1 == 5_000)
        let table = try #require(store.liveFiles().first { $0.family == "events" }?.name)
        store.close()

        let path = folder + table
        var bytes = try #require(FileManager.default.contents(atPath: path))
        for i in (bytes.count / 2)..<(bytes.count / 2 + 64) { bytes[i] ^= 0x5A }
        try bytes.write(to: URL(fileURLWithPath: path))

        let reported = Mutex<[String]>([])
        var watched = plain
        watched.onCorruption = { message in reported.withLock { $0.append(message) } }
        let damaged = try RocksDBStore(path: folder, settings: watched)
        defer { damaged.close() }
        #expect(throws: StorageError.self) { try damaged.scan(.events, from: [], to: [0xff], reverse: false) { _, _ in true } }
        #expect(throws: StorageError.self) { try damaged.verifyEveryBlock() }
        let messages = reported.withLock { $0 }
        #expect(messages.count == 2 && messages.allSatisfy(DataCorruption.isCorruption), "\(messages)")
    }

    /// Stored CRM and erasure records are read back with their times and counts brought within
    /// what events and edits can make, so nothing overflows later (a hit counted, an erasure's
    /// count added to, an edit stamped after the latest); and such a record is still read, so its
    /// visitor's hits are stored and its visitor can be erased (refused, it failed both), and
    /// none of it outlives the erasure.
    @Test func storedRecordsOutOfRange_areBroughtWithinIt_andStillServe() throws {
        let site = SiteID("example.com")!, visitor = VisitorID(rawValue: 1), top = EventCodec.Bounds.timestampMs.upperBound
        var damaged = VisitorRecord(visitor: visitor, firstSeenMs: -5, lastSeenMs: .max)
        (damaged.events, damaged.pageviews, damaged.tagsEditedMs, damaged.emailEditedMs) = (.max, .max, .max, .min)
        damaged.notes = [.init(id: "n", createdMs: .max, text: "a note")]
        let read = try VisitorRecord(encoded: damaged.encoded)
        #expect((read.firstSeenMs, read.lastSeenMs, read.tagsEditedMs, read.emailEditedMs) == (0, top, 0, 0))
        #expect((read.events, read.pageviews, read.notes.map(\.createdMs)) == (VisitorRecord.countMax, VisitorRecord.countMax, [0]))
        let erasure = ErasureRecord(requestID: "er", site: site, visitor: visitor, erasedAtMs: .max, deletedEvents: .max, confirmations: [])
        let fenced = try ErasureRecord(encoded: erasure.encoded)
        #expect((fenced.erasedAtMs, fenced.deletedEvents) == (top, Int64(VisitorRecord.countMax)))

        let now: Int64 = 1_781_524_800_000, key = StorageKeys.visitor(site, visitor)
        let kv = InMemoryStore(), store = try EventStore(kv: kv)
        func put(_ family: ColumnFamily, _ value: [UInt8]) throws {
            var batch = WriteBatch()
            batch.put(family, key, value)
            try kv.write(batch, sync: true)
        }
        try put(.crm, damaged.encoded)
        var hit = makeEvent("consented", site: site, visitor: visitor.rawValue, at: now)
        hit.consented = true
        #expect(try store.apply([hit], nowMs: now, retention: { _ in .default }) == [.stored])
        #expect(try store.visitorRecord(site: site, visitor: visitor)?.events == VisitorRecord.countMax, "counted, and read back within range")
        #expect(try store.erase(site: site, visitor: visitor, requestID: "er-1", node: "n", nowMs: now, fenceMs: now).deletedEvents == 1)
        // The edits stamped out of range read as never edited, so the erasure covers them all.
        #expect(try store.visitorRecord(site: site, visitor: visitor) == nil, "nothing of the damaged record outlives the erasure")
        store.waitForPurges()  // er-1's purge, so it cannot take er-3's mark below

        // A later hit, then an erasure record with its count at the top of the range and a fence
        // past the next erasure's, which therefore adds to that count.
        let later = makeEvent("later", site: site, visitor: visitor.rawValue, at: now + 1)
        #expect(try store.apply([later], nowMs: now + 1, retention: { _ in .default }) == [.stored])
        try put(.erasures, ErasureRecord(requestID: "er-9", site: site, visitor: visitor, erasedAtMs: now + 20, deletedEvents: .max,
                                         confirmations: []).encoded)
        #expect(try store.erase(site: site, visitor: visitor, requestID: "er-2", node: "n", nowMs: now + 1, fenceMs: now + 10).deletedEvents
                == Int64(VisitorRecord.countMax) + 1)

        // A fence at the far end of the range: the next erasure reads (and marks for purging) the
        // days up to a retention span ahead of the clock, not the millions up to the fence.
        try put(.erasures, erasure.encoded)
        #expect(try store.erase(site: site, visitor: visitor, requestID: "er-3", node: "n", nowMs: now, fenceMs: now).erasedAtMs == top)
        let purge = try #require(try kv.get(.erasures, ErasurePurges.key(site)).flatMap(ErasurePurges.Pending.init(encoded:)))
        #expect(purge.days.upperBound <= Day(containing: now).advanced(by: RetentionPlan.daysMax + 1))
    }

    @Test func onlyRocksDBsCorruptionStatus_countsAsDamage() {
        #expect(DataCorruption.isCorruption("Corruption: block checksum mismatch: stored = 1, computed = 2"))
        #expect(DataCorruption.isCorruption("IO error: x: Corruption: truncated block read"))
        #expect(!DataCorruption.isCorruption("IO error: No space left on device"))
        #expect(!DataCorruption.isCorruption("Invalid argument: Column family not found"))
    }
}
