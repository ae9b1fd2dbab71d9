import Foundation
import FootfallCrypto
import FootfallModel
import Synchronization

/// Holds the daily-salt ratchet (see `DailySaltRatchet`) and its one file, `salt.seed` in the data
/// folder. When the UTC day changes the ratchet advances and the file is replaced by the new day's
/// seed, so no file holds an earlier day's seed: yesterday's visitor ids can no longer be made.
///
/// A node without a seed refuses cookieless hits rather than invent a salt (a salt of its own would
/// split every visitor in two behind a load balancer). The embedded single node creates the seed on
/// first start; cluster nodes receive it when they join.
public final class SaltKeeper: Sendable {
    /// Today's salt, and yesterday's while a visit that began before midnight may still go on.
    public struct Salts: Sendable {
        public var today: [UInt8]
        public var yesterday: [UInt8]?
    }

    private struct State {
        var ratchet: DailySaltRatchet?
        /// Held in memory only, never written, and dropped one visit gap after midnight.
        var yesterday: [UInt8]?
    }

    private let path: String
    private let state: Mutex<State>

    public init(dataDirectory: String) throws {
        path = (dataDirectory as NSString).appendingPathComponent("salt.seed")
        state = Mutex(State(ratchet: try SaltKeeper.read(path)))
    }

    /// Creates the installation's first seed (cluster init). Does nothing if one exists.
    public func initialize(nowMs: Int64) throws {
        try state.withLock { current in
            guard current.ratchet == nil else { return }
            let fresh = DailySaltRatchet(day: Day(containing: nowMs), seed: Crypto.randomBytes(32))
            try SaltKeeper.persist(fresh, to: path)
            current.ratchet = fresh
        }
    }

    public var hasSeed: Bool { state.withLock { $0.ratchet != nil } }

    /// Today's ratchet state, for a joining node (sent over mutual TLS only). Nil without a seed.
    public func handoff(nowMs: Int64) throws -> DailySaltRatchet? {
        _ = try salts(nowMs: nowMs)
        return state.withLock { $0.ratchet }
    }

    /// Takes the cluster's ratchet when this node has none yet (a node joining a cluster). A node
    /// that has a seed keeps it: the first one it got is the cluster's.
    public func adopt(day: Day, seed: [UInt8]) throws {
        guard seed.count == 32 else { throw FootfallError.invalid("a daily-salt seed has 32 bytes, got \(seed.count)") }
        let ratchet = DailySaltRatchet(day: day, seed: seed)
        try state.withLock { current in
            guard current.ratchet == nil else { return }
            try SaltKeeper.persist(ratchet, to: path)
            current.ratchet = ratchet
        }
    }

    /// Today's salt (advancing the ratchet and replacing the file when the day has changed) and,
    /// during the first visit gap after midnight, yesterday's. Nil without a seed.
    public func salts(nowMs: Int64) throws -> Salts? {
        try state.withLock { current in
            guard var ratchet = current.ratchet else { return nil }
            let today = Day(containing: nowMs)
            if ratchet.day < today {
                // Only a ratchet that moves by exactly one day holds yesterday's salt.
                let previous = ratchet.day == today.advanced(by: -1) ? ratchet.salt : nil
                ratchet.advance(to: today)
                try SaltKeeper.persist(ratchet, to: path)
                current.ratchet = ratchet
                current.yesterday = previous
            }
            if nowMs - today.startMs >= Visits.gapMs { current.yesterday = nil }
            // A clock that went back a day gets today's salt, never an earlier one.
            return Salts(today: ratchet.salt, yesterday: current.yesterday)
        }
    }

    private static func read(_ path: String) throws -> DailySaltRatchet? {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        let parts = text.split(separator: " ")
        guard parts.count == 2, let day = UInt32(parts[0]), let seed = Hex.decode(String(parts[1].prefix(64))), seed.count == 32 else {
            throw FootfallError.internal("the salt seed file \(path) is damaged; restore it from another node")
        }
        return DailySaltRatchet(day: Day(index: day), seed: seed)
    }

    /// Writes the new seed beside the old file, fsyncs it and renames it over the old one.
    private static func persist(_ ratchet: DailySaltRatchet, to path: String) throws {
        let temporary = path + ".new"
        let contents = "\(ratchet.day.index) \(Hex.encode(ratchet.seed))\n"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        guard fd >= 0 else { throw FootfallError.internal("cannot write \(temporary): errno \(errno)") }
        let written = contents.utf8CString.withUnsafeBufferPointer { write(fd, $0.baseAddress, $0.count - 1) }
        fsync(fd)
        close(fd)
        guard written == contents.utf8.count, rename(temporary, path) == 0 else {
            throw FootfallError.internal("cannot replace \(path): errno \(errno)")
        }
    }
}
