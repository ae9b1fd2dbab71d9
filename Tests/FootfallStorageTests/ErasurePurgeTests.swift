import Foundation
import FootfallModel
@testable import FootfallStorage
import Synchronization
import Testing

/// Erasures delete at once and purge the files in batches: ten thousand erasure calls must not
/// mean ten thousand compactions of a site (issue 14, item 9).
@Suite struct ErasurePurgeTests {
    /// A RocksDB store on a folder of its own that counts compactions of the events family.
    final class Folder {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("footfall-purge-\(UUID().uuidString)").path
        lazy var rocks: RocksDBStore = try! open()

        func open() throws -> RocksDBStore {
            var settings = RocksDBStore.Settings()
            settings.compression = .none
            return try RocksDBStore(path: path, settings: settings)
        }

        func filesHolding(_ needle: String) -> Int {
            let enumerator = FileManager.default.enumerator(atPath: path)
            var found = 0
            while let name = enumerator?.nextObject() as? String {
                if let data = FileManager.default.contents(atPath: (path as NSString).appendingPathComponent(name)),
                   data.range(of: Data(needle.utf8)) != nil { found += 1 }
            }
            return found
        }

        deinit {
            rocks.close()
            try? FileManager.default.removeItem(atPath: path)
        }
    }

    /// A store that passes everything to another, for subclasses that watch its compactions.
    class Forwarding: KeyValueStore, @unchecked Sendable {
        let inner: any KeyValueStore
        init(_ inner: any KeyValueStore) { self.inner = inner }

        func get(_ family: ColumnFamily, _ key: [UInt8]) throws -> [UInt8]? { try inner.get(family, key) }
        func write(_ batch: WriteBatch, sync: Bool) throws { try inner.write(batch, sync: sync) }
        func scan(_ family: ColumnFamily, from start: [UInt8], to end: [UInt8], reverse: Bool,
                  _ body: ([UInt8], [UInt8]) throws -> Bool) throws {
            try inner.scan(family, from: start, to: end, reverse: reverse, body)
        }
        func compact(_ family: ColumnFamily, from start: [UInt8], to end: [UInt8]) throws { try inner.compact(family, from: start, to: end) }
        func approximateSize(_ family: ColumnFamily) -> UInt64 { inner.approximateSize(family) }
    }

    /// Counts compactions of the events family.
    final class CompactionCounter: Forwarding, @unchecked Sendable {
        private let eventCompactions = Atomic<Int>(0)
        var compactions: Int { eventCompactions.load(ordering: .relaxed) }

        override func compact(_ family: ColumnFamily, from start: [UInt8], to end: [UInt8]) throws {
            if family == .events { eventCompactions.add(1, ordering: .relaxed) }
            try inner.compact(family, from: start, to: end)
        }
    }

    /// A store whose compactions of the events family wait until the test lets them go (5 s at
    /// most, so a purge made inline cannot hang the test, only fail it).
    final class HeldCompactions: Forwarding, @unchecked Sendable {
        let release = DispatchSemaphore(value: 0)
        private let done = Atomic<Int>(0)
        var finished: Int { done.load(ordering: .sequentiallyConsistent) }

        override func compact(_ family: ColumnFamily, from start: [UInt8], to end: [UInt8]) throws {
            if family == .events { _ = release.wait(timeout: .now() + 5) }
            try inner.compact(family, from: start, to: end)
            if family == .events { done.add(1, ordering: .sequentiallyConsistent) }
        }
    }

    static let now = day0 + 12 * TimeUnits.hourMs
    static let retention: @Sendable (SiteID) -> RetentionPlan = { _ in .default }

    static func storeVisitors(_ count: Int, in store: EventStore) throws {
        // The marker is in the title: paths become rollup dimensions, which outlive erasure.
        let events = (0..<count).map { index in
            var event = makeEvent("purge-hit-\(index)", visitor: UInt64(100 + index), at: now - 60_000)
            event.title = "erased-marker-\(100 + index)"
            return event
        }
        _ = try store.apply(events, nowMs: now, retention: retention)
    }

    @Test func manyErasures_compactTheSiteOncePerInterval_andLeaveNothingInTheFiles() throws {
        let folder = Folder()
        let counter = CompactionCounter(folder.rocks)
        let store = try EventStore(kv: counter, purgeIntervalMs: 30_000)
        try ErasurePurgeTests.storeVisitors(100, in: store)
        try folder.rocks.flushAll()
        for visitor in 100..<200 {
            _ = try store.erase(site: site, visitor: VisitorID(rawValue: UInt64(visitor)), requestID: "r\(visitor)", node: "n1",
                                nowMs: ErasurePurgeTests.now, fenceMs: ErasurePurgeTests.now + 300_000)
        }
        store.waitForPurges()
        #expect(counter.compactions == 1, "the first erasure purged at once, the other 99 wait")
        #expect(try store.purgeErasedData(nowMs: ErasurePurgeTests.now + 1_000) == 0, "not due within the interval")
        #expect(folder.filesHolding("erased-marker-199") > 0, "control: before the purge a waiting erasure's data is still in a file")
        #expect(try store.purgeErasedData(nowMs: ErasurePurgeTests.now + 30_000) == 1)
        #expect(counter.compactions == 2, "one more compaction for all 99")
        #expect(try store.purgeErasedData(nowMs: ErasurePurgeTests.now + 90_000) == 0, "nothing left to purge")
        for visitor in [100, 150, 199] {
            #expect(folder.filesHolding("erased-marker-\(visitor)") == 0, "visitor \(visitor)'s data is in a file")
        }
    }

    /// A purge rewrites most of the unsealed day's files whatever the site, so its cost grows with
    /// the day: after one that took `d`, none starts for nine times `d` (at most half an hour), and
    /// a clock stepped back does not hold purges up.
    @Test func afterAPurge_noOtherStartsForNineTimesItsLength() {
        let (a, b) = (SiteID("a.example")!, SiteID("b.example")!)
        var purges = ErasurePurges(intervalMs: 30_000)
        purges.started(a, nowMs: 0)
        #expect(!purges.mayPurge(b, nowMs: 5_000), "none is queued behind a purge that is compacting")
        purges.finished(tookMs: 12_000, startedMs: 0)
        #expect(!purges.mayPurge(b, nowMs: 12_000 + 9 * 12_000 - 1), "another site waits too: the files are shared")
        #expect(purges.mayPurge(b, nowMs: 12_000 + 9 * 12_000))
        #expect(!purges.mayPurge(b, nowMs: 3_000), "an erasure stamped while the purge ran waits too")
        #expect(purges.mayPurge(b, nowMs: -1), "a clock stepped back does not hold a purge up")

        purges.finished(tookMs: 3_600_000, startedMs: 4_000_000)
        #expect(!purges.mayPurge(b, nowMs: 7_600_000 + ErasurePurges.quietMaxMs - 1))
        #expect(purges.mayPurge(b, nowMs: 7_600_000 + ErasurePurges.quietMaxMs), "at most half an hour after it ended")
        purges.finished(tookMs: .max, startedMs: .max - 1)
        #expect(purges.mayPurge(b, nowMs: .max - 1), "an end past the clock's range holds nothing up, and does not trap")
    }

    /// A flush holds every site's rows, so one site's range compaction rewrites the whole unsealed
    /// day: sites due together are purged with one compaction of the events family over all of
    /// them, and every erased visitor of each leaves the files.
    @Test func sitesDueTogether_arePurgedWithOneCompactionOfTheUnsealedRows() throws {
        let folder = Folder()
        let counter = CompactionCounter(folder.rocks)
        let store = try EventStore(kv: counter, purgeIntervalMs: 30_000)
        let sites = ["a.example", "m.example", "z.example"].map { SiteID($0)! }
        let events = sites.flatMap { other in
            (0..<4).map { index in
                var event = makeEvent("together-\(other)-\(index)", site: other, visitor: UInt64(100 + index), at: ErasurePurgeTests.now - 60_000)
                event.title = "together-marker-\(other)-\(100 + index)"
                return event
            }
        }
        _ = try store.apply(events, nowMs: ErasurePurgeTests.now, retention: ErasurePurgeTests.retention)
        try folder.rocks.flushAll()
        for (round, visitor) in [100, 101].enumerated() {
            for other in sites {
                _ = try store.erase(site: other, visitor: VisitorID(rawValue: UInt64(visitor)), requestID: "t\(round)\(other)", node: "n1",
                                    nowMs: ErasurePurgeTests.now, fenceMs: ErasurePurgeTests.now + 300_000)
            }
        }
        store.waitForPurges()
        let before = counter.compactions
        #expect(before == 1, "the first erasure purged its site at once; the others wait")
        #expect(try store.purgeErasedData(nowMs: ErasurePurgeTests.now + ErasurePurges.quietMaxMs) == 3, "every site is due")
        #expect(counter.compactions == before + 1, "one compaction of the events family for all three")
        for other in sites {
            for visitor in [100, 101] {
                #expect(folder.filesHolding("together-marker-\(other)-\(visitor)") == 0, "\(other) visitor \(visitor) left the files")
            }
            #expect(folder.filesHolding("together-marker-\(other)-102") > 0, "control: \(other)'s other visitors stay")
        }
    }

    /// An erasure answers once its deletion is written, not after the compaction that purges the
    /// files: under load that took 20 s and more, and a replica's confirmation waited for it, so
    /// erasures missed their quorum (the soak).
    @Test func anErasure_answersBeforeItsPurgeCompacts() throws {
        let folder = Folder()
        let held = HeldCompactions(folder.rocks)
        let store = try EventStore(kv: held, purgeIntervalMs: 30_000)
        try ErasurePurgeTests.storeVisitors(1, in: store)
        try folder.rocks.flushAll()
        _ = try store.erase(site: site, visitor: VisitorID(rawValue: 100), requestID: "r100", node: "n1",
                            nowMs: ErasurePurgeTests.now, fenceMs: ErasurePurgeTests.now + 300_000)
        #expect(held.finished == 0, "the erasure answered before its purge compacted")
        held.release.signal()
        store.waitForPurges()
        #expect(held.finished == 1, "the purge ran, in the background")
        #expect(folder.filesHolding("erased-marker-100") == 0)
    }

    @Test func aPendingPurge_andTheFences_surviveARestart() throws {
        let folder = Folder()
        var store: EventStore? = try EventStore(kv: folder.rocks, purgeIntervalMs: 30_000)
        try ErasurePurgeTests.storeVisitors(2, in: store!)
        for visitor in [100, 101] {
            _ = try store!.erase(site: site, visitor: VisitorID(rawValue: UInt64(visitor)), requestID: "r\(visitor)", node: "n1",
                                 nowMs: ErasurePurgeTests.now, fenceMs: ErasurePurgeTests.now + 300_000)
            store!.waitForPurges()  // the first one's purge, before the second erasure
        }
        store = nil
        let restarted = try EventStore(kv: folder.rocks, purgeIntervalMs: 30_000)
        #expect(try restarted.purgeErasedData(nowMs: ErasurePurgeTests.now, force: true) == 1, "the second erasure's purge was still due")
        #expect(folder.filesHolding("erased-marker-101") == 0)
        let late = makeEvent("late-retry", visitor: 101, at: ErasurePurgeTests.now - 30_000)
        #expect(try restarted.apply([late], nowMs: ErasurePurgeTests.now, retention: ErasurePurgeTests.retention) == [.fenced],
                "the fence is read from the stored record, not from memory")
    }
}
