import FootfallModel
import FootfallProtocols
import FootfallStorage
import FootfallWire
import Foundation
import Logging

/// Scale out and in. While this node is `joining` it streams in every site it will hold from the
/// site's current replicas, then becomes `normal` and serves reads for them; while it is
/// `leaving` (decommissioned) it streams every site it holds to the members that take it over,
/// then holds nothing (`removed`). Writes reach the new holders during the move (the coordinator's
/// pending replicas), so streaming what existed before is enough. Streaming is anti-entropy, so a
/// move interrupted by a restart simply runs again from the persisted ownership state.
package actor RangeMover {
    private let host: any ClusterHost
    private let membership: MembershipShell
    package private(set) var progress = Footfall_V1_MoveProgress()
    /// The sites this move has streamed, and the move (ring and pending ring) they were streamed
    /// under. Writes reach the new holders for as long as the move lasts, so a site streamed once
    /// stays complete: an attempt that waits for a missing member does not stream the others
    /// again (they were, every second). Another move starts over.
    private var streamed: (move: [Ring], sites: Set<SiteID>) = ([], [])

    package init(host: any ClusterHost, membership: MembershipShell) {
        self.host = host
        self.membership = membership
    }

    package func run() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: .seconds(1))
            let snapshot = await membership.snapshot
            switch snapshot.ownState {
            case .joining?: await move(snapshot, joining: true)
            case .leaving?: await move(snapshot, joining: false)
            default: break
            }
        }
    }

    /// One attempt at the sites not yet streamed; ends the move when none is left, else it is
    /// tried again (a member it needs may be down, or a stream failed).
    private func move(_ snapshot: MembershipShell.Snapshot, joining: Bool) async {
        let me = snapshot.myself.name
        progress.node = me
        progress.state = joining ? .joining : .leaving
        guard host.systemDataCheck.hasSynced else {
            progress.detail = "waiting for the cluster's system data (sites) before streaming"
            return
        }
        guard snapshot.ownershipAgreed else {
            progress.detail = "waiting until every live member knows of the move, so every write reaches this node"
            return
        }
        let sites = sitesToMove(snapshot, joining: joining)
        let move = [snapshot.ring, snapshot.pendingRing]
        if streamed.move != move { streamed = (move, []) }
        progress.sitesTotal = UInt32(sites.count)
        progress.sitesDone = UInt32(sites.filter { streamed.sites.contains($0.id) }.count)
        var waiting: String?
        for site in sites where !streamed.sites.contains(site.id) {
            if let reason = await stream(site, snapshot, joining: joining) {
                waiting = waiting ?? reason
                continue
            }
            streamed.sites.insert(site.id)
            progress.sitesDone += 1
            host.logger.info(joining ? "streamed a site in" : "streamed a site away", metadata: [
                "move.site": "\(site.id)", "move.done": "\(progress.sitesDone)", "move.total": "\(progress.sitesTotal)"])
        }
        if let waiting {
            progress.detail = waiting
            return
        }
        await finish(sites, joining: joining)
    }

    /// Joining: the sites this node will hold but does not serve yet; leaving: the sites it holds.
    private func sitesToMove(_ snapshot: MembershipShell.Snapshot, joining: Bool) -> [Site] {
        let me = snapshot.myself.name, rf = host.replicationFactor
        return ((try? host.system.sites()) ?? []).filter { site in
            let holds = snapshot.ring.preferenceList(for: site.id, replicationFactor: rf).contains(me)
            let willHold = snapshot.pendingRing.preferenceList(for: site.id, replicationFactor: rf).contains(me)
            return joining ? willHold && !holds : holds
        }
    }

    /// Streams one site in from every current replica that is up (at least one), or out to every
    /// member that takes it over (all of them); nil when done, else why it has to wait.
    private func stream(_ site: Site, _ snapshot: MembershipShell.Snapshot, joining: Bool) async -> String? {
        let me = snapshot.myself.name, rf = host.replicationFactor
        let live = Set(snapshot.members.filter(\.status.isLive).map(\.member.name))
        let current = snapshot.ring.preferenceList(for: site.id, replicationFactor: rf)
        let future = snapshot.pendingRing.preferenceList(for: site.id, replicationFactor: rf)
        let peers = joining ? current.filter { $0 != me } : future.filter { !current.contains($0) }
        let reachable = peers.filter(live.contains)
        if reachable.isEmpty && !peers.isEmpty || !joining && reachable.count < peers.count {
            return "\(site.id): waiting for \(peers.filter { !live.contains($0) }.joined(separator: ", "))"
        }
        for peer in reachable {
            guard let client = await host.replication.client(for: peer) else { return "\(site.id): no connection to \(peer) yet" }
            do {
                let now = host.clock.nowMs
                let outcome = try await Replication.AntiEntropy.repair(
                    site: site.id, fromMs: site.retention.cutoffMs(nowMs: now), untilMs: now + 1,
                    local: LocalReplica(name: me, store: host.store, nowMs: now, retention: host.retentionPlan),
                    remote: RemoteReplica(name: peer, client: client))
                progress.eventsStreamed += UInt64(outcome.eventsPulled + outcome.eventsPushed)
            } catch {
                host.logger.warning("range streaming failed; retrying", metadata: ["move.site": "\(site.id)", "move.peer": "\(peer)",
                                                                                    "error": "\(error)"])
                return "\(site.id): streaming with \(peer) failed (\(error)); retrying"
            }
        }
        return nil
    }

    /// Every site streamed: the node takes its new state, and a leaving node drops its copies.
    private func finish(_ sites: [Site], joining: Bool) async {
        let next: Membership.OwnershipRecord.State = joining ? .normal : .removed
        guard await membership.changeOwnState(to: next) else { return }
        if !joining {
            // Every site went to all the members that take it over: this copy is no one's now.
            // Replication takes the new ring first: until it does, it still answers reads of these
            // sites from this copy, and would answer them from a copy being deleted (a count going
            // back, seen by the chaos scenario decommission) until its next poll of membership.
            await host.replication.follow(await membership.snapshot)
            for site in sites { try? host.store.deleteCopy(of: site.id) }
        }
        progress.state = joining ? .normal : .removed
        progress.finished = true
        progress.detail = joining ? "joined: serving reads for its ranges" : "decommissioned: holds no ranges and may be stopped"
        host.logger.notice(joining ? "joined the ring: streamed its ranges in" : "decommissioned: streamed its ranges away",
                           metadata: ["move.sites": "\(sites.count)", "move.events": "\(progress.eventsStreamed)"])
    }
}
