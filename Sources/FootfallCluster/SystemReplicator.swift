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
package actor SystemReplicator {
    private let host: any ClusterHost
    private let membership: MembershipShell
    private let peers: PeerClients
    private let syncInterval: Duration
    /// Pushes in flight per member; one beyond the limit is skipped and counted
    /// (`footfall_system_pushes_skipped_total`): the next sync brings its change.
    private var pushes = InFlightLimit<String>(limit: SystemReplicator.pushesInFlightMax)
    package static let pushesInFlightMax = 16

    package init(host: any ClusterHost, membership: MembershipShell, peers: PeerClients, syncInterval: Duration) {
        self.host = host
        self.membership = membership
        self.peers = peers
        self.syncInterval = syncInterval
    }

    private func liveOthers() async -> [Membership.Member] {
        let snapshot = await membership.snapshot
        return snapshot.members.filter { $0.status.isLive && $0.member.name != snapshot.myself.name }.map(\.member)
    }

    /// Pushes local changes to every live member (best effort: sync repairs what is lost).
    package func push(_ records: [Footfall_V1_SystemRecord]) async {
        let message = Footfall_V1_SystemRecords.with { $0.records = records }
        for member in await liveOthers() {
            guard let client = await peers.client(for: member) else { continue }
            guard pushes.start(member.name) else {
                host.metrics.increment("footfall_system_pushes_skipped_total")
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

    package func run() async {
        while !Task.isCancelled {
            await syncOnce()
            // Stale: other members hold ranges (removed ones do not count), and none holding the
            // cluster's copy answered a sync for too long.
            let snapshot = await membership.snapshot
            let hasPeers = snapshot.ownership.contains { $0.name != snapshot.myself.name && $0.state != .removed }
            host.systemDataCheck.onTick(hasPeers: hasPeers)
            // Until the first sync, try again soon: a joining node refuses credentials meanwhile.
            try? await Task.sleep(for: host.systemDataCheck.isStale ? .milliseconds(250) : syncInterval)
        }
    }

    /// One exchange with a random live member.
    package func syncOnce() async {
        guard let member = await liveOthers().randomElement(), let client = await peers.client(for: member) else { return }
        do {
            let index = Footfall_V1_SystemIndex.with { $0.entries = (try? host.system.index()) ?? [] }
            let reply = try await client.systemSync(index, options: ClusterTransport.callOptions(timeout: .seconds(5)))
            let applied = try host.system.merge(reply.newer, maxAheadMs: host.peerStampAllowanceMs)
            if !reply.wanted.isEmpty {
                let records = try host.system.records(reply.wanted)
                _ = try await client.systemPush(.with { $0.records = records }, options: ClusterTransport.callOptions(timeout: .seconds(5)))
            }
            if applied > 0 { host.metrics.increment("footfall_system_records_synced_total", by: Double(applied)) }
            host.systemDataCheck.onSyncCompleted(peerPending: reply.senderPending)
        } catch {
            host.logger.warning("system data sync with a peer failed", metadata: ["cluster.peer": "\(member.name)", "error": "\(error)"])
        }
    }
}
