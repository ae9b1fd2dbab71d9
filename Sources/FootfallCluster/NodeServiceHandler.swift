import FootfallModel
import FootfallProtocols
import FootfallStorage
import FootfallSystem
import FootfallWire
import Foundation
import GRPCCore

/// The internal node service (Proto/footfall/v1/host.proto). Callers were authenticated by the
/// TLS handshake against the cluster CA and their role checked by `NodeServiceHandler.policy`;
/// gossip additionally must come from the node its envelope names.
struct NodeServiceHandler: Footfall_V1_NodeService.SimpleServiceProtocol {
    let host: any NodeServiceHost
    let shell: MembershipShell
    let repairs: AntiEntropyRunner
    let mover: RangeMover

    typealias Method = Footfall_V1_NodeService.Method

    /// What members say to each other. A node certificate gets these and nothing else: it cannot
    /// change the ring, run repairs or revoke anyone (those are an operator's decisions), and the
    /// cluster secrets are further kept to ring members (`fetchClusterSecrets`).
    static let nodeMethods: Set<MethodDescriptor> = [
        Method.Gossip.descriptor, Method.FetchClusterSecrets.descriptor, Method.ClusterStatus.descriptor,
        Method.ClusterRing.descriptor, Method.Replicate.descriptor, Method.RepairErasures.descriptor,
        Method.RepairDigests.descriptor, Method.RepairSliceIDs.descriptor, Method.RepairIDPage.descriptor, Method.RepairEvents.descriptor,
        Method.RepairVisitorDigests.descriptor, Method.RepairVisitorEdits.descriptor, Method.RepairSummaries.descriptor,
        Method.SiteQuery.descriptor, Method.SystemPush.descriptor, Method.SystemSync.descriptor, Method.Clock.descriptor,
    ]

    /// What an operator's command line asks: the cluster views and the commands that change the
    /// cluster.
    static let operatorMethods: Set<MethodDescriptor> = [
        Method.ClusterStatus.descriptor, Method.ClusterRing.descriptor, Method.RemoveMember.descriptor,
        Method.Repair.descriptor, Method.Decommission.descriptor, Method.RevokeNode.descriptor, Method.Backup.descriptor,
    ]

    /// Which identities may call which method; a method in neither list is refused to everyone.
    static func policy(_ caller: ClusterIdentity, _ method: MethodDescriptor) -> Bool {
        switch caller {
        case .node: nodeMethods.contains(method)
        case .operator: operatorMethods.contains(method)
        }
    }

    func gossip(request: Footfall_V1_GossipEnvelope, context: ServerContext) async throws -> Footfall_V1_GossipAccepted {
        let envelope: Membership.Envelope
        do {
            // A uid is its process's start time in ms: one beyond this node's clock (plus the skew
            // the cluster allows) would outrank every real process of that name, for good.
            envelope = try GossipWire.decode(request, uidMax: host.peerUIDMax)
        } catch let malformed as GossipWire.Malformed {
            noteFutureSender(request, context: context)
            throw RPCError(code: .invalidArgument, message: "malformed gossip: \(malformed)")
        }
        guard ClusterTransport.peerIdentity(of: context) == .node(envelope.from.name) else {
            throw RPCError(code: .permissionDenied, message: "a node may only send gossip in its own name")
        }
        await shell.receive(envelope)
        return Footfall_V1_GossipAccepted()
    }

    /// A certified node whose own uid is beyond this node's clock (plus the skew allowed) is one
    /// whose clock this node should read: one of the two clocks is off (`ClockCheck.refusedStamp`).
    private func noteFutureSender(_ request: Footfall_V1_GossipEnvelope, context: ServerContext) {
        let sender = request.from
        guard ClusterTransport.peerIdentity(of: context) == .node(sender.name), sender.uid > host.peerUIDMax,
              let member = try? GossipWire.decode(sender, uidMax: .max)
        else { return }
        if host.clockCheck.refusedStamp(of: member) {
            let aheadS = (Int64(clamping: member.uid) &- host.clock.nowMs) / 1000
            host.logger.warning("refused a node's gossip: its start time is beyond this node's clock; reading its clock to learn which is off",
                                metadata: ["cluster.peer": "\(member.name)", "clock.peer_start_ahead_s": "\(aheadS)"])
        }
    }

    /// The daily-salt seed lets its holder recompute cookieless visitor ids: only a node that
    /// holds ranges of the ring, or is joining to, gets it.
    func fetchClusterSecrets(request: Footfall_V1_ClusterSecretsRequest, context: ServerContext) async throws -> Footfall_V1_ClusterSecrets {
        let ownership = await shell.snapshot.ownership
        guard case .node(let caller)? = ClusterTransport.peerIdentity(of: context),
              ownership.contains(where: { $0.name == caller && $0.state != .removed })
        else {
            throw RPCError(code: .permissionDenied, message: "only a ring member or a joining node gets the cluster's secrets")
        }
        guard let ratchet = try host.salts.handoff(nowMs: host.clock.nowMs) else {
            throw RPCError(code: .unavailable, message: "this node has no daily-salt seed either")
        }
        return .with {
            $0.dailySaltSeed = Data(ratchet.seed)
            $0.dailySaltDay = ratchet.day.index
        }
    }

    func clusterStatus(request: Footfall_V1_ClusterStatusRequest, context: ServerContext) async throws -> Footfall_V1_ClusterStatusReply {
        let snapshot = await shell.snapshot
        let shares = snapshot.ring.primaryShares()
        let ownership = Dictionary(uniqueKeysWithValues: snapshot.ownership.map { ($0.name, $0.state) })
        let stored = UInt64(host.kv.approximateSize(.events))
        return .with { reply in
            reply.answeredBy = snapshot.myself.name
            reply.ringEpoch = snapshot.ring.epoch
            reply.localHealth = UInt32(snapshot.localHealth)
            reply.members = snapshot.members.map { record in
                .with { row in
                    row.record = GossipWire.encode(record)
                    row.ownership = ownership[record.member.name].map(GossipWire.encode) ?? .unspecified
                    row.primaryShare = shares[record.member.name] ?? 0
                    row.isAnsweringNode = record.member.name == snapshot.myself.name
                    if row.isAnsweringNode { row.eventBytes = stored }
                }
            }
        }
    }

    func clusterRing(request: Footfall_V1_ClusterRingRequest, context: ServerContext) async throws -> Footfall_V1_ClusterRingReply {
        guard request.sites.count <= 1000 else { throw RPCError(code: .invalidArgument, message: "at most 1000 sites per request") }
        let sites = try request.sites.map { text in
            guard let site = SiteID(text) else { throw RPCError(code: .invalidArgument, message: "not a site id: \(text.prefix(64))") }
            return site
        }
        let replicationFactor = request.replicationFactor == 0 ? 3 : Int(min(request.replicationFactor, 16))
        let snapshot = await shell.snapshot
        let shares = snapshot.ring.primaryShares()
        return .with { reply in
            reply.epoch = snapshot.ring.epoch
            reply.replicationFactor = UInt32(replicationFactor)
            reply.owners = snapshot.ownership.map { record in
                .with {
                    $0.name = record.name
                    $0.state = GossipWire.encode(record.state)
                    $0.virtualNodes = record.state.ownsRanges ? UInt32(snapshot.ring.settings.virtualNodes) : 0
                    $0.primaryShare = shares[record.name] ?? 0
                }
            }
            reply.placements = sites.map { site in
                .with {
                    $0.site = site.rawValue
                    $0.position = Ring.position(of: site)
                    $0.replicas = snapshot.ring.preferenceList(for: site, replicationFactor: replicationFactor)
                    $0.pendingReplicas = snapshot.pendingRing.preferenceList(for: site, replicationFactor: replicationFactor)
                }
            }
        }
    }

    func removeMember(request: Footfall_V1_RemoveMemberRequest, context: ServerContext) async throws -> Footfall_V1_RemoveMemberReply {
        guard ClusterIdentity.isValidName(request.name) else { throw RPCError(code: .invalidArgument, message: "not a member name") }
        switch await shell.remove(name: request.name) {
        case .success(let epoch): return .with { $0.ringEpoch = epoch }
        case .failure(let refusal): throw NodeServiceHandler.error(refusal)
        }
    }

    /// The gRPC status of the membership core's refusal of an operator's change.
    static func error(_ refusal: Membership.ChangeRefusal) -> RPCError {
        switch refusal {
        case .holdsNoRanges: RPCError(code: .notFound, message: refusal.description)
        case .alive, .onlyOwner, .stillJoining: RPCError(code: .failedPrecondition, message: refusal.description)
        }
    }

    // MARK: Replication

    func replicate(request: Footfall_V1_ReplicaRequest, context: ServerContext) async throws -> Footfall_V1_ReplicaAck {
        let message = try wire { try ReplicaWire.message(request) }
        let applied = try await host.replication.applyAsReplica(message)
        return ReplicaWire.ack(id: request.id, atMs: host.clock.nowMs, applied)
    }

    func repairErasures(request: Footfall_V1_RepairSiteRequest, context: ServerContext) async throws -> Footfall_V1_ErasureOrders {
        let site = try wire { try ReplicaWire.site(request.site) }
        let orders = try await host.offloaded { try host.store.erasureRecords(site: site).map(\.order) }
        return .with { $0.orders = orders.map(ReplicaWire.erasureOrder) }
    }

    func repairDigests(request: Footfall_V1_RepairWindow, context: ServerContext) async throws -> Footfall_V1_DigestTree {
        let window = try wire { try ReplicaWire.window(request) }
        let tree = try await host.offloaded { try host.store.digests(site: window.site, fromMs: window.fromMs, untilMs: window.untilMs) }
        return ReplicaWire.tree(tree)
    }

    func repairSummaries(request: Footfall_V1_RepairSummariesRequest, context: ServerContext) async throws -> Footfall_V1_RepairSummariesReply {
        let windows = try wire { try ReplicaWire.summaryWindows(request) }
        let local = LocalReplica(name: host.nodeName, store: host.store, nowMs: host.clock.nowMs, retention: host.retentionPlan)
        let summaries = try await host.offloaded { try local.summaries(windows) ?? [] }
        return .with { $0.summaries = summaries }
    }

    func repairSliceIDs(request: Footfall_V1_RepairSlice, context: ServerContext) async throws -> Footfall_V1_EventIDs {
        let window = try wire { try ReplicaWire.window(request.window) }
        let day = try wire { try ReplicaWire.day(request.day) }
        guard request.slice < EventSetDigest.slicesPerDay else { throw RPCError(code: .invalidArgument, message: "no such slice") }
        let ids = try await host.offloaded {
            try host.store.eventIDs(site: window.site, day: day, slice: Int(request.slice), fromMs: window.fromMs, untilMs: window.untilMs)
        }
        return .with { $0.ids = ids.map { Data($0.bytes) } }
    }

    func repairIDPage(request: Footfall_V1_RepairIDPageRequest, context: ServerContext) async throws -> Footfall_V1_RepairIDPageReply {
        let asked = try wire { try ReplicaWire.idPageRequest(request) }
        let page = try await host.offloaded {
            try host.store.eventIDs(site: asked.window.site, day: asked.day, slices: asked.slices, after: asked.after, limit: asked.limit,
                                    fromMs: asked.window.fromMs, untilMs: asked.window.untilMs)
        }
        return .with {
            $0.ids = page.elements.map { Data($0.bytes) }
            $0.more = page.more
        }
    }

    func repairEvents(request: Footfall_V1_RepairEventsRequest, context: ServerContext) async throws -> Footfall_V1_EventBatch {
        let site = try wire { try ReplicaWire.site(request.site) }
        let ids = try wire { try ReplicaWire.ids(request.ids) }
        guard ids.count <= ReplicaWire.eventsMax else { throw RPCError(code: .invalidArgument, message: "at most \(ReplicaWire.eventsMax) ids") }
        return ReplicaWire.batch(try await host.offloaded { try host.store.storedEvents(site: site, ids: ids) })
    }

    func repairVisitorDigests(request: Footfall_V1_RepairVisitorDigestsRequest, context: ServerContext) async throws -> Footfall_V1_VisitorDigests {
        let site = try wire { try ReplicaWire.site(request.site) }
        // No limit: a caller of an earlier version, which takes every digest in one reply.
        let limit = request.limit == 0 ? Int.max : min(Int(request.limit), Replication.AntiEntropy.pageMax)
        let after = request.hasAfter ? VisitorID(rawValue: request.after) : nil
        let page = try await host.offloaded { try host.store.visitorEditDigests(site: site, after: after, limit: limit) }
        return .with {
            $0.visitors = page.elements.map { entry in .with { $0.visitor = entry.visitor.rawValue; $0.digest = entry.digest } }
            $0.more = page.more
        }
    }

    func repairVisitorEdits(request: Footfall_V1_RepairVisitorsRequest, context: ServerContext) async throws -> Footfall_V1_VisitorEditOrders {
        let site = try wire { try ReplicaWire.site(request.site) }
        guard request.visitors.count <= Replication.AntiEntropy.visitorBatch else {
            throw RPCError(code: .invalidArgument, message: "at most \(Replication.AntiEntropy.visitorBatch) visitors")
        }
        let visitors = request.visitors.map(VisitorID.init(rawValue:))
        let edits = try await host.offloaded { try host.store.rebuildingEdits(site: site, visitors: visitors) }
        return .with { $0.edits = edits.map(ReplicaWire.visitorEdit) }
    }

    func siteQuery(request: Footfall_V1_SiteQueryRequest, context: ServerContext) async throws -> Footfall_V1_SiteQueryReply {
        do {
            let json = try await host.answerPeerRead(request)
            return .with { $0.json = json }
        } catch let error as FootfallError {
            throw RPCError(error)
        }
    }

    func systemPush(request: Footfall_V1_SystemRecords, context: ServerContext) async throws -> Footfall_V1_SystemPushAccepted {
        do {
            try host.system.merge(request.records, maxAheadMs: host.peerStampAllowanceMs)
        } catch let error as FootfallError {
            throw RPCError(code: .invalidArgument, message: error.message)
        }
        return Footfall_V1_SystemPushAccepted()
    }

    func systemSync(request: Footfall_V1_SystemIndex, context: ServerContext) async throws -> Footfall_V1_SystemSyncReply {
        let (newer, wanted) = try host.system.compare(with: request.entries)
        return .with {
            $0.newer = newer
            $0.wanted = wanted
            $0.senderPending = host.systemDataCheck.isPending
        }
    }

    func revokeNode(request: Footfall_V1_RevokeNodeRequest, context: ServerContext) async throws -> Footfall_V1_RevokeNodeReply {
        guard ClusterIdentity.isValidName(request.name) else {
            throw RPCError(code: .invalidArgument, message: request.isOperator ? "not an operator name" : "not a node name")
        }
        let kind: NodeRevocation.Kind = request.isOperator ? .operator : .node
        if let refusal = NodeRevocation.refusal(revoking: kind, name: request.name, caller: ClusterTransport.peerIdentity(of: context)) {
            throw RPCError(code: .failedPrecondition, message: refusal)
        }
        do {
            let revocation = try host.system.revoke(kind, name: request.name, nowMs: host.clock.nowMs)
            host.logger.notice(kind == .operator ? "revoked an operator's certificates" : "revoked a node's certificates",
                               metadata: ["cluster.revoked": "\(revocation.name)"])
            return .with { $0.revokedMs = revocation.revokedMs }
        } catch let error as FootfallError {
            throw RPCError(error)
        }
    }

    func clock(request: Footfall_V1_ClockRequest, context: ServerContext) async throws -> Footfall_V1_ClockReply {
        .with { $0.wallMs = host.clock.nowMs }
    }

    /// Takes a snapshot (`Backup`) and streams its files in order, each in chunks; the snapshot
    /// is removed from the node's disk when the stream ends, sent or not.
    func backup(request: Footfall_V1_BackupRequest, response: RPCWriter<Footfall_V1_BackupChunk>, context: ServerContext) async throws {
        let host = self.host
        let snapshot: Backup.Snapshot
        do {
            snapshot = try await host.offloaded { try Backup.snapshot(of: host) }
        } catch let error as FootfallError {
            throw RPCError(error)
        }
        defer { snapshot.remove() }
        host.logger.info("backup: snapshot taken", metadata: ["backup.files": "\(snapshot.files.count)", "backup.bytes": "\(snapshot.totalBytes)"])
        for file in snapshot.files {
            let handle = try FileHandle(forReadingFrom: URL(fileURLWithPath: (snapshot.folder as NSString).appendingPathComponent(file.path)))
            defer { try? handle.close() }
            var offset: UInt64 = 0
            repeat {
                let data = try handle.read(upToCount: Backup.chunkBytes) ?? Data()
                try await response.write(.with {
                    $0.path = file.path
                    $0.fileSize = file.size
                    $0.offset = offset
                    $0.data = data
                    $0.totalFiles = UInt32(snapshot.files.count)
                    $0.totalBytes = snapshot.totalBytes
                    $0.snapshotMs = snapshot.takenMs
                    $0.nodeName = host.nodeName
                })
                offset += UInt64(data.count)
                if data.isEmpty { break }
            } while offset < file.size
        }
    }

    func repair(request: Footfall_V1_RepairCommand, response: RPCWriter<Footfall_V1_RepairProgress>, context: ServerContext) async throws {
        let sites = try request.sites.map { text in try wire { try ReplicaWire.site(text) } }
        let pass = await repairs.pass(sites: sites.isEmpty ? nil : sites, byOperator: true) { progress in
            try? await response.write(progress)
        }
        if pass.refused {
            throw RPCError(code: .failedPrecondition, message: "a repair is already running on this node")
        }
    }

    func decommission(request: Footfall_V1_DecommissionRequest, response: RPCWriter<Footfall_V1_MoveProgress>,
                      context: ServerContext) async throws {
        let me = host.nodeName
        guard request.name == me else {
            throw RPCError(code: .failedPrecondition, message: "this is \(me), not \(request.name.prefix(64)); send it to the node that leaves")
        }
        if let refusal = await shell.decommission() { throw NodeServiceHandler.error(refusal) }
        while !Task.isCancelled {
            let progress = await mover.progress
            if await shell.snapshot.ownState == .removed {
                var done = progress
                done.node = me
                done.state = .removed
                done.finished = true
                try await response.write(done)
                return
            }
            try await response.write(progress)
            try await Task.sleep(for: .milliseconds(500))
        }
    }

    /// Decodes a peer's request, turning a malformed one into INVALID_ARGUMENT.
    private func wire<T>(_ decode: () throws -> T) throws -> T {
        do {
            return try decode()
        } catch let malformed as ReplicaWire.Malformed {
            throw RPCError(code: .invalidArgument, message: malformed.description)
        }
    }
}
