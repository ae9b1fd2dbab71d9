import FootfallModel
@testable import FootfallStorage
import Foundation
import Testing

/// Below its reserve a store refuses batches that only add visitors' data, and lets through what
/// frees space (any delete) and the system records a node needs to stay usable.
@Suite struct DiskReserveTests {
    @Test func batchesThatOnlyAddVisitorsData_areTheOnesHeldBack() {
        var hits = WriteBatch()
        hits.put(.events, [1], [2])
        hits.put(.visitors, [1], [2])
        #expect(DiskReserve.onlyAdds(hits))

        var hint = WriteBatch()
        hint.put(.hints, [1], [2])
        #expect(DiskReserve.onlyAdds(hint))

        var erasure = hits
        erasure.delete(.events, [1])
        #expect(!DiskReserve.onlyAdds(erasure), "an erasure writes its record and deletes: it must not wait for space")

        var retention = WriteBatch()
        retention.deleteRange(.events, [0], [9])
        #expect(!DiskReserve.onlyAdds(retention))

        var session = WriteBatch()
        session.put(.system, [1], [2])
        #expect(!DiskReserve.onlyAdds(session), "system records keep the node usable (sign-in, liveness)")
        #expect(!DiskReserve.onlyAdds(WriteBatch()))
    }

    @Test func aStoreBelowItsReserve_refusesNewData_andTakesDeletes() throws {
        let folder = NSTemporaryDirectory() + "footfall-reserve-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: folder) }
        var settings = RocksDBStore.Settings()
        // More than any disk has: the store is always below it.
        settings.diskReserveBytes = Int64.max
        let store = try RocksDBStore(path: folder, settings: settings)
        defer { store.close() }

        var hit = WriteBatch()
        hit.put(.events, [1], [2])
        #expect(throws: FootfallError.self) { try store.write(hit, sync: false) }
        #expect(try store.get(.events, [1]) == nil)

        var cleanup = WriteBatch()
        cleanup.put(.erasures, [1], [2])
        cleanup.delete(.events, [1])
        try store.write(cleanup, sync: false)
        #expect(try store.get(.erasures, [1]) == [2])
    }
}
