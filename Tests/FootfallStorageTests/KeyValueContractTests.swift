import Foundation
import FootfallModel
import FootfallStorage
import Synchronization
import Testing

/// The storage contract, run against the in-memory store and RocksDB alike.
@Suite struct KeyValueContractTests {
    @Test(arguments: StoreKind.allCases)
    func putThenGet_returnsValue_andMissingKeyIsNil(kind: StoreKind) throws {
        let (store, cleanup) = try kind.make()
        defer { cleanup() }
        var batch = WriteBatch()
        batch.put(.events, [1, 2], [9])
        try store.write(batch, sync: true)
        #expect(try store.get(.events, [1, 2]) == [9])
        #expect(try store.get(.events, [1, 3]) == nil)
        #expect(try store.get(.visitors, [1, 2]) == nil, "families are separate key spaces")
    }

    @Test(arguments: StoreKind.allCases)
    func scan_isOrderedHalfOpen_andReverses(kind: StoreKind) throws {
        let (store, cleanup) = try kind.make()
        defer { cleanup() }
        var batch = WriteBatch()
        for key: UInt8 in [5, 1, 3, 4, 2] { batch.put(.system, [key], [key]) }
        try store.write(batch, sync: false)
        var forward = [UInt8]()
        try store.scan(.system, from: [2], to: [5]) { key, _ in forward.append(key[0]); return true }
        #expect(forward == [2, 3, 4])
        var backward = [UInt8]()
        try store.scan(.system, from: [1], to: [6], reverse: true) { key, _ in backward.append(key[0]); return true }
        #expect(backward == [5, 4, 3, 2, 1])
        var stopped = [UInt8]()
        try store.scan(.system, from: [1], to: [6]) { key, _ in stopped.append(key[0]); return stopped.count < 2 }
        #expect(stopped == [1, 2])
    }

    @Test(arguments: StoreKind.allCases)
    func prefixScan_doesNotCrossIntoLongerSiteNames(kind: StoreKind) throws {
        let (store, cleanup) = try kind.make()
        defer { cleanup() }
        let short = SiteID("a.com")!, long = SiteID("a.com.evil")!
        var batch = WriteBatch()
        batch.put(.crm, StorageKeys.visitor(short, VisitorID(rawValue: 1)), [1])
        batch.put(.crm, StorageKeys.visitor(long, VisitorID(rawValue: 2)), [2])
        try store.write(batch, sync: true)
        var values = [[UInt8]]()
        try store.scan(.crm, prefix: StorageKeys.sitePrefix(short)) { _, value in values.append(value); return true }
        #expect(values == [[1]])
    }

    @Test(arguments: StoreKind.allCases)
    func deleteAndDeleteRange_removeExactlyTheirKeys(kind: StoreKind) throws {
        let (store, cleanup) = try kind.make()
        defer { cleanup() }
        var batch = WriteBatch()
        for key: UInt8 in 0..<10 { batch.put(.events, [key], [key]) }
        try store.write(batch, sync: true)
        var deletes = WriteBatch()
        deletes.delete(.events, [0])
        deletes.deleteRange(.events, [3], [7])
        try store.write(deletes, sync: true)
        var left = [UInt8]()
        try store.scan(.events, from: [0], to: [255]) { key, _ in left.append(key[0]); return true }
        #expect(left == [1, 2, 7, 8, 9])
    }

    @Test(arguments: StoreKind.allCases)
    func merge_addsCountsAndUnitesSketches(kind: StoreKind) throws {
        let (store, cleanup) = try kind.make()
        defer { cleanup() }
        var batch = WriteBatch()
        for visitor in 0..<50 {
            var sketch = HyperLogLog()
            sketch.insert(VisitorID(rawValue: UInt64(visitor % 10)))
            batch.merge(.rollups, [7], RollupPack.encode(["/": RollupCell(count: 2, visitors: sketch), "/\(visitor % 3)": RollupCell(count: 1)]))
        }
        batch.merge(.rollups, [7], RollupPack.encode(["/": RollupCell(count: -10)]))
        try store.write(batch, sync: true)
        let stored = try #require(try store.get(.rollups, [7]))
        let cells = try #require(RollupPack.decode(stored))
        #expect(cells["/"]?.count == 90)
        #expect(cells["/"]?.visitors?.estimate == 10)
        #expect(cells.filter { $0.key != "/" }.mapValues(\.count) == ["/0": 17, "/1": 17, "/2": 16])
    }

    @Test(arguments: StoreKind.allCases)
    func batch_isAtomicWithItsOwnOrder(kind: StoreKind) throws {
        let (store, cleanup) = try kind.make()
        defer { cleanup() }
        var batch = WriteBatch()
        batch.put(.system, [1], [1])
        batch.delete(.system, [1])
        batch.put(.system, [2], [2])
        try store.write(batch, sync: true)
        #expect(try store.get(.system, [1]) == nil)
        #expect(try store.get(.system, [2]) == [2])
    }
}

@Suite struct RocksDBDurabilityTests {
    @Test func syncedWrites_surviveCloseAndReopen() throws {
        let directory = "/tmp/footfall-reopen-\(UInt64.random(in: 0...UInt64.max))"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        do {
            let store = try RocksDBStore(path: directory)
            var batch = WriteBatch()
            batch.put(.events, [1], [42])
            batch.merge(.rollups, [1], RollupPack.encode(["": RollupCell(count: 3)]))
            try store.write(batch, sync: true)
            store.close()
        }
        let reopened = try RocksDBStore(path: directory)
        defer { reopened.close() }
        #expect(try reopened.get(.events, [1]) == [42])
        #expect(try reopened.get(.rollups, [1]).flatMap { RollupPack.decode($0) }?[""]?.count == 3)
    }

    /// A close waits for an operation in flight (a background purge's compaction, a scan) instead
    /// of freeing the database under it, and what comes after finds the store closed.
    @Test func close_waitsForTheOperationInFlight() throws {
        let directory = "/tmp/footfall-close-\(UInt64.random(in: 0...UInt64.max))"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = try RocksDBStore(path: directory)
        var batch = WriteBatch()
        for key in 0..<100 { batch.put(.events, [UInt8(key)], [1]) }
        try store.write(batch, sync: false)
        let inside = DispatchSemaphore(value: 0), scanned = Atomic<Int>(0)
        let scanner = Thread {
            try? store.scan(.events, from: [0], to: [255], reverse: false) { _, _ in
                if scanned.add(1, ordering: .sequentiallyConsistent).newValue == 1 {
                    inside.signal()
                    Thread.sleep(forTimeInterval: 0.3)
                }
                return true
            }
        }
        scanner.start()
        inside.wait()
        store.close()
        #expect(scanned.load(ordering: .sequentiallyConsistent) == 100, "the scan finished before the close")
        #expect(throws: StorageError.self) { _ = try store.get(.events, [1]) }
    }

    @Test func secondOpenOfSameFolder_failsWithClearError() throws {
        let directory = "/tmp/footfall-lock-\(UInt64.random(in: 0...UInt64.max))"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let first = try RocksDBStore(path: directory)
        defer { first.close() }
        #expect(throws: StorageError.self) { _ = try RocksDBStore(path: directory) }
    }
}
