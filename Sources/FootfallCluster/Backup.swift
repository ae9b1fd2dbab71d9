import FootfallModel
import FootfallStorage
import Foundation

/// Online snapshots of a node (`footfall backup`, served by `NodeServiceHandler.backup`) and the
/// one step a restore takes inside the store (`footfall restore`).
///
/// A snapshot holds the store (a RocksDB checkpoint: one consistent view of every family, taken
/// while the node serves) and the cluster state. Not `salt.seed`: the ratchet keeps no file of an
/// earlier day's seed, so that day's cookieless visitor ids can no longer be made, and a backup
/// must not become one (a restored cluster node gets today's seed from a peer; a single node makes
/// a new one). Not the certificates either: they stay with the operator.
public enum Backup {
    /// One file of a snapshot: its path in the data folder ("/" between parts) and its size.
    public struct File: Sendable, Equatable {
        public var path: String
        public var size: UInt64
    }

    /// Bytes per streamed chunk: well under gRPC's 4 MiB message limit.
    package static let chunkBytes = 1 << 20
    /// Snapshots are taken into folders with this prefix inside the data folder (the same file
    /// system, so the checkpoint hard-links table files instead of copying them).
    static let folderPrefix = ".backup-"
    /// Cluster state besides the store (see the type's comment for what is left out).
    static let stateFiles = ["cluster.json"]

    /// A snapshot on the node's disk, until it has been sent.
    package struct Snapshot {
        package let folder: String
        package let files: [File]
        package let takenMs: Int64

        package var totalBytes: UInt64 { files.reduce(0) { $0 + $1.size } }

        package func remove() { try? FileManager.default.removeItem(atPath: folder) }
    }

    /// Takes a snapshot of `node` while it serves. The caller removes it once sent.
    package static func snapshot(of host: any NodeServiceHost) throws -> Snapshot {
        guard let store = host.kv as? RocksDBStore else {
            throw FootfallError.unavailable("this node keeps its data in memory: there is nothing on disk to back up")
        }
        let data = host.dataDirectory
        let folder = (data as NSString).appendingPathComponent(folderPrefix + UUID().uuidString)
        let files = FileManager.default
        try files.createDirectory(atPath: folder, withIntermediateDirectories: false)
        do {
            let takenMs = host.clock.nowMs
            try store.checkpoint(into: (folder as NSString).appendingPathComponent("db"))
            for name in stateFiles where files.fileExists(atPath: (data as NSString).appendingPathComponent(name)) {
                try files.copyItem(atPath: (data as NSString).appendingPathComponent(name), toPath: (folder as NSString).appendingPathComponent(name))
            }
            return Snapshot(folder: folder, files: try regularFiles(under: folder), takenMs: takenMs)
        } catch {
            try? files.removeItem(atPath: folder)
            throw error
        }
    }

    /// Removes snapshots a crash left half sent. Each holds hard links to table files, which
    /// would keep an erased visitor's bytes on disk past the purge's compaction.
    package static func removeLeftovers(in dataDirectory: String) {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dataDirectory)) ?? []
        for name in names where name.hasPrefix(folderPrefix) {
            try? FileManager.default.removeItem(atPath: (dataDirectory as NSString).appendingPathComponent(name))
        }
    }

    /// Every regular file under `folder`, by path relative to it, in path order.
    static func regularFiles(under folder: String) throws -> [File] {
        guard let walker = FileManager.default.enumerator(atPath: folder) else { throw FootfallError.internal("cannot list \(folder)") }
        var found = [File]()
        while let path = walker.nextObject() as? String {
            guard walker.fileAttributes?[.type] as? FileAttributeType == .typeRegular else { continue }
            let size = (walker.fileAttributes?[.size] as? NSNumber)?.uint64Value ?? 0
            found.append(File(path: path, size: size))
        }
        return found.sorted { $0.path < $1.path }
    }

    /// Marks a restored store as behind its replicas: the node then serves no reads of its own
    /// until anti-entropy has compared it with them, which also brings it the erasures made after
    /// the snapshot (their fences delete what it held of those visitors).
    public static func markRestored(_ store: any KeyValueStore) throws {
        try ReplicationShell.persistRepairFlag(true, in: store)
    }
}
