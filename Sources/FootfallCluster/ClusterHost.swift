import FootfallIngest
import FootfallModel
import FootfallRuntime
import FootfallStorage
import FootfallSystem
import FootfallWire
import Foundation
import Logging

/// What the cluster's background shells (repair passes, range moves, the system replicator, the
/// clock watch) use of the node they run in: its name and replication factor, its two stores, its
/// clock, metrics and log, and where blocking work runs. `Node` is the one implementation; through
/// this the shells see nothing else of it (no routes, no ingest path, no queries, no settings of
/// other layers).
package protocol ClusterHost: AnyObject, Sendable {
    var nodeName: String { get }
    var replicationFactor: Int { get }
    /// The seeds this node was started with: none means it founded the cluster.
    var seeds: [String] { get }
    var clock: any WallClock { get }
    var logger: Logger { get }
    var metrics: NodeMetrics { get }
    var store: EventStore { get }
    var system: SystemStore { get }
    var systemDataCheck: SystemDataCheck { get }
    var clockCheck: ClockCheck { get }
    var replication: ReplicationShell { get }
    /// Each site's retention, for reads and repairs of its events.
    var retentionPlan: @Sendable (SiteID) -> RetentionPlan { get }
    /// How far ahead of this node's clock a peer's stamps may be (its clock agreement's bound).
    var peerStampAllowanceMs: Int64 { get }
    /// Runs blocking store work off the cooperative thread pool.
    func offloaded<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T
}

/// What the internal service (`NodeServiceHandler`) and the cluster's start (`ClusterService`) use
/// of the node beyond the shells' view: where its data and cluster settings are, its raw store and
/// daily salt (a snapshot, a joiner's seed), the bound on a peer's process uid, and the one
/// question a peer asks of the node's own layer, a site read.
package protocol NodeServiceHost: ClusterHost {
    var dataDirectory: String { get }
    var clusterSettings: ClusterSettings { get }
    var kv: any KeyValueStore { get }
    var salts: SaltKeeper { get }
    /// The highest process uid (start time in ms) a peer may claim: this node's clock plus the
    /// skew the cluster allows.
    var peerUIDMax: UInt64 { get }
    /// Answers a site read a peer routed here, as JSON; refuses one this node's copy must not
    /// answer (waiting for repair, or not its replica) so the peer asks the next replica.
    func answerPeerRead(_ request: Footfall_V1_SiteQueryRequest) async throws -> Data
}

/// How the node runs its part in the cluster: the cluster configuration and the intervals of its
/// background loops.
package struct ClusterSettings: Sendable {
    package var cluster: ClusterConfiguration
    package var systemSyncInterval: Duration
    package var repairInterval: Duration
    package var repairSettleMs: Int64

    package init(cluster: ClusterConfiguration, systemSyncInterval: Duration, repairInterval: Duration, repairSettleMs: Int64) {
        self.cluster = cluster
        self.systemSyncInterval = systemSyncInterval
        self.repairInterval = repairInterval
        self.repairSettleMs = repairSettleMs
    }
}
