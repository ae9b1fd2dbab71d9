/// How the replicated system records (accounts, sites, tokens, sessions, certificate revocations)
/// converge: every node ends with the same record under each key, whatever order pushes and syncs
/// bring them in, and however many are lost.
///
/// Most records are last-writer-wins by version (hybrid-logical-clock timestamp, then origin
/// node). A certificate revocation is not: it only ever grows (every certificate issued up to its
/// time is revoked, and a revocation is never undone), so two revocations of one name join to the
/// later time. When the version that wins carries the earlier time (an operator revoked on a node
/// whose clock is behind another's, or again after taking in a later revocation), the joined
/// record is stamped anew so that it wins everywhere and spreads; had the node kept the later time
/// under the older version, or refused the newer version, the nodes would have disagreed for good
/// on which certificates are revoked (`SystemRecordMergeSimulationTests` found both).
///
/// Pure: the shell maps its stored records to `Record`s, passes a stamp for a joined record, and
/// stores what `resolve` chooses.
public enum SystemRecordMerge {
    /// Which of two writes of a key is later: the timestamp, then the origin node's name.
    public struct Version: Sendable, Hashable, Comparable {
        public var hlc: UInt64
        public var origin: String

        public init(hlc: UInt64, origin: String) {
            self.hlc = hlc
            self.origin = origin
        }

        public static func < (a: Version, b: Version) -> Bool { (a.hlc, a.origin) < (b.hlc, b.origin) }
    }

    /// What the merge reads of a record.
    public struct Record: Sendable, Equatable {
        public var version: Version
        /// For a certificate revocation, its time; nil for every other kind of record.
        public var revokedMs: Int64?

        public init(version: Version, revokedMs: Int64? = nil) {
            self.version = version
            self.revokedMs = revokedMs
        }
    }

    /// What a key holds after a merge.
    public enum Resolution: Sendable, Equatable {
        /// What the node held stays.
        case keepHeld
        /// The incoming record at this index replaces it, as it came.
        case take(Int)
        /// A revocation at the later time, under a new version (from `stamp`), to store and spread.
        case joined(revokedMs: Int64, version: Version)
    }

    /// The record a key ends with when `incoming` records (in any order: a batch may hold several
    /// for one key) meet what the node holds. `stamp` gives a version later than any it has seen;
    /// it is called only for a joined revocation.
    public static func resolve(held: Record?, incoming: [Record], stamp: () -> Version) -> Resolution {
        var best: (version: Version, index: Int?)? = held.map { ($0.version, nil) }
        for (index, record) in incoming.enumerated() where best.map({ record.version > $0.version }) ?? true {
            best = (record.version, index)
        }
        guard let best else { return .keepHeld }
        let candidates = (held.map { [$0] } ?? []) + incoming
        let winner = best.index.map { incoming[$0] } ?? held
        if let latest = candidates.compactMap(\.revokedMs).max(), winner?.revokedMs != latest {
            // Later than every candidate even when this node's clock did not take the winner's
            // stamp in (one far ahead of it), or the joined record would lose to the one it joins.
            var version = stamp()
            if version <= best.version { version.hlc = min(best.version.hlc, .max - 1) + 1 }
            return .joined(revokedMs: latest, version: version)
        }
        return best.index.map(Resolution.take) ?? .keepHeld
    }

    /// The time a local revocation at `nowMs` records: never earlier than the revocation of the
    /// same name already held (made on a node whose clock is ahead of this one's).
    public static func revokedMs(at nowMs: Int64, held: Record?) -> Int64 {
        max(nowMs, held?.revokedMs ?? nowMs)
    }

    /// Which keys a sync moves, comparing this node's versions with a peer's: `newer`, the keys
    /// this node holds at a later version (or the peer lacks), to send; `wanted`, the keys the
    /// peer holds at a later version (or this node lacks), to ask for. Both sorted.
    public static func compare(mine: [String: Version], theirs: [String: Version]) -> (newer: [String], wanted: [String]) {
        var newer = [String]()
        var wanted = [String]()
        for (key, version) in theirs {
            guard let local = mine[key] else { wanted.append(key); continue }
            if local > version { newer.append(key) }
            if version > local { wanted.append(key) }
        }
        newer += mine.keys.filter { theirs[$0] == nil }
        return (newer.sorted(), wanted.sorted())
    }
}
