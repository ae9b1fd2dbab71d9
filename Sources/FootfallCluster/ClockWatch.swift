import FootfallProtocols
import FootfallWire
import Foundation
import GRPCCore

/// Reads every live peer's clock every `interval` into `Node.clockCheck` (`ClockAgreement`
/// decides): while this node's clock is off the cluster's, it refuses hits, erasures, CRM edits and
/// system changes with 503, so clients send them to a node whose clock agrees.
package actor ClockWatch {
    private let host: any ClusterHost
    private let membership: MembershipShell
    private let peers: PeerClients
    private let interval: Duration
    /// What the last round found, to log a change once.
    private var lastDisagreementMs: Int64 = 0

    package init(host: any ClusterHost, membership: MembershipShell, peers: PeerClients, interval: Duration = .seconds(2)) {
        self.host = host
        self.membership = membership
        self.peers = peers
        self.interval = interval
    }

    package func run() async {
        while !Task.isCancelled {
            await readPeers()
            try? await Task.sleep(for: interval)
        }
    }

    /// Reads the live peers' clocks and those of the nodes whose uids this node refused as from
    /// the future; with none of either yet (a node joining, or alone after a restart) its seeds',
    /// so a node whose clock is off learns it before it joins: the bounds on its peers' stamps
    /// allow for it (`Node.peerStampAllowanceMs`), or it could not take their uids.
    private func readPeers() async {
        let snapshot = await membership.snapshot
        let live = snapshot.members.filter { $0.status.isLive && $0.member.name != snapshot.myself.name }.map(\.member)
        let liveNames = Set(live.map(\.name))
        let asked = live + host.clockCheck.recentlyRefusedSenders.filter { !liveNames.contains($0.name) }
        var clients = [(String, PeerClients.NodeClient)]()
        for member in asked {
            if let client = await peers.client(for: member) { clients.append((member.name, client)) }
        }
        if asked.isEmpty {
            for seed in host.seeds {
                if let client = await peers.client(forSeed: seed) { clients.append(("seed " + seed, client)) }
            }
        }
        let host = self.host
        await withTaskGroup(of: Void.self) { group in
            for (name, client) in clients {
                group.addTask {
                    let sent = host.clock.nowMs
                    if let reply = try? await client.clock(Footfall_V1_ClockRequest(), options: ClusterTransport.callOptions(timeout: .seconds(1))) {
                        host.clockCheck.record(peer: name, sentMs: sent, peerMs: reply.wallMs)
                    }
                }
            }
        }
        let members = Set(snapshot.ownership.filter { $0.state != .removed }.map(\.name))
        host.clockCheck.keep(only: members.union(clients.map(\.0)),
                             clusterSize: ClockAgreement.clusterSize(members: members.count, asked: clients.count))
        let off = host.clockCheck.disagreementMs
        let was = lastDisagreementMs
        lastDisagreementMs = off
        host.metrics.set("footfall_clock_disagreement_seconds", to: Double(off) / 1000)
        if off != 0 && was == 0 {
            host.logger.error("this node's clock disagrees with its peers': writes are refused until it agrees",
                              metadata: ["clock.peers_ahead_s": "\(off / 1000)"])
        } else if off == 0 && was != 0 {
            host.logger.info("this node's clock agrees with its peers' again: writes are accepted")
        }
    }
}
