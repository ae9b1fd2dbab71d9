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

    /// Stored CRM and erasure records are read back with their times and counts checked: past
    /// what events and edits can make, one is refused with an error, not overflowed later (a hit
    /// counted, an erasure's count added to, an edit stamped after the latest).
    @Test func storedRecordsOutOfRange_areRefused() throws {
        let site = SiteID("example.com")!, visitor = VisitorID(rawValue: 1)
        let record = VisitorRecord(visitor: visitor, firstSeenMs: 1_000, lastSeenMs: 2_000)
        #expect(try VisitorRecord(encoded: record.encoded) == record)
        let damages: [(inout VisitorRecord) -> Void] = [
            { $0.events = .max }, { $0.pageviews = .max }, { $0.tagsEditedMs = .max }, { $0.emailEditedMs = -1 },
            { $0.lastSeenMs = .max }, { $0.notes = [.init(id: "n", createdMs: .max, text: "a note")] },
        ]
        for damage in damages {
            var damaged = record
            damage(&damaged)
            #expect(throws: (any Error).self) { try VisitorRecord(encoded: damaged.encoded) }
        }
        let erasure = ErasureRecord(requestID: "er", site: site, visitor: visitor, erasedAtMs: 5_000, deletedEvents: 3, confirmations: [])
        #expect(try ErasureRecord(encoded: erasure.encoded) == erasure)
        for (fence, count) in [(Int64.max, Int64(3)), (-1, 3), (5_000, .max), (5_000, -1)] {
            let damaged = ErasureRecord(requestID: "er", site: site, visitor: visitor, erasedAtMs: fence, deletedEvents: count, confirmations: [])
            #expect(throws: (any Error).self) { try ErasureRecord(encoded: damaged.encoded) }
        }
    }

    @Test func onlyRocksDBsCorruptionStatus_countsAsDamage() {
        #expect(DataCorruption.isCorruption("Corruption: block checksum mismatch: stored = 1, computed = 2"))
        #expect(DataCorruption.isCorruption("IO error: x: Corruption: truncated block read"))
        #expect(!DataCorruption.isCorruption("IO error: No space left on device"))
        #expect(!DataCorruption.isCorruption("Invalid argument: Column family not found"))
    }
}
