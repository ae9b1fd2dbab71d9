import FootfallModel
import FootfallProtocols
import FootfallWire
import Foundation
import GRPCCore

/// The internal node service (Proto/footfall/v1/node.proto). Callers were authenticated by the
/// TLS handshake against the cluster CA and their role checked by `NodeServiceHandler.policy`;
/// gossip additionally must come from the node its envelope names.
struct NodeServiceHandler: Footfall_V1_NodeService.SimpleServiceProtocol {
    let node: Node
    let shell: MembershipShell

    /// Which identities may call which method: nodes everything but removal, operators the
    /// cluster views and removal.
    static func policy(_ caller: ClusterIdentity, _ method: MethodDescriptor) -> Bool {
        switch (caller, method) {
        case (.node, Footfall_V1_NodeService.Method.RemoveMember.descriptor): false
        case (.node, _): true
        case (.operator, Footfall_V1_NodeService.Method.ClusterStatus.descriptor),
             (.operator, Footfall_V1_NodeService.Method.ClusterRing.descriptor),
             (.operator, Footfall_V1_NodeService.Method.RemoveMember.descriptor): true
        case (.operator, _): false
        }
    }

    func gossip(request: Footfall_V1_GossipEnvelope, context: ServerContext) async throws -> Footfall_V1_GossipAccepted {
        let envelope: Membership.Envelope
        do {
            envelope = try GossipWire.decode(request)
        } catch let malformed as GossipWire.Malformed {
            throw RPCError(code: .invalidArgument, message: "malformed gossip: \(malformed)")
        }
        guard ClusterTransport.peerIdentity(of: context) == .node(envelope.from.name) else {
            throw RPCError(code: .permissionDenied, message: "a node may only send gossip in its own name")
        }
        await shell.receive(envelope)
        return Footfall_V1_GossipAccepted()
    }

    func fetchClusterSecrets(request: Footfall_V1_ClusterSecretsRequest, context: ServerContext) async throws -> Footfall_V1_ClusterSecrets {
        guard let ratchet = try node.salts.handoff(nowMs: node.clock.nowMs) else {
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
        let stored = UInt64(node.kv.approximateSize(.events))
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
                }
            }
        }
    }

    func removeMember(request: Footfall_V1_RemoveMemberRequest, context: ServerContext) async throws -> Footfall_V1_RemoveMemberReply {
        guard ClusterIdentity.isValidName(request.name) else { throw RPCError(code: .invalidArgument, message: "not a member name") }
        let snapshot = await shell.snapshot
        guard snapshot.ownership.contains(where: { $0.name == request.name && $0.state != .removed }) else {
            throw RPCError(code: .notFound, message: "\(request.name) holds no ranges of the ring")
        }
        if snapshot.members.contains(where: { $0.member.name == request.name && $0.status.isLive }) {
            throw RPCError(code: .failedPrecondition, message: "\(request.name) is alive; stop it first (decommission streams its data away)")
        }
        let epoch = await shell.remove(name: request.name)
        return .with { $0.ringEpoch = epoch }
    }
}
