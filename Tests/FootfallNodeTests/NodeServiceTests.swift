import FootfallCluster
import FootfallModel
import FootfallNode
import FootfallStorage
import FootfallWire
import Foundation
import GRPCCore
import GRPCInProcessTransport
import GRPCNIOTransportHTTP2Posix
import Testing
import X509

/// The internal node service as its server runs it — the handler behind the interceptor that
/// authenticates callers and checks their role and revocation — through grpc-swift's in-process
/// transport. The caller's certificate is presented as the mutual-TLS handshake would have
/// verified it (`PresentedCertificate`); the handshake itself, over a real socket, is checked by
/// Tests/Cluster (hostile_peer_test.py, cert_rotation_test.py).
@Suite struct NodeServiceTests {
    typealias Client = Footfall_V1_NodeService.Client<InProcessTransport.Client>

    /// A node of its own cluster (its CA in its certificate folder) and certificates for a peer
    /// and an operator, issued a minute before the node's clock so a revocation covers them.
    struct Fixture {
        let t: TestNode
        let cluster: ClusterService
        let peer: Certificate
        let admin: Certificate

        init() throws {
            t = try TestNode(nowMs: Int64(Date().timeIntervalSince1970 * 1000))
            let configuration = t.node.configuration
            try ClusterSetup.prepareCertificates(nodeName: configuration.nodeName, cluster: configuration.cluster,
                                                 dataDirectory: configuration.dataDirectory) { _ in }
            cluster = try ClusterService(host: t.node)
            let authority = try CertificateDirectory(path: configuration.cluster.certificateFolder(dataDirectory: configuration.dataDirectory)).readAuthority()
            func issue(_ identity: ClusterIdentity) throws -> Certificate {
                try ClusterCertificates.issue(identity, authority: authority, now: Date().addingTimeInterval(-60), validity: .seconds(86_400)).certificate()
            }
            peer = try issue(.node("node-2"))
            admin = try issue(.operator("admin"))
        }

        /// Serves the node's internal service in-process, its calls made with `certificate`.
        func withClient(as certificate: Certificate?, _ body: @Sendable @escaping (Client) async throws -> Void) async throws {
            let transport = InProcessTransport()
            let server = GRPCServer(transport: transport.server, services: [cluster.nodeService],
                                    interceptors: [PresentedCertificate(certificate: certificate), cluster.authentication])
            try await withThrowingDiscardingTaskGroup { group in
                group.addTask { try await server.serve() }
                try await withGRPCClient(transport: transport.client) { client in try await body(Client(wrapping: client)) }
                server.beginGracefulShutdown()
            }
        }
    }

    /// What the TLS handshake hands the server for a verified client certificate.
    struct PresentedCertificate: ServerInterceptor {
        let certificate: Certificate?

        func intercept<Input: Sendable, Output: Sendable>(
            request: StreamingServerRequest<Input>, context: ServerContext,
            next: @Sendable (StreamingServerRequest<Input>, ServerContext) async throws -> StreamingServerResponse<Output>
        ) async throws -> StreamingServerResponse<Output> {
            var tls = HTTP2ServerTransport.Posix.Context()
            tls.peerCertificate = certificate
            var context = context
            context.transportSpecific = tls
            return try await next(request, context)
        }
    }

    @Test func aCallWithoutACertificate_isUnauthenticated_andEachRoleGetsItsOwnMethodsOnly() async throws {
        let f = try Fixture()
        try await f.withClient(as: nil) { client in
            #expect(await rpcStatus { _ = try await client.clock(Footfall_V1_ClockRequest()) } == .unauthenticated)
        }
        try await f.withClient(as: f.peer) { client in
            let reading = try await client.clock(Footfall_V1_ClockRequest())
            #expect(reading.wallMs == f.t.clock.nowMs)
            #expect(await rpcStatus { _ = try await client.removeMember(.with { $0.name = "node-3" }) } == .permissionDenied,
                    "a node certificate cannot change the ring")
            #expect(await rpcStatus { _ = try await client.revokeNode(.with { $0.name = "node-3" }) } == .permissionDenied)
            #expect(await rpcStatus { _ = try await client.fetchClusterSecrets(Footfall_V1_ClusterSecretsRequest()) } == .permissionDenied,
                    "node-2 holds no ranges of this ring: no daily-salt seed for it")
        }
        try await f.withClient(as: f.admin) { client in
            #expect(await rpcStatus { _ = try await client.clock(Footfall_V1_ClockRequest()) } == .permissionDenied,
                    "an operator's certificate is not a member's")
            #expect(await rpcStatus { _ = try await client.removeMember(.with { $0.name = "node/3" }) } == .invalidArgument)
            #expect(await rpcStatus { _ = try await client.removeMember(.with { $0.name = "node-3" }) } == .notFound,
                    "the membership core refuses a name that holds no ranges")
        }
    }

    /// A revocation takes effect on the revoked certificate's next call (no new connection needed),
    /// and an operator cannot revoke the certificate it calls with.
    @Test func aRevokedNodeCertificate_isRefusedAtItsNextCall() async throws {
        let f = try Fixture()
        try await f.withClient(as: f.peer) { client in
            _ = try await client.clock(Footfall_V1_ClockRequest())
        }
        try await f.withClient(as: f.admin) { client in
            #expect(await rpcStatus { _ = try await client.revokeNode(.with { $0.name = "admin"; $0.isOperator = true }) } == .failedPrecondition)
            let revoked = try await client.revokeNode(.with { $0.name = "node-2" })
            #expect(revoked.revokedMs == f.t.clock.nowMs)
        }
        try await f.withClient(as: f.peer) { client in
            #expect(await rpcStatus { _ = try await client.clock(Footfall_V1_ClockRequest()) } == .permissionDenied)
        }
    }

    /// A peer's replica request is applied and acknowledged; malformed requests of each kind are
    /// INVALID_ARGUMENT and store nothing.
    @Test func replicaRequests_areAppliedWhole_orRefusedAsInvalid() async throws {
        let f = try Fixture()
        let site = SiteID("a.example")!
        let at = f.t.clock.nowMs
        let event = Event(id: EventID.forHit(site: site, hitID: "hit-00000001", timestampMs: at), site: site,
                          visitor: VisitorID(rawValue: 9), timestampMs: at, kind: .pageview, path: "/")
        try await f.withClient(as: f.peer) { client in
            var outOfRange = EventCodec.message(event)
            outOfRange.timestampMs = .max
            #expect(await rpcStatus { _ = try await client.replicate(.with { $0.id = 1; $0.events = .with { $0.events = [outOfRange] } }) } == .invalidArgument)
            #expect(try f.t.node.store.storedEvents(site: site, ids: [event.id]).isEmpty)

            let ack = try await client.replicate(.with { $0.id = 2; $0.events = .with { $0.events = [EventCodec.message(event)] } })
            #expect(ack.id == 2 && ack.stored == 1)
            let fetched = try await client.repairEvents(.with { $0.site = site.rawValue; $0.ids = [Data(event.id.bytes)] })
            #expect(fetched.events.map(\.path) == ["/"])

            #expect(await rpcStatus {
                _ = try await client.repairEvents(.with { $0.site = site.rawValue; $0.ids = Array(repeating: Data(event.id.bytes), count: ReplicaWire.eventsMax + 1) })
            } == .invalidArgument)
            #expect(await rpcStatus { _ = try await client.repairEvents(.with { $0.site = "not a site"; $0.ids = [] }) } == .invalidArgument)
            #expect(await rpcStatus { _ = try await client.clusterRing(.with { $0.sites = (0...1000).map { "s\($0).example" } }) } == .invalidArgument)
        }
    }
}
