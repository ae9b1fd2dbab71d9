/// Whether this node's copy of the system data (accounts, sites, tokens, sessions) may be trusted:
/// while it is stale the node refuses credentials and answers a site it does not know with 503
/// rather than 404, so clients retry elsewhere instead of being told "wrong password" or "no such
/// site" by a node that has not heard of them yet.
///
/// A node started with seeds is stale until its first sync with a peer whose copy is the
/// cluster's; any node with peers turns stale when no such sync completed for `staleAfterMs`.
/// A node whose folder was empty when it joined is *pending* until that first sync, and says so
/// in its own sync answers: two nodes joining at once would otherwise count a sync with each
/// other (both empty) as current and answer 404 for every site of the cluster. The pending flag is
/// persisted, so a restart before the first sync does not forget it; a folder written before the
/// flag existed holds the cluster's data and is not pending.
///
/// Pure: the shell passes what the folder held and its monotonic clock in (staleness is time
/// since a sync within this process, which a stepped wall clock must not stretch or cut short),
/// persists the effects, and asks `isStale`.
public struct SystemDataStaleness: Sendable, Equatable {
    /// What the shell persists.
    public enum Effect: Sendable, Equatable {
        /// Record "pending" durably: the node joined on an empty folder.
        case persistPending
        /// Clear it: a sync with a peer holding the cluster's data completed. A clear that fails
        /// to persist costs only a stale start next time (the node is pending again until it
        /// syncs), never trust in data that is not the cluster's.
        case clearPending
    }

    /// A change of `isStale`, for the shell to log once.
    public enum Change: Sendable, Equatable {
        case becameStale
        case becameCurrent
    }

    /// This node has not yet completed a sync with a peer holding the cluster's system data.
    public private(set) var isPending: Bool
    public private(set) var isStale: Bool
    /// When the last sync that counts completed; nil before the first.
    public private(set) var lastSync: MonotonicTime?
    private let started: MonotonicTime
    public let staleAfterMs: Int64

    /// The state at start. `pendingPersisted`: the folder holds the pending flag;
    /// `joinsCluster`: the node starts with seeds; `holdsSystemData`: its system store holds any
    /// replicated record (a founder's always does, from its first start).
    public static func onStart(pendingPersisted: Bool, joinsCluster: Bool, holdsSystemData: Bool,
                               now: MonotonicTime, staleAfterMs: Int64) -> (SystemDataStaleness, [Effect]) {
        let pending = pendingPersisted || joinsCluster && !holdsSystemData
        let state = SystemDataStaleness(isPending: pending, isStale: joinsCluster || pending, lastSync: nil,
                                        started: now, staleAfterMs: max(0, staleAfterMs))
        return (state, pending && !pendingPersisted ? [.persistPending] : [])
    }

    /// A sync with a peer completed; `peerPending` is what the peer said of itself. A pending
    /// peer's records were merged (they are real records) but do not make this node current.
    public mutating func onSyncCompleted(peerPending: Bool, now: MonotonicTime) -> [Effect] {
        guard !peerPending else { return [] }
        lastSync = now
        guard isPending else { return [] }
        isPending = false
        return [.clearPending]
    }

    /// What is inconsistent in this state, or nil; `SystemDataStalenessTests` asks after every input
    /// of 200 random runs.
    public var invariantViolation: String? {
        guard isPending else { return nil }
        if lastSync != nil { return "pending after a sync that counts" }
        return isStale ? nil : "pending, yet current"
    }

    /// Re-decides staleness `now`; `hasPeers`: other nodes hold ranges of the ring (removed
    /// ones do not count), so there is someone to sync with. Returns the change, if any.
    public mutating func onTick(hasPeers: Bool, now: MonotonicTime) -> Change? {
        let tooLong = now.milliseconds(since: lastSync ?? started) > staleAfterMs
        let stale = hasPeers && tooLong || lastSync == nil && isStale
        defer { isStale = stale }
        if stale == isStale { return nil }
        return stale ? .becameStale : .becameCurrent
    }
}
