import FootfallModel
import FootfallProtocols
import FootfallWire
import GRPCCore
import GRPCNIOTransportHTTP2Posix
import Logging

/// Long-lived gRPC clients to other nodes, one per peer, each over mutual TLS. A client towards a
/// known member verifies that the certificate it meets names that member; a client towards a seed
/// address (whose name is not known yet) accepts any node of the cluster CA: the answer comes
/// back as a Gossip call into our own server, which checks the sender's identity there.
package actor PeerClients {
    package typealias NodeClient = Footfall_V1_NodeService.Client<HTTP2ClientTransport.Posix>

    private struct Peer {
        var address: String
        /// The process the client was made for: a restarted member gets a fresh connection at
        /// once instead of waiting out the old one's reconnect backoff.
        var uid: UInt64?
        var client: GRPCClient<HTTP2ClientTransport.Posix>
        var connections: Task<Void, Never>
    }

    private enum Key: Hashable {
        case member(String)
        case seed(String)
    }

    /// Gossip calls in flight per peer at most; beyond it messages are dropped, as a datagram
    /// would be, rather than queueing behind a peer that does not answer.
    package static let inFlightMax = 64

    private let credential: ReloadingCredential
    private let authorityPEM: String
    private let settings: ClusterTransportSettings
    private let logger: Logger
    private var peers: [Key: Peer] = [:]
    private var gossipCalls = InFlightLimit<Key>(limit: PeerClients.inFlightMax)

    package init(credential: ReloadingCredential, authorityPEM: String, settings: ClusterTransportSettings, logger: Logger) {
        self.credential = credential
        self.authorityPEM = authorityPEM
        self.settings = settings
        self.logger = logger
    }

    /// Sends one membership message without waiting for it; failures are losses to the protocol.
    package func send(_ envelope: Membership.Envelope, to destination: Membership.Destination, timeout: Duration) {
        let key: Key
        let address: String
        let identity: ClusterIdentity?
        let uid: UInt64?
        switch destination {
        case .member(let member):
            (key, address, identity, uid) = (.member(member.name), member.address, .node(member.name), member.uid)
        case .address(let seed):
            (key, address, identity, uid) = (.seed(seed), seed, nil, nil)
        }
        guard let client = client(for: key, address: address, uid: uid, identity: identity), gossipCalls.start(key) else { return }
        let message = GossipWire.encode(envelope)
        let options = ClusterTransport.callOptions(timeout: timeout)
        // At most `gossipCalls`' limit per peer at once, each within `timeout`.
        Task {
            _ = try? await client.gossip(message, options: options)
            self.finished(key)
        }
    }

    /// A client for one call outside gossip (secrets), towards a known member.
    package func client(for member: Membership.Member) -> NodeClient? {
        client(for: .member(member.name), address: member.address, uid: member.uid, identity: .node(member.name))
    }

    /// A client towards a seed address, whose name is not known yet (clock readings before joining).
    package func client(forSeed address: String) -> NodeClient? {
        client(for: .seed(address), address: address, uid: nil, identity: nil)
    }

    package func shutdown() {
        for peer in peers.values {
            peer.client.beginGracefulShutdown()
            peer.connections.cancel()
        }
        peers.removeAll()
    }

    private func finished(_ key: Key) {
        gossipCalls.finish(key)
    }

    private func client(for key: Key, address: String, uid: UInt64?, identity: ClusterIdentity?) -> NodeClient? {
        if let peer = peers[key] {
            if peer.address == address, peer.uid == uid { return NodeClient(wrapping: peer.client) }
            // The member restarted (maybe on another address): replace its client.
            peer.client.beginGracefulShutdown()
            peer.connections.cancel()
            peers[key] = nil
        }
        guard let target = HostAndPort(address) else {
            logger.warning("ignoring a peer with an unusable address", metadata: ["cluster.address": "\(address.prefix(80))"])
            return nil
        }
        do {
            let transport = try ClusterTransport.clientTransport(
                to: identity, host: target.host, port: target.port, credential: credential,
                authorityCertificatePEM: authorityPEM, settings: settings)
            let client = GRPCClient(transport: transport)
            // One per client, cancelled with it: one client per member (members hold certificates
            // the cluster's CA signed) and per seed address.
            let connections = Task { _ = try? await client.runConnections() }
            peers[key] = Peer(address: address, uid: uid, client: client, connections: connections)
            return NodeClient(wrapping: client)
        } catch {
            logger.error("cannot create a client for a peer", metadata: ["cluster.address": "\(address)", "error": "\(error)"])
            return nil
        }
    }
}
