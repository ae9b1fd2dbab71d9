import FootfallModel
import FootfallProtocols
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2Posix
import Logging
import ServiceLifecycle

/// The node's part in the cluster as one service: the internal gRPC server (mutual TLS), the
/// membership shell, and the loops that feed replication its membership view, replicate system
/// data and run anti-entropy. On SIGTERM it leaves gracefully before the server stops.
public struct ClusterService: Service {
    public let shell: MembershipShell
    let host: any NodeServiceHost
    private let peers: PeerClients
    private let systemReplicator: SystemReplicator
    let repairs: AntiEntropyRunner
    private let clockWatch: ClockWatch
    private let mover: RangeMover
    private let server: GRPCServer<HTTP2ServerTransport.Posix>
    /// The internal service and the interceptor that authenticates its callers, as `server` runs
    /// them (tests run the same pair in-process, presenting a certificate for the caller).
    package let nodeService: any RegistrableRPCService
    package let authentication: ClusterAuthenticationInterceptor
    /// This node's certificate, read again from the certificate folder every few seconds.
    private let credential: ReloadingCredential
    private let configuration: ClusterConfiguration
    private let logger: Logger

    package init(host: any NodeServiceHost) throws {
        let settings = host.clusterSettings
        let configuration = settings.cluster
        let name = host.nodeName
        try ClusterIdentity.validate(name: name)
        let folder = CertificateDirectory(path: configuration.certificateFolder(dataDirectory: host.dataDirectory))
        let authority = try folder.readAuthorityCertificatePEM()
        let authorityCertificate = try ClusterCertificates.certificate(fromPEM: authority)
        let credential: ReloadingCredential
        do {
            credential = try ReloadingCredential(label: "node", read: { try folder.readCredential(name: name) }) {
                try ClusterCertificates.checkOwn($0, as: .node(name), authority: authorityCertificate)
            }
        } catch {
            throw ClusterSetupError("\(folder.path)/\(name).pem cannot be served: \(error)")
        }
        let stateFile = ClusterStateFile(dataDirectory: host.dataDirectory)
        let myself = Membership.Member(name: name, uid: try stateFile.nextUID(wallClockMs: host.clock.nowMs),
                                       address: configuration.advertised)
        let peers = PeerClients(credential: credential, authorityPEM: authority, settings: configuration.transport, logger: host.logger)
        shell = try MembershipShell(myself: myself, configuration: configuration, stateFile: stateFile, peers: peers,
                                    salts: host.salts, wallClock: host.clock, metrics: host.metrics, logger: host.logger)
        self.host = host
        self.peers = peers
        systemReplicator = SystemReplicator(host: host, membership: shell, peers: peers, syncInterval: settings.systemSyncInterval)
        repairs = AntiEntropyRunner(host: host, interval: settings.repairInterval, settleMs: settings.repairSettleMs)
        mover = RangeMover(host: host, membership: shell)
        clockWatch = ClockWatch(host: host, membership: shell, peers: peers)
        let transport = try ClusterTransport.serverTransport(
            host: configuration.listenHost, port: configuration.listenPort, credential: credential,
            authorityCertificatePEM: authority, settings: configuration.transport)
        nodeService = NodeServiceHandler(host: host, shell: shell, repairs: repairs, mover: mover)
        authentication = ClusterAuthenticationInterceptor(allowing: NodeServiceHandler.policy, refusing: { [system = host.system] in
            system.isRevoked($0, certificate: $1)
        })
        server = GRPCServer(transport: transport, services: [nodeService], interceptors: [authentication])
        self.credential = credential
        self.configuration = configuration
        self.logger = host.logger
    }

    public func run() async throws {
        let shell = shell, server = server, host = host, peers = peers
        let systemReplicator = systemReplicator, repairs = repairs, mover = mover, clockWatch = clockWatch, credential = credential
        let grace = configuration.leaveGracePeriod
        await host.replication.attach(peers: peers)
        // One short task per local change (an owner's or operator's request): the pushes it starts
        // are bounded per peer by the replicator.
        host.system.onChange { records in Task { await systemReplicator.push(records) } }
        host.system.onMalformedRecord { [logger = host.logger, metrics = host.metrics] kind, error in
            logger.error("skipped a stored system record that cannot be decoded", metadata: ["system.kind": "\(kind)", "error": "\(error)"])
            metrics.increment("footfall_system_records_malformed_total", labels: ["kind": kind])
        }
        try await withGracefulShutdownHandler {
            try await withThrowingDiscardingTaskGroup { group in
                group.addTask { await shell.run() }
                group.addTask { await ClusterService.feedMembershipViews(from: shell, to: host.replication) }
                group.addTask { await host.replication.run() }
                group.addTask { await systemReplicator.run() }
                group.addTask { await repairs.run() }
                group.addTask { await mover.run() }
                group.addTask { await clockWatch.run() }
                group.addTask { await credential.run(logger: logger) }
                group.addTask {
                    if let address = try await server.listeningAddress {
                        logger.info("internal service listening (mutual TLS)", metadata: ["cluster.listen": "\(address)"])
                    }
                }
                // The loops run until the server has stopped (after a graceful leave).
                try await server.serve()
                group.cancelAll()
            }
        } onGracefulShutdown: {
            Task {
                await shell.leave(gracePeriod: grace)
                server.beginGracefulShutdown()
            }
        }
    }
}

extension ClusterService {
    /// Hands replication each new membership view (ring and live members) as the membership
    /// shell publishes it.
    static func feedMembershipViews(from membership: MembershipShell, to replication: ReplicationShell) async {
        for await view in membership.views { await replication.follow(view) }
    }
}

/// Certificates a node needs, created on first start where that is safe.
public enum ClusterSetup {
    /// The embedded default (no seeds): on an empty certificate folder, creates the cluster CA, this
    /// node's certificate and an operator certificate named "admin" for the CLI. A joining node
    /// must be given its certificate (`footfall certs node NAME` where the CA key lives); one is
    /// issued here only if the CA key is in the folder.
    public static func prepareCertificates(nodeName name: String, cluster: ClusterConfiguration, dataDirectory: String, now: Date = Date(),
                                           print: (String) -> Void) throws {
        try ClusterIdentity.validate(name: name)
        let folder = CertificateDirectory(path: cluster.certificateFolder(dataDirectory: dataDirectory))
        let nodeCertificate = (folder.path as NSString).appendingPathComponent("\(name).pem")
        if FileManager.default.fileExists(atPath: nodeCertificate) { return }
        if !folder.hasAuthority {
            guard cluster.seeds.isEmpty else {
                throw ClusterSetupError("""
                    \(folder.path) holds no cluster CA: copy ca.pem, \(name).pem and \(name)-key.pem there \
                    (`footfall certs node \(name)` on the machine that holds the cluster CA)
                    """)
            }
            try folder.writeAuthority(ClusterCertificates.createAuthority(clusterName: name, now: now, validity: CertificateLifetimes.authority))
            let admin = try ClusterCertificates.issue(.operator("admin"), authority: folder.readAuthority(), now: now,
                                                      validity: CertificateLifetimes.leaf)
            try folder.writeCredential(admin, name: "admin")
            print("Created a cluster CA and an operator certificate \"admin\" in \(folder.path)")
        }
        let authority: PEMCredential
        do {
            authority = try folder.readAuthority()
        } catch {
            throw ClusterSetupError("\(folder.path) has no \(name).pem and no CA key to issue one: run `footfall certs node \(name)` where the CA key lives (\(error))")
        }
        try folder.writeCredential(ClusterCertificates.issue(.node(name), authority: authority, now: now, validity: CertificateLifetimes.leaf), name: name)
    }
}

/// How long generated certificates stay valid.
public enum CertificateLifetimes {
    public static let authority: Duration = .seconds(10 * 365 * 86_400)
    public static let leaf: Duration = .seconds(2 * 365 * 86_400)
}
