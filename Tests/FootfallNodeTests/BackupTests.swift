@testable import FootfallCluster
@testable import FootfallIngest
import FootfallModel
@testable import FootfallNode
import FootfallStorage
import Foundation
import Testing

/// Online snapshots (`Backup`): what one holds, that it opens as a store of its own with the same
/// data, and what a restore marks. The round trip through a cluster is Tests/Cluster/backup_test.py.
@Suite struct BackupTests {
    static func everything(_ kv: any KeyValueStore, _ family: ColumnFamily) throws -> [[UInt8]] {
        var entries = [[UInt8]]()
        try kv.scan(family, from: [], to: [UInt8](repeating: 0xff, count: 64)) { key, value in
            entries.append(key + [0] + value)
            return true
        }
        return entries
    }

    @Test func aSnapshot_opensAsAStoreWithTheSameData_andLeavesTheSaltSeedOut() async throws {
        let test = try TestNode()
        _ = try test.makeOwner("ann", site: "shop.example")
        let hit = try JSONDecoder().decode(Hit.self, from: Data(hitJSON(site: "shop.example", id: "backup-hit-1", ts: test.clock.nowMs,
                                                                        url: "https://shop.example/").utf8))
        _ = try await test.node.ingest([hit], context: HitContext(ip: IPAddress("203.0.113.9"), userAgent: chromeUA, nowMs: test.clock.nowMs))
        let snapshot = try Backup.snapshot(of: test.node)
        defer { snapshot.remove() }

        let paths = snapshot.files.map(\.path)
        #expect(paths.contains("db/CURRENT") && paths.contains { $0.hasPrefix("db/MANIFEST-") } && paths.contains { $0.hasSuffix(".sst") })
        #expect(!paths.contains("salt.seed"), "a backup must not keep a day's salt seed")
        #expect(FileManager.default.fileExists(atPath: (test.directory as NSString).appendingPathComponent("salt.seed")))
        #expect(snapshot.totalBytes == snapshot.files.reduce(0) { $0 + $1.size } && snapshot.totalBytes > 0)

        let copy = try RocksDBStore(path: (snapshot.folder as NSString).appendingPathComponent("db"))
        defer { copy.close() }
        for family in [ColumnFamily.system, .events] {
            let original = try BackupTests.everything(test.node.kv, family)
            #expect(!original.isEmpty, "\(family) holds something to compare")
            #expect(try BackupTests.everything(copy, family) == original, "\(family)")
        }
    }

    @Test func leftoverSnapshots_areRemoved_andNothingElse() throws {
        let test = try TestNode()
        let snapshot = try Backup.snapshot(of: test.node)
        #expect(FileManager.default.fileExists(atPath: snapshot.folder))
        Backup.removeLeftovers(in: test.directory)
        #expect(!FileManager.default.fileExists(atPath: snapshot.folder))
        #expect(FileManager.default.fileExists(atPath: (test.directory as NSString).appendingPathComponent("db/CURRENT")))
    }

    @Test func aRestoredStore_repairsBeforeItServesReads() throws {
        let store = InMemoryStore()
        #expect(try store.get(.hints, ReplicationShell.repairNeededKey) == nil)
        try Backup.markRestored(store)
        #expect(try store.get(.hints, ReplicationShell.repairNeededKey) != nil)
    }

    @Test func aStoreInMemory_hasNothingToBackUp() throws {
        var configuration = NodeConfiguration()
        configuration.dataDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("footfall-mem-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: configuration.dataDirectory) }
        let node = try Node(configuration: configuration, kv: InMemoryStore(), geo: NoGeoLocator())
        #expect(throws: FootfallError.self) { try Backup.snapshot(of: node) }
    }
}
