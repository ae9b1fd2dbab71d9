import FootfallCluster
import FootfallCrypto
import FootfallModel
import FootfallNode
import Foundation
import Hummingbird
import HummingbirdTLS
import Logging
import NIOCertificateReloading
import NIOSSL
import ServiceLifecycle

/// Runs a node: the HTTP(S) listeners and the hourly maintenance job, until SIGTERM or SIGINT.
public enum NodeServer {
    public static let maintenanceInterval: Duration = .seconds(3600)

    public static func run(_ node: Node) async throws {
        let configuration = node.configuration
        Backup.removeLeftovers(in: configuration.dataDirectory)
        try ClusterSetup.prepareCertificates(nodeName: configuration.nodeName, cluster: configuration.cluster,
                                             dataDirectory: configuration.dataDirectory) { node.logger.notice("\($0)") }
        let cluster = try ClusterService(host: node)
        let router = HTTPRoutes.router(for: node, clusterOverview: { await cluster.overview() })
        var services: [any Service] = [MaintenanceService(node: node), ErasurePurgeService(node: node), cluster]
        // HTTPS and the public gRPC port serve one certificate, read again from its files every
        // few seconds: a renewed one (an ACME client's, say) is served without a restart.
        let https = try configuration.tlsCertificate.flatMap { certificate in
            try configuration.tlsKey.map { key in
                try ReloadingCredential(label: "https", read: ReloadingCredential.files(certificate: certificate, key: key))
            }
        }
        if let port = configuration.publicGRPCPort { services.append(try PublicGRPCService(node: node, port: port, https: https)) }
        if let https {
            services.append(CredentialReloadService(credential: https, logger: node.logger))
            let tls = try TLSConfiguration.makeServerConfiguration(certificateReloader: https)
            services.append(Application(
                router: router, server: try .tls(.http1(), tlsConfiguration: tls),
                configuration: .init(address: .hostname(configuration.httpHost, port: configuration.httpsPort), serverName: "footfall"),
                logger: node.logger))
            services.append(Application(
                router: redirectRouter(httpsPort: configuration.httpsPort),
                configuration: .init(address: .hostname(configuration.httpHost, port: configuration.httpPort), serverName: "footfall"),
                logger: node.logger))
        } else {
            services.append(Application(
                router: router,
                configuration: .init(address: .hostname(configuration.httpHost, port: configuration.httpPort), serverName: "footfall"),
                logger: node.logger))
        }
        let group = ServiceGroup(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: node.logger)
        try await group.run()
    }

    /// Plain HTTP next to HTTPS only sends the client to HTTPS.
    static func redirectRouter(httpsPort: Int) -> Router<FootfallRequestContext> {
        let router = Router(context: FootfallRequestContext.self)
        router.on("**", method: .get) { request, _ -> Response in
            redirect(request, httpsPort: httpsPort)
        }
        router.on("**", method: .post) { request, _ -> Response in
            redirect(request, httpsPort: httpsPort)
        }
        return router
    }

    static func redirect(_ request: Request, httpsPort: Int) -> Response {
        let host = (request.head.authority ?? "localhost").split(separator: ":").first.map(String.init) ?? "localhost"
        let target = "https://\(host)\(httpsPort == 443 ? "" : ":\(httpsPort)")\(request.uri.path)\(request.uri.query.map { "?\($0)" } ?? "")"
        return Response(status: .permanentRedirect, headers: [.location: target])
    }

    /// On an empty data folder: the salt seed, an admin account and a first site, with the login
    /// printed once to the console (never to the log).
    public static func bootstrapIfEmpty(_ node: Node, firstSite: SiteID, print: (String) -> Void) throws {
        let now = node.clock.nowMs
        try node.salts.initialize(nowMs: now)
        guard try node.system.accounts().isEmpty else { return }
        let password = Hex.encode(Crypto.randomBytes(12))
        let account = try node.system.createAccount(email: "admin@localhost.localdomain", password: password, isOperator: true, nowMs: now)
        _ = try node.system.createSite(firstSite, ownerID: account.id, timeZone: "UTC", retention: .default, nowMs: now)
        let (_, secret) = try node.system.createToken(name: "first token", accountID: account.id, sites: nil,
                                                      rights: SiteRight.allCases, nowMs: now)
        print("""
        First start: created an admin account and the site \(firstSite).
          email:     \(account.email)
          password:  \(password)
          API token: \(secret)
        (shown once; change the password with POST /api/password)
        """)
    }
}

/// The hourly job: certificate expiry, retention, sealing, idle accounts, gauges; after the first
/// run, the warm-up of recent days.
struct MaintenanceService: Service {
    let node: Node

    func run() async throws {
        await cancelWhenGracefulShutdown {
            var warmedUp = false
            while !Task.isCancelled {
                CertificateExpiry.check(node)
                do {
                    // Sealing a backlog of days (a store upgraded from rows) can take minutes:
                    // off the cooperative threads, which serve requests.
                    try await node.offloaded { try node.runMaintenance() }
                } catch {
                    node.logger.error("maintenance failed", metadata: ["error": "\(error)"])
                }
                if !warmedUp {
                    // After sealing, so days it sealed are read from their segments, not rows.
                    try? await node.offloaded { node.warmUp() }
                    warmedUp = true
                }
                // Cancelled at shutdown: the loop ends instead of failing the service group.
                try? await Task.sleep(for: NodeServer.maintenanceInterval)
            }
        }
    }
}

/// Reads a certificate served outside the cluster (HTTPS) again every few seconds.
struct CredentialReloadService: Service {
    let credential: ReloadingCredential
    let logger: Logger

    func run() async throws {
        await cancelWhenGracefulShutdown { await credential.run(logger: logger) }
    }
}

/// Compacts erased data out of the files: every site's pending purge at start (what a crash left)
/// and at shutdown, and in between each site at most once per `erasurePurgeInterval`, a few seconds
/// after it falls due (see `ErasurePurges`).
struct ErasurePurgeService: Service {
    let node: Node
    static let pollInterval: Duration = .seconds(2)

    func run() async throws {
        await purge(force: true)
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try? await Task.sleep(for: ErasurePurgeService.pollInterval)
                await purge(force: false)
            }
        }
        await purge(force: true)
    }

    /// Compaction blocks for a while: off the threads that serve requests.
    private func purge(force: Bool) async {
        do {
            let store = node.store, now = node.clock.nowMs
            let purged = try await node.offloaded { try store.purgeErasedData(nowMs: now, force: force) }
            if purged > 0 { node.metrics.increment("footfall_erasure_purges_total", by: Double(purged)) }
        } catch {
            node.logger.error("purging erased data from the files failed; it is retried", metadata: ["error": "\(error)"])
        }
    }
}
