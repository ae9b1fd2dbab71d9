import FootfallProtocols
import FootfallRuntime
import FootfallStorage
import Logging
import Synchronization

/// Whether this node's accounts, sites and tokens may be trusted, asked on every credential and
/// every hit for a site the node does not know (`SystemDataStaleness` decides; the system
/// replicator reports each sync and re-decides on its interval). Persists the pending flag.
package final class SystemDataCheck: Sendable {
    /// The pending flag's key in the hints family, beside the other local cluster state.
    package static let pendingKey: [UInt8] = Array("system-data-pending".utf8)

    private let state: Mutex<SystemDataStaleness>
    private let kv: any KeyValueStore
    private let clock: any WallClock
    private let logger: Logger

    /// Reads the pending flag and persists it for a node joining on an empty folder.
    package init(kv: any KeyValueStore, system: SystemStore, joinsCluster: Bool, staleAfterMs: Int64, clock: any WallClock, logger: Logger) throws {
        self.kv = kv
        self.clock = clock
        self.logger = logger
        let (staleness, effects) = SystemDataStaleness.onStart(
            pendingPersisted: try kv.get(.hints, SystemDataCheck.pendingKey) != nil, joinsCluster: joinsCluster,
            holdsSystemData: try system.holdsReplicatedRecords(), now: MonotonicTime(milliseconds: clock.monotonicMs), staleAfterMs: staleAfterMs)
        state = Mutex(staleness)
        try SystemDataCheck.persist(effects, in: kv)
    }

    package var isStale: Bool { state.withLock { $0.isStale } }
    /// Whether a sync with a peer holding the cluster's copy completed since this process
    /// started: before it, a node does not know which sites the cluster has.
    package var hasSynced: Bool { state.withLock { $0.lastSync != nil } }
    /// What this node says of itself in its sync answers.
    package var isPending: Bool { state.withLock { $0.isPending } }

    /// A sync with a peer completed; `peerPending` is what the peer said of itself.
    package func onSyncCompleted(peerPending: Bool) {
        let now = MonotonicTime(milliseconds: clock.monotonicMs)
        let effects = state.withLock { $0.onSyncCompleted(peerPending: peerPending, now: now) }
        do {
            try SystemDataCheck.persist(effects, in: kv)
        } catch {
            logger.warning("could not clear the system-data pending flag; after a restart this node waits for a sync again",
                           metadata: ["error": "\(error)"])
        }
    }

    /// Re-decides staleness; `hasPeers`: other nodes hold ranges of the ring.
    package func onTick(hasPeers: Bool) {
        let now = MonotonicTime(milliseconds: clock.monotonicMs)
        switch state.withLock({ $0.onTick(hasPeers: hasPeers, now: now) }) {
        case .becameStale?: logger.warning("no peer answered a system-data sync for a while: credentials are refused until one does")
        case .becameCurrent?: logger.info("system data synced: credentials are accepted")
        case nil: break
        }
    }

    private static func persist(_ effects: [SystemDataStaleness.Effect], in kv: any KeyValueStore) throws {
        for effect in effects {
            var batch = WriteBatch()
            switch effect {
            case .persistPending: batch.put(.hints, pendingKey, [1])
            case .clearPending: batch.delete(.hints, pendingKey)
            }
            try kv.write(batch, sync: true)
        }
    }
}
