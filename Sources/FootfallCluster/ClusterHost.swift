import FootfallModel
import FootfallRuntime
import FootfallStorage
import FootfallSystem
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
