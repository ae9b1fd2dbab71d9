import FootfallProtocols
import FootfallWire
import Foundation
import GRPCCore
import Logging

/// Replicates system data (accounts, sites, tokens, sessions) to every node: each local change is
/// pushed to every live member at once, and every `syncInterval` the node compares its index with
/// a random live member's and exchanges what either holds newer. A push lost to a partition is
/// so repaired within an interval of healing; a revoked token or a changed password stops working
/// on every reachable node within the push's round trip.
actor SystemReplicator {
    private let node: Node
    private let membership: MembershipShell
    private let peers: PeerClients
    private let syncInterval: Duration
    /// Pushes in flight per member; one beyond the limit is skipped and counted
    /// (`footfall_system_pushes_skipped_total`): the next sync brings its change.
    private var pushes = InFlightLimit<String>(limit: SystemReplicator.pushesInFlightMax)
    static let pushesInFlightMax = 16

    init(node: Node, membership: MembershipShell, peers: PeerClients, syncInterval: Duration) {
        self.node = node
        self.membership = membership
        self.peers = peers
        self.syncInterval = syncInterval
    }

    private func liveOthers() async -> [Membership.Member] {
        let snapshot = await membership.snapshot
        return snapshot.members.filter { $0.status.isLive && $0.member.name != snapshot.myself.name }.map(\.member)
    }

    /// Pushes local changes to every live member (best effort: sync repairs what is lost).
    func push(_ records: [Footfall_V1_SystemRecord]) async {
        let message = Footfall_V1_SystemRecords.with { $0.records = records }
        for member in await liveOthers() {
            guard let client = await peers.client(for: member) else { continue }
            guard pushes.start(member.name) else {
                node.metrics.increment("footfall_system_pushes_skipped_total")
                continue
            }
            Task {
                _ = try? await client.systemPush(message, options: ClusterTransport.callOptions(timeout: .seconds(2)))
                await self.pushFinished(to: member.name)
            }
        }
    }

    private func pushFinished(to name: String) {
        pushes.finish(name)
    }

    func run() async {
        while !Task.isCancelled {
            await syncOnce()
            // Stale: other members hold ranges (removed ones do not count), and none holding the
            // cluster's copy answered a sync for too long.
            let snapshot = await membership.snapshot
            let hasPeers = snapshot.ownership.contains { $0.name != snapshot.myself.name && $0.state != .removed }
            node.systemDataCheck.onTick(hasPeers: hasPeers)
            // Until the first sync, try again soon: a joining node refuses credentials meanwhile.
            try? await Task.sleep(for: node.systemDataCheck.isStale ? .milliseconds(250) : syncInterval)
        }
    }

    /// One exchange with a random live member.
    func syncOnce() async {
        guard let member = await liveOthers().randomElement(), let client = await peers.client(for: member) else { return }
        do {
            let index = Footfall_V1_SystemIndex.with { $0.entries = (try? node.system.index()) ?? [] }
            let reply = try await client.systemSync(index, options: ClusterTransport.callOptions(timeout: .seconds(5)))
            let applied = try node.system.merge(reply.newer, maxAheadMs: node.peerStampAllowanceMs)
            if !reply.wanted.isEmpty {
                let records = try node.system.records(reply.wanted)
                _ = try await client.systemPush(.with { $0.records = records }, options: ClusterTransport.callOptions(timeout: .seconds(5)))
            }
            if applied > 0 { node.metrics.increment("footfall_system_records_synced_total", by: Double(applied)) }
            node.systemDataCheck.onSyncCompleted(peerPending: reply.senderPending)
        } catch {
            node.logger.warning("system data sync with a peer failed", metadata: ["cluster.peer": "\(member.name)", "error": "\(error)"])
        }
    }
}
