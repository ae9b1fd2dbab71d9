import FootfallModel
import FootfallProtocols
import FootfallStorage
import FootfallWire
import Foundation
import GRPCCore
import Logging

/// A peer's replica of its sites, over the internal service.
package struct RemoteReplica: RepairReplica {
    package let name: String
    package let client: PeerClients.NodeClient
    package var timeout: Duration = .seconds(30)

    package init(name: String, client: PeerClients.NodeClient, timeout: Duration = .seconds(30)) {
        self.name = name
        self.client = client
        self.timeout = timeout
    }

    private var options: GRPCCore.CallOptions { ClusterTransport.callOptions(timeout: timeout) }

    package func answer(_ query: Replication.AntiEntropy.Query) async throws -> Replication.AntiEntropy.Answer {
        switch query {
        case .erasures(let site):
            .erasures(try await erasures(site: site))
        case .digests(let window):
            .digests(try ReplicaWire.tree(try await client.repairDigests(RemoteReplica.window(window), options: options)))
        case .eventIDs(let window, let day, let slices, let after, let limit):
            .eventIDs(try await eventIDs(window, day: day, slices: slices, after: after, limit: limit))
        case .events(let site, let ids):
            .events(try await events(site: site, ids: ids))
        case .visitorEditDigests(let site, let after, let limit):
            .visitorEditDigests(try await visitorEditDigests(site: site, after: after, limit: limit))
        case .rebuildingEdits(let site, let visitors):
            .rebuildingEdits(try await rebuildingEdits(site: site, visitors: visitors))
        }
    }

    private func erasures(site: SiteID) async throws -> [Replication.ErasureOrder] {
        try await client.repairErasures(.with { $0.site = site.rawValue }, options: options).orders.map(ReplicaWire.erasureOrder)
    }

    private func eventIDs(_ window: Replication.AntiEntropy.Window, day: Day, slices: [Int], after: EventID?,
                          limit: Int) async throws -> Replication.AntiEntropy.Page<EventID> {
        let wire = RemoteReplica.window(window)
        do {
            let reply = try await client.repairIDPage(ReplicaWire.idPageRequest(window: wire, day: day, slices: slices, after: after, limit: limit),
                                                      options: options)
            return .init(try ReplicaWire.ids(reply.ids), more: reply.more)
        } catch let error as RPCError where error.code == .unimplemented {
            // A peer of an earlier version lists one whole slice per call: its slices make one page.
            guard after == nil else { return .init([], more: false) }
            var ids = [EventID]()
            for slice in slices {
                let request = Footfall_V1_RepairSlice.with {
                    $0.window = wire
                    $0.day = day.index
                    $0.slice = UInt32(clamping: slice)
                }
                ids += try ReplicaWire.ids(try await client.repairSliceIDs(request, options: options).ids)
            }
            return .init(ids.sorted(), more: false)
        }
    }

    private func events(site: SiteID, ids: [EventID]) async throws -> [Event] {
        let request = Footfall_V1_RepairEventsRequest.with {
            $0.site = site.rawValue
            $0.ids = ids.map { Data($0.bytes) }
        }
        return try ReplicaWire.events(try await client.repairEvents(request, options: options))
    }

    // A peer of an earlier version (a rolling upgrade) has no CRM repair calls: it then looks
    // like a replica without CRM records, so it is sent ours and its events still repair.

    private func visitorEditDigests(site: SiteID, after: VisitorID?, limit: Int) async throws -> Replication.AntiEntropy.Page<VisitorEditDigest> {
        let request = Footfall_V1_RepairVisitorDigestsRequest.with {
            $0.site = site.rawValue
            if let after { $0.after = after.rawValue }
            $0.limit = UInt32(clamping: limit)
        }
        do {
            let reply = try await client.repairVisitorDigests(request, options: options)
            // Sorted here: a peer of an earlier version sends all its digests unpaged, in no order.
            let digests = reply.visitors.map { VisitorEditDigest(visitor: VisitorID(rawValue: $0.visitor), digest: $0.digest) }
            return .init(digests.sorted { $0.visitor < $1.visitor }, more: reply.more)
        } catch let error as RPCError where error.code == .unimplemented {
            return .init([], more: false)
        }
    }

    private func rebuildingEdits(site: SiteID, visitors: [VisitorID]) async throws -> [VisitorEdit] {
        let request = Footfall_V1_RepairVisitorsRequest.with {
            $0.site = site.rawValue
            $0.visitors = visitors.map(\.rawValue)
        }
        do {
            return try await client.repairVisitorEdits(request, options: options).edits.map(ReplicaWire.visitorEdit)
        } catch let error as RPCError where error.code == .unimplemented {
            return []
        }
    }

    package func apply(_ payload: Replication.Payload) async throws {
        _ = try await client.replicate(ReplicaWire.request(.apply(id: 0, payload)), options: options)
    }

    /// Nil from a peer of an earlier version (it has no such call) and for a reply that does not
    /// hold one summary per window.
    package func summaries(_ windows: [Replication.AntiEntropy.Window]) async throws -> [UInt64]? {
        do {
            let reply = try await client.repairSummaries(ReplicaWire.summariesRequest(windows), options: options)
            return reply.summaries.count == windows.count ? reply.summaries : nil
        } catch let error as RPCError where error.code == .unimplemented {
            return nil
        }
    }

    package static func window(_ window: Replication.AntiEntropy.Window) -> Footfall_V1_RepairWindow {
        .with {
            $0.site = window.site.rawValue
            $0.fromMs = window.fromMs
            $0.untilMs = window.untilMs
        }
    }
}

/// Runs anti-entropy between this node and the other replicas of each of its sites: in the
/// background every `interval`, at once when the node needs repair, and on an operator's
/// `footfall cluster repair`. A node that needs repair is repaired once one pass reached every
/// other replica of every site it holds. A whole pass also hands over the sites this node no
/// longer replicates (`handOverFormerSites`).
package actor AntiEntropyRunner {
    package struct Pass: Sendable {
        package var outcome = Replication.AntiEntropy.Outcome()
        /// The replicas it could not reach: the pass core's `missed`, copied out when it ends.
        package var unreachable = Set<String>()
        /// Another pass was running, so this one did nothing.
        package var refused = false
        package var finishedMs: Int64?
    }

    private let host: any ClusterHost
    /// Writes younger than this are still arriving and are not compared.
    package let settleMs: Int64
    package let interval: Duration
    private var running = false
    /// The last pass that ran to its end, for the operator's view.
    package private(set) var lastPass: Pass?
    package var isRunning: Bool { running }

    package init(host: any ClusterHost, interval: Duration, settleMs: Int64) {
        self.host = host
        self.interval = interval
        self.settleMs = settleMs
    }

    /// The background loop, until cancelled: a pass every `interval`, and every 2 s while this
    /// node needs repair (from its start, or as soon as a coordinator reports a gap).
    package func run() async {
        while !Task.isCancelled {
            let started = ContinuousClock.now
            while !Task.isCancelled, ContinuousClock.now - started < interval, await !host.replication.needsRepair {
                try? await Task.sleep(for: .seconds(2))
            }
            let needsRepair = await host.replication.needsRepair
            _ = await pass(sites: nil, byOperator: false) { _ in }
            if needsRepair { try? await Task.sleep(for: .seconds(2)) }
        }
    }

    /// One pass over `sites` (nil: every site this node replicates), reporting each site done.
    /// A background pass of a serving node leaves out the last `settleMs`; a node that needs
    /// repair and an operator's repair compare everything up to now (`DataLifecycle`).
    package func pass(sites: [SiteID]?, byOperator: Bool, progress: @Sendable (Footfall_V1_RepairProgress) async -> Void) async -> Pass {
        var result = Pass()
        guard !running else {
            result.refused = true
            return result
        }
        running = true
        defer { running = false }
        let ticket = await host.replication.repairPassStarted(byOperator: byOperator)
        var plan = Replication.AntiEntropy.Pass(ticket: ticket, settleMs: settleMs, everySite: sites == nil)
        let ring = await host.replication.ring
        let alive = await host.replication.alive
        let me = host.nodeName
        let rf = host.replicationFactor
        let mine = ((try? host.system.sites()) ?? []).filter { site in
            (sites == nil || sites!.contains(site.id)) && ring.preferenceList(for: site.id, replicationFactor: rf).contains(me)
        }
        var done = 0
        for first in stride(from: 0, to: mine.count, by: Replication.AntiEntropy.summaryBatch) {
            let page = Array(mine[first..<min(mine.count, first + Replication.AntiEntropy.summaryBatch)])
            let now = host.clock.nowMs
            let local = LocalReplica(name: me, store: host.store, nowMs: now, retention: host.retentionPlan)
            let windows = page.map { site in plan.window(of: site.id, cutoffMs: site.retention.cutoffMs(nowMs: now), nowMs: now) }
            let alike = await agreeing(windows, ring: ring, alive: alive, local: local)
            for window in windows {
                guard let unreachableHere = await repair(window, local: local, ring: ring, alive: alive, alike: alike, into: &result.outcome) else {
                    result.unreachable = plan.missed
                    return result // shutting down
                }
                for peer in unreachableHere { plan.onMissed(peer) }
                done += 1
                await progress(.with {
                    $0.site = window.site.rawValue
                    $0.sitesDone = UInt32(done)
                    $0.sitesTotal = UInt32(mine.count)
                    $0.slicesDiffering = UInt64(result.outcome.slicesDiffering)
                    $0.eventsStreamed = UInt64(result.outcome.eventsPulled + result.outcome.eventsPushed)
                    $0.erasuresStreamed = UInt64(result.outcome.erasuresPulled + result.outcome.erasuresPushed)
                    $0.unreachable = unreachableHere
                })
            }
        }
        if sites == nil { await handOverFormerSites(ring: ring, alive: alive) }
        host.metrics.increment("footfall_repair_passes_total")
        host.metrics.increment("footfall_repair_events_streamed_total", by: Double(result.outcome.eventsPulled + result.outcome.eventsPushed))
        let founder = host.seeds.isEmpty && alive == [me]
        let knowsSites = host.systemDataCheck.hasSynced || founder
        await host.replication.repairPassFinished(ticket, coverage: plan.coverage(knewTheSites: knowsSites))
        result.unreachable = plan.missed
        result.finishedMs = host.clock.nowMs
        lastPass = result
        return result
    }

    /// Repairs one site with each of its other replicas whose summary did not settle it; returns
    /// the replicas it could not reach, or nil when the task was cancelled (shutting down).
    private func repair(_ window: Replication.AntiEntropy.Window, local: LocalReplica, ring: Ring, alive: Set<String>, alike: Set<SitePeer>,
                        into outcome: inout Replication.AntiEntropy.Outcome) async -> [String]? {
        var unreachable = [String]()
        let me = host.nodeName, rf = host.replicationFactor
        for peer in Replication.AntiEntropy.Pass.peers(of: window.site, ring: ring, replicationFactor: rf, myself: me) {
            guard alive.contains(peer), let client = await host.replication.client(for: peer) else {
                unreachable.append(peer)
                continue
            }
            guard !alike.contains(SitePeer(site: window.site, peer: peer)) else {
                host.metrics.increment("footfall_repair_site_comparisons_total", labels: ["by": "summary"])
                continue
            }
            host.metrics.increment("footfall_repair_site_comparisons_total", labels: ["by": "exchange"])
            do {
                let repaired = try await Replication.AntiEntropy.repair(
                    site: window.site, fromMs: window.fromMs, untilMs: window.untilMs, local: local, remote: RemoteReplica(name: peer, client: client))
                outcome.add(repaired)
                if repaired.transferred > 0 {
                    host.logger.info("anti-entropy repaired a site", metadata: [
                        "repair.site": "\(window.site)", "repair.peer": "\(peer)", "repair.events": "\(repaired.eventsPulled + repaired.eventsPushed)",
                        "repair.erasures": "\(repaired.erasuresPulled + repaired.erasuresPushed)",
                        "repair.visitor_records": "\(repaired.visitorRecordsRepaired)"])
                }
            } catch {
                if Task.isCancelled { return nil }
                unreachable.append(peer)
                host.logger.warning("anti-entropy with a peer failed", metadata: ["repair.site": "\(window.site)", "repair.peer": "\(peer)",
                                                                                  "error": "\(error)"])
            }
        }
        return unreachable
    }

    private struct SitePeer: Hashable {
        let site: SiteID
        let peer: String
    }

    /// The sites of `windows` that a live peer holds as this node does, by their summaries: this
    /// node's computed once, each peer asked for those of its sites in one call. A peer that cannot
    /// summarise (an earlier version) or does not answer agrees on none: `repair` compares those.
    private func agreeing(_ windows: [Replication.AntiEntropy.Window], ring: Ring, alive: Set<String>, local: LocalReplica) async -> Set<SitePeer> {
        let me = host.nodeName, rf = host.replicationFactor
        guard let ours = try? await host.offloaded({ try local.summaries(windows) }) else { return [] }
        var asked = [String: [Int]]()
        for (index, window) in windows.enumerated() {
            for peer in Replication.AntiEntropy.Pass.peers(of: window.site, ring: ring, replicationFactor: rf, myself: me) where alive.contains(peer) {
                asked[peer, default: []].append(index)
            }
        }
        var alike = Set<SitePeer>()
        for (peer, indices) in asked {
            guard let client = await host.replication.client(for: peer) else { continue }
            let theirWindows = indices.map { windows[$0] }
            let theirs = try? await RemoteReplica(name: peer, client: client).summaries(theirWindows)
            for window in Replication.AntiEntropy.agreeing(theirWindows, ours: indices.map { ours[$0] }, theirs: theirs) {
                alike.insert(SitePeer(site: window.site, peer: peer))
            }
        }
        return alike
    }

    /// Sites this node still holds raw data of but no longer replicates (it ceded the range to a
    /// joining member, or left the ring): once each current replica is up and a repair exchange
    /// with it succeeded — erasure records first, so an erasure made meanwhile reaches this copy
    /// too, and what only this copy held is pushed — the copy is deleted. Until then it stays, and
    /// every pass tries again (`EventStore.deleteCopy` says what goes).
    private func handOverFormerSites(ring: Ring, alive: Set<String>) async {
        let me = host.nodeName
        let rf = host.replicationFactor
        let pendingRing = await host.replication.pendingRing
        let former = ((try? host.system.sites()) ?? []).filter { site in
            !ring.preferenceList(for: site.id, replicationFactor: rf).contains(me)
                && !pendingRing.preferenceList(for: site.id, replicationFactor: rf).contains(me)
                && (try? host.store.holdsRawData(of: site.id)) == true
        }
        for site in former {
            let replicas = ring.preferenceList(for: site.id, replicationFactor: rf)
            guard !replicas.isEmpty, await handOver(site, to: replicas, alive: alive) else { continue }
            do {
                try host.store.deleteCopy(of: site.id)
                host.metrics.increment("footfall_repair_sites_handed_over_total")
                host.logger.info("deleted a site this node no longer replicates, after its replicas took it over",
                                 metadata: ["repair.site": "\(site.id)", "repair.replicas": "\(replicas.joined(separator: ","))"])
            } catch {
                host.logger.warning("deleting a handed-over site failed; the next pass tries again",
                                    metadata: ["repair.site": "\(site.id)", "error": "\(error)"])
            }
        }
    }

    /// Whether a repair exchange with every one of `replicas` succeeded.
    private func handOver(_ site: Site, to replicas: [String], alive: Set<String>) async -> Bool {
        let me = host.nodeName
        for peer in replicas {
            guard alive.contains(peer), let client = await host.replication.client(for: peer) else { return false }
            let now = host.clock.nowMs
            do {
                _ = try await Replication.AntiEntropy.repair(
                    site: site.id, fromMs: site.retention.cutoffMs(nowMs: now), untilMs: now + 1,
                    local: LocalReplica(name: me, store: host.store, nowMs: now, retention: host.retentionPlan),
                    remote: RemoteReplica(name: peer, client: client))
            } catch {
                host.logger.warning("handing a site over to a replica failed; the next pass tries again",
                                    metadata: ["repair.site": "\(site.id)", "repair.peer": "\(peer)", "error": "\(error)"])
                return false
            }
        }
        return true
    }
}
