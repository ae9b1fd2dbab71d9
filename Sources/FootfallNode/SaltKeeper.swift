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
    private let path: String
    private let ratchet: Mutex<DailySaltRatchet?>

    public init(dataDirectory: String) throws {
        path = (dataDirectory as NSString).appendingPathComponent("salt.seed")
        ratchet = Mutex(try SaltKeeper.read(path))
    }

    /// Creates the installation's first seed (cluster init). Does nothing if one exists.
    public func initialize(nowMs: Int64) throws {
        try ratchet.withLock { current in
            guard current == nil else { return }
            let fresh = DailySaltRatchet(day: Day(containing: nowMs), seed: Crypto.randomBytes(32))
            try SaltKeeper.persist(fresh, to: path)
            current = fresh
        }
    }

    public var hasSeed: Bool { ratchet.withLock { $0 != nil } }

    /// Today's salt, advancing the ratchet (and replacing the file) when the day has changed.
    public func salt(nowMs: Int64) throws -> [UInt8]? {
        try ratchet.withLock { current in
            guard var value = current else { return nil }
            let today = Day(containing: nowMs)
            if value.day < today {
                value.advance(to: today)
                try SaltKeeper.persist(value, to: path)
                current = value
            }
            // A clock that went back a day gets today's salt, never an earlier one.
            return value.salt
        }
    }

    private static func read(_ path: String) throws -> DailySaltRatchet? {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        let parts = text.split(separator: " ")
        guard parts.count == 2, let day = UInt32(parts[0]), let seed = Hex.decode(String(parts[1].prefix(64))), seed.count == 32 else {
            throw APIError(.internalServerError, "the salt seed file \(path) is damaged; restore it from another node")
        }
        return DailySaltRatchet(day: Day(index: day), seed: seed)
    }

    /// Writes the new seed beside the old file, fsyncs it and renames it over the old one.
    private static func persist(_ ratchet: DailySaltRatchet, to path: String) throws {
        let temporary = path + ".new"
        let contents = "\(ratchet.day.index) \(Hex.encode(ratchet.seed))\n"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        guard fd >= 0 else { throw APIError(.internalServerError, "cannot write \(temporary): errno \(errno)") }
        let written = contents.utf8CString.withUnsafeBufferPointer { write(fd, $0.baseAddress, $0.count - 1) }
        fsync(fd)
        close(fd)
        guard written == contents.utf8.count, rename(temporary, path) == 0 else {
            throw APIError(.internalServerError, "cannot replace \(path): errno \(errno)")
        }
    }
}
