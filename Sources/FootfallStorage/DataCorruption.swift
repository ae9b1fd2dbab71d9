import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// What a node does when RocksDB finds its files damaged (a block whose checksum does not match,
/// a table file cut short): it stops at once and for good — Cassandra's `disk_failure_policy:
/// stop` — rather than answer from data it cannot trust or acknowledge writes into a store that
/// may drop them. It leaves a marker in its data folder, so a restart (by hand or by a
/// supervisor) refuses too instead of serving until it meets the damage again. In a cluster the
/// peers see it dead and hint its writes; the operator rebuilds it from its replicas (the folder
/// moved away, the node started empty) or restores a backup.
///
/// A torn tail of the write-ahead log (a crash mid-append of a batch that was never
/// acknowledged) is not damage: RocksDB's point-in-time recovery replays up to it.
public enum DataCorruption {
    /// The marker's file name in the node's data folder; it holds RocksDB's message and the time.
    public static let markerName = "CORRUPTED"
    /// The exit status of a node stopped by damage (EX_DATAERR).
    public static let exitStatus: Int32 = 65

    /// Whether a RocksDB error message reports damaged files (RocksDB's `Status::Corruption`).
    public static func isCorruption(_ message: String) -> Bool { message.hasPrefix("Corruption:") || message.contains(": Corruption:") }

    /// What an operator reads, in the log and on every refused start.
    public static func advice(dataDirectory: String) -> String {
        "The data in \(dataDirectory) is damaged; this node will not start on it. Check it with "
            + "`footfall verify --data \(dataDirectory)`. In a cluster, move the folder away and start the node empty under "
            + "its name: it repairs from its replicas before it serves. A single node: `footfall restore` a backup. "
            + "Delete \(markerName) in the folder only once `footfall verify` reads it clean."
    }

    /// Throws, naming the damage, when an earlier run of this node found its data damaged.
    public static func refuseIfMarked(dataDirectory: String) throws {
        let marker = (dataDirectory as NSString).appendingPathComponent(markerName)
        guard let found = FileManager.default.contents(atPath: marker) else { return }
        let note = String(decoding: found.prefix(2_000), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        throw StorageError("\(note)\n\(advice(dataDirectory: dataDirectory))")
    }

    /// Leaves the marker and ends the process now. No task unwinds, so no write or answer
    /// follows the discovery; what was acknowledged before it is in the write-ahead log.
    public static func stop(dataDirectory: String, message: String, nowMs: Int64) -> Never {
        let when = ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: Double(nowMs) / 1000))
        let note = "RocksDB reported damaged files at \(when): \(message)"
        let marker = (dataDirectory as NSString).appendingPathComponent(markerName)
        FileManager.default.createFile(atPath: marker, contents: Data((note + "\n").utf8))
        let line = "footfall: stopping: \(note)\n\(advice(dataDirectory: dataDirectory))\n"
        _ = line.withCString { write(STDERR_FILENO, $0, strlen($0)) }
        _exit(exitStatus)
    }
}
