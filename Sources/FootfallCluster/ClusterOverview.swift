import FootfallProtocols

/// What the dashboard's operator page shows (`GET /api/cluster`): members as this node sees them,
/// ring ownership, the hints this node holds for each target, and its anti-entropy state.
public struct ClusterOverview: Encodable, Sendable {
    struct Member: Encodable {
        var name: String
        var address: String
        var status: String
        var incarnation: UInt64
        /// Ownership of ring ranges: joining, normal, leaving, removed (nil: holds none yet).
        var ownership: String?
        /// The part of the ring this member is first replica of, 0–1.
        var primaryShare: Double
        var isAnsweringNode: Bool
        enum CodingKeys: String, CodingKey {
            case name, address, status, incarnation, ownership
            case primaryShare = "primary_share"
            case isAnsweringNode = "answering_node"
        }
    }

    struct Repair: Encodable {
        /// This node missed writes no hint holds and serves no reads of its own until repaired.
        var needed: Bool
        var running: Bool
        var lastPassMs: Int64?
        var lastPassEventsStreamed: Int?
        var lastPassUnreachable: [String]
        enum CodingKeys: String, CodingKey {
            case needed, running
            case lastPassMs = "last_pass_ms"
            case lastPassEventsStreamed = "last_pass_events_streamed"
            case lastPassUnreachable = "last_pass_unreachable"
        }
    }

    var answeredBy: String
    var ringEpoch: UInt64
    var replicationFactor: Int
    var members: [Member]
    var hintsPending: [String: Int]
    var repair: Repair

    enum CodingKeys: String, CodingKey {
        case members, repair
        case answeredBy = "answered_by"
        case ringEpoch = "ring_epoch"
        case replicationFactor = "replication_factor"
        case hintsPending = "hints_pending"
    }
}

extension ClusterService {
    /// The operator's view of the cluster from this node.
    public func overview() async -> ClusterOverview {
        let snapshot = await shell.snapshot
        let shares = snapshot.ring.primaryShares()
        let ownership = Dictionary(uniqueKeysWithValues: snapshot.ownership.map { ($0.name, $0.state.rawValue) })
        let members = snapshot.members.map { record in
            ClusterOverview.Member(name: record.member.name, address: record.member.address, status: record.status.rawValue,
                                   incarnation: record.incarnation, ownership: ownership[record.member.name],
                                   primaryShare: shares[record.member.name] ?? 0, isAnsweringNode: record.member.name == snapshot.myself.name)
        }
        let last = await repairs.lastPass
        return ClusterOverview(
            answeredBy: snapshot.myself.name, ringEpoch: snapshot.ring.epoch,
            replicationFactor: host.replicationFactor,
            members: members.sorted { $0.name < $1.name }, hintsPending: await host.replication.hintsPerTarget,
            repair: .init(needed: await host.replication.needsRepair, running: await repairs.isRunning,
                          lastPassMs: last?.finishedMs, lastPassEventsStreamed: last.map { $0.outcome.eventsPulled + $0.outcome.eventsPushed },
                          lastPassUnreachable: last.map { $0.unreachable.sorted() } ?? []))
    }
}
