import ArgumentParser
import Foundation
import FootfallModel
import FootfallNode
import FootfallProtocols
import FootfallStorage
import Logging
#if canImport(FoundationNetworking)
import FoundationNetworking
import FootfallIngest
import FootfallRuntime
import FootfallCluster
import FootfallHTTP
#endif

@main
struct Footfall: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Privacy-first, real-time website analytics on its own event store.",
        subcommands: [Serve.self, ClusterCommand.self, CertsCommand.self, AccountCommand.self, SiteCommand.self, TokenCommand.self,
                      Query.self, Export.self, Erase.self, BackupCommand.self, RestoreCommand.self, VerifyCommand.self])
}

/// Options shared by commands that open a node's data folder directly (the node must be stopped:
/// RocksDB allows one process per folder).
struct DataOptions: ParsableArguments {
    @Option(help: "Data folder (env FOOTFALL_DATA).")
    var data: String = ProcessInfo.processInfo.environment["FOOTFALL_DATA"] ?? "./data"

    func openNode() throws -> Node {
        var configuration = NodeConfiguration()
        configuration.dataDirectory = data
        var logger = Logger(label: "footfall")
        logger.logLevel = .warning
        return try Node(configuration: configuration, geo: NoGeoLocator(), logger: logger)
    }
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run a node. With no flags: one node, data in ./data, http://127.0.0.1:8080.")

    @Option(help: "Data folder (env FOOTFALL_DATA).") var data: String?
    @Option(help: "Listen address (env FOOTFALL_HOST).") var host: String?
    @Option(help: "HTTP port (env FOOTFALL_PORT).") var port: Int?
    @Option(help: "HTTPS port when a certificate is given (env FOOTFALL_HTTPS_PORT).") var httpsPort: Int?
    @Option(help: "Node name used in receipts and logs (env FOOTFALL_NODE_NAME).") var nodeName: String?
    @Option(help: "PEM certificate chain; serves HTTPS and redirects HTTP (env FOOTFALL_TLS_CERT).") var tlsCert: String?
    @Option(help: "PEM private key for --tls-cert (env FOOTFALL_TLS_KEY).") var tlsKey: String?
    @Option(help: "MaxMind mmdb for country/region (env FOOTFALL_GEOIP_DB); default: Debian's geoip-database.") var geoipDb: String?
    @Option(help: "Comma-separated proxy IPs whose X-Forwarded-For is trusted (env FOOTFALL_TRUSTED_PROXIES).") var trustedProxies: String?
    @Option(help: "fsync the WAL before acknowledging hits: true (default) or false (env FOOTFALL_SYNC).") var sync: Bool?
    @Option(help: "Block compression of the data files: zstd (default), lz4 or none (env FOOTFALL_COMPRESSION).") var compression: String?
    @Option(help: "Memory in MiB for sealed days decoded for filtered reports (env FOOTFALL_SEGMENT_CACHE_MB); default 256.")
    var segmentCacheMb: Int?
    @Option(help: "Memory in MiB for today's and other unsealed days held for reports (env FOOTFALL_HOT_DAYS_MB); default 512. A busy site's day takes ~55 bytes a hit: hold every busy site's today and yesterday, or their rows are read again and again.")
    var hotDaysMb: Int?
    @Option(help: "Free space in MiB kept on the data disk: below it, new data is refused with 503 until space is freed (env FOOTFALL_DISK_RESERVE_MB); default 1024.")
    var diskReserveMb: Int?
    @Option(help: "Site created on first start (env FOOTFALL_FIRST_SITE).") var firstSite: String?
    @Flag(help: "Allow plain HTTP on a non-loopback address (for a TLS-terminating proxy in front).") var insecureHTTP = false
    @Option(name: .customLong("join"), help: "A member's internal address to join through, host:port (repeatable; env FOOTFALL_JOIN, comma-separated).")
    var seeds: [String] = []
    @Option(help: "Public gRPC port, beside HTTP (env FOOTFALL_GRPC_PORT); 0 turns it off.") var grpcPort: Int?
    @Option(help: "Internal (mutual TLS) listen address, an IP (env FOOTFALL_CLUSTER_HOST).") var clusterHost: String?
    @Option(help: "Internal port (env FOOTFALL_CLUSTER_PORT).") var clusterPort: Int?
    @Option(help: "host:port other nodes reach this one at (env FOOTFALL_ADVERTISE).") var advertise: String?
    @Option(help: "Folder with ca.pem and NAME.pem / NAME-key.pem; default DATA/certs (env FOOTFALL_CERTS).") var certs: String?
    @Option(help: "Membership probe interval in ms (env FOOTFALL_PROBE_INTERVAL_MS); default 400.") var probeIntervalMs: Int?
    @Option(help: "Replicas per site (env FOOTFALL_REPLICATION_FACTOR); default 3.") var replicationFactor: Int?
    @Option(help: "Write consistency when a request names none: one, quorum or all (env FOOTFALL_CONSISTENCY); default quorum.")
    var consistency: String?
    @Option(help: "Seconds a hint is kept for a replica that stays away (env FOOTFALL_HINT_WINDOW_S); default 10800.") var hintWindowS: Int?
    @Option(help: "Seconds between background anti-entropy passes (env FOOTFALL_REPAIR_INTERVAL_S); default 60.") var repairIntervalS: Int?
    @Option(help: "Seconds without a system-data sync with any peer after which credentials are refused (env FOOTFALL_SYSTEM_STALE_AFTER_S); default 60.")
    var systemStaleAfterS: Int?

    static let clockOffsetMaxMs = 366 * TimeUnits.dayMs

    func run() async throws {
        let env = ProcessInfo.processInfo.environment
        let configuration = try nodeConfiguration(env)
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = .info
            return handler
        }
        // Only the chaos suite sets this: it runs one node with a skewed wall clock. Monotonic time
        // (timeouts, probes) is untouched, as on a machine whose NTP is off.
        // Within a year, so every reading of the clock stays far from overflowing.
        let clockOffsetMs = env["FOOTFALL_CLOCK_OFFSET_MS"].map(Int64.init) ?? 0
        guard let clockOffsetMs, (-Serve.clockOffsetMaxMs...Serve.clockOffsetMaxMs).contains(clockOffsetMs) else {
            throw ValidationError("FOOTFALL_CLOCK_OFFSET_MS must be a whole number of ms within ±\(Serve.clockOffsetMaxMs) (a year)")
        }
        let node = try Node(configuration: configuration, clock: SystemClock(offsetMs: clockOffsetMs), logger: Logger(label: "footfall"))
        guard let site = SiteID(firstSite ?? env["FOOTFALL_FIRST_SITE"] ?? "localhost") else {
            throw ValidationError("--first-site must be a host name")
        }
        if configuration.cluster.seeds.isEmpty {
            try NodeServer.bootstrapIfEmpty(node, firstSite: site, print: console)
        }
        let scheme = configuration.tlsCertificate == nil ? "http" : "https"
        let port = configuration.tlsCertificate == nil ? configuration.httpPort : configuration.httpsPort
        let base = "\(scheme)://\(configuration.httpHost):\(port)"
        console("""
        Footfall node \(configuration.nodeName) on \(base) (data in \(configuration.dataDirectory))
          tracker:  <script defer data-site="\(site)" src="\(base)/t.js"></script>
          API:      \(base)/openapi.json   opt-out: \(base)/optout   metrics: \(base)/metrics
          gRPC:     \(configuration.httpHost):\(configuration.publicGRPCPort.map(String.init) ?? "off") (Proto/footfall/v1/public.proto, Bearer token)
          cluster:  \(configuration.cluster.advertised) (mutual TLS)   footfall cluster status --node \(configuration.cluster.advertised)
        """)
        try await NodeServer.run(node)
    }

    /// The node's configuration: each flag, else its environment variable, else the default.
    private func nodeConfiguration(_ env: [String: String]) throws -> NodeConfiguration {
        var configuration = NodeConfiguration()
        try serving(env, into: &configuration)
        try clustering(env, into: &configuration)
        do {
            try ClusterIdentity.validate(name: configuration.nodeName)
        } catch {
            throw ValidationError("--node-name: \(error)")
        }
        do {
            try configuration.validate()
        } catch let error as FootfallError {
            throw ValidationError(error.message)
        }
        return configuration
    }

    /// Where the node serves and keeps its data: address, ports, TLS, storage and memory, proxies.
    private func serving(_ env: [String: String], into configuration: inout NodeConfiguration) throws {
        configuration.dataDirectory = data ?? env["FOOTFALL_DATA"] ?? configuration.dataDirectory
        configuration.httpHost = host ?? env["FOOTFALL_HOST"] ?? configuration.httpHost
        configuration.httpPort = port ?? env["FOOTFALL_PORT"].flatMap(Int.init) ?? configuration.httpPort
        configuration.httpsPort = httpsPort ?? env["FOOTFALL_HTTPS_PORT"].flatMap(Int.init) ?? configuration.httpsPort
        configuration.nodeName = nodeName ?? env["FOOTFALL_NODE_NAME"] ?? configuration.nodeName
        configuration.tlsCertificate = tlsCert ?? env["FOOTFALL_TLS_CERT"]
        configuration.tlsKey = tlsKey ?? env["FOOTFALL_TLS_KEY"]
        configuration.geoIPDatabase = geoipDb ?? env["FOOTFALL_GEOIP_DB"]
        configuration.syncWrites = sync ?? env["FOOTFALL_SYNC"].map { $0 != "false" } ?? true
        switch compression ?? env["FOOTFALL_COMPRESSION"] ?? "zstd" {
        case "zstd": configuration.compression = .zstd
        case "lz4": configuration.compression = .lz4
        case "none": configuration.compression = .none
        case let other: throw ValidationError("--compression \(other): expected zstd, lz4 or none")
        }
        if let bytes = try mebibytes(diskReserveMb, flag: "disk-reserve-mb", env: env, key: "FOOTFALL_DISK_RESERVE_MB", most: 1 << 30) {
            configuration.diskReserveBytes = Int64(bytes)
        }
        if let bytes = try mebibytes(segmentCacheMb, flag: "segment-cache-mb", env: env, key: "FOOTFALL_SEGMENT_CACHE_MB", most: 1 << 20) {
            configuration.segmentCacheBytes = bytes
        }
        if let bytes = try mebibytes(hotDaysMb, flag: "hot-days-mb", env: env, key: "FOOTFALL_HOT_DAYS_MB", most: 1 << 20) {
            configuration.hotDaysBytes = bytes
        }
        let proxies = trustedProxies ?? env["FOOTFALL_TRUSTED_PROXIES"] ?? ""
        configuration.trustedProxies = try proxies.split(separator: ",").map { text in
            guard let ip = IPAddress(text) else { throw ValidationError("--trusted-proxies: \(text) is not an IP address") }
            return ip
        }
        configuration.allowPlainHTTP = insecureHTTP
    }

    /// A size given in MiB by `flag` or the environment's `key`, in bytes; nil when given by neither.
    private func mebibytes(_ given: Int?, flag: String, env: [String: String], key: String, most: Int) throws -> Int? {
        guard let megabytes = given ?? env[key].flatMap(Int.init) else { return nil }
        guard (0...most).contains(megabytes) else { throw ValidationError("--\(flag) must be 0 to \(most)") }
        return megabytes << 20
    }

    /// How the node joins and serves its cluster: seeds, ports, certificates, probes, replication
    /// and repair.
    private func clustering(_ env: [String: String], into configuration: inout NodeConfiguration) throws {
        let joinList = seeds.isEmpty ? (env["FOOTFALL_JOIN"] ?? "").split(separator: ",").map(String.init) : seeds
        for seed in joinList where HostAndPort(seed) == nil { throw ValidationError("--join \(seed): expected host:port") }
        configuration.cluster.seeds = joinList
        let publicPort = grpcPort ?? env["FOOTFALL_GRPC_PORT"].flatMap(Int.init) ?? 8090
        configuration.publicGRPCPort = publicPort == 0 ? nil : publicPort
        configuration.cluster.listenHost = clusterHost ?? env["FOOTFALL_CLUSTER_HOST"] ?? configuration.cluster.listenHost
        configuration.cluster.listenPort = clusterPort ?? env["FOOTFALL_CLUSTER_PORT"].flatMap(Int.init) ?? configuration.cluster.listenPort
        configuration.cluster.advertiseAddress = advertise ?? env["FOOTFALL_ADVERTISE"]
        configuration.cluster.certificateDirectory = certs ?? env["FOOTFALL_CERTS"]
        if let interval = probeIntervalMs ?? env["FOOTFALL_PROBE_INTERVAL_MS"].flatMap(Int.init) {
            // Checked before the timeouts are worked out from it: a huge value overflowed there.
            guard (10...60_000).contains(interval) else { throw ValidationError("--probe-interval-ms must be 10 to 60000") }
            configuration.cluster.membership.probeInterval = .milliseconds(interval)
            configuration.cluster.membership.probeTimeout = .milliseconds(interval / 2)
            configuration.cluster.membership.indirectNackTimeout = .milliseconds(interval * 2 / 5)
        }
        if let problem = configuration.cluster.membership.problems().first { throw ValidationError("membership: \(problem)") }
        if let factor = replicationFactor ?? env["FOOTFALL_REPLICATION_FACTOR"].flatMap(Int.init) {
            guard (1...9).contains(factor) else { throw ValidationError("--replication-factor must be 1 to 9") }
            configuration.replication.replicationFactor = factor
        }
        if let level = consistency ?? env["FOOTFALL_CONSISTENCY"] {
            guard let parsed = Replication.Consistency(rawValue: level) else { throw ValidationError("--consistency is one, quorum or all") }
            configuration.replication.defaultConsistency = parsed
        }
        if let seconds = hintWindowS ?? env["FOOTFALL_HINT_WINDOW_S"].flatMap(Int.init) {
            guard (1...2_592_000).contains(seconds) else { throw ValidationError("--hint-window-s must be 1 to 2592000 (30 days)") }
            configuration.replication.hintWindowMs = Int64(seconds) * 1000
        }
        if let seconds = systemStaleAfterS ?? env["FOOTFALL_SYSTEM_STALE_AFTER_S"].flatMap(Int.init) {
            guard (1...86_400).contains(seconds) else { throw ValidationError("--system-stale-after-s must be 1 to 86400 (a day)") }
            configuration.systemStaleAfter = .seconds(seconds)
        }
        if let seconds = repairIntervalS ?? env["FOOTFALL_REPAIR_INTERVAL_S"].flatMap(Int.init) {
            guard (1...86_400).contains(seconds) else { throw ValidationError("--repair-interval-s must be 1 to 86400 (a day)") }
            configuration.repairInterval = .seconds(seconds)
            // Tests run short intervals; writes settle for at most one interval.
            configuration.repairSettleMs = min(configuration.repairSettleMs, Int64(seconds) * 1000)
        }
    }
}

/// Writes a line to standard output unbuffered, so a piped console (make run | tee) sees it at once.
func console(_ text: String) {
    FileHandle.standardOutput.write(Data((text + "\n").utf8))
}

struct AccountCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "account", abstract: "Create site-owner accounts (node stopped).",
                                                    subcommands: [Create.self])
    struct Create: AsyncParsableCommand {
        @OptionGroup var options: DataOptions
        @Option var email: String
        @Option(help: "Password; read from FOOTFALL_PASSWORD when omitted.") var password: String?
        @Flag(help: "Grant the cluster operator principal.") var `operator` = false

        func run() async throws {
            guard let password = password ?? ProcessInfo.processInfo.environment["FOOTFALL_PASSWORD"] else {
                throw ValidationError("give --password or set FOOTFALL_PASSWORD")
            }
            let node = try options.openNode()
            let account = try node.system.createAccount(email: email, password: password, isOperator: `operator`, nowMs: node.clock.nowMs)
            print("created account \(account.email) (\(account.id))")
        }
    }
}

struct SiteCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "site", abstract: "Register and list sites (node stopped).",
                                                    subcommands: [Add.self, List.self])
    struct Add: AsyncParsableCommand {
        @OptionGroup var options: DataOptions
        @Option var domain: String
        @Option(help: "Owner's email.") var owner: String
        @Option var timezone = "UTC"
        @Option(help: "Retention plan in days, 30-360.") var retentionDays = 180

        func run() async throws {
            let node = try options.openNode()
            guard let site = SiteID(domain) else { throw ValidationError("--domain must be a host name") }
            guard let plan = RetentionPlan(days: retentionDays) else { throw ValidationError("--retention-days must be 30 to 360") }
            guard let account = try node.system.accounts().first(where: { $0.email == owner.lowercased() }) else {
                throw ValidationError("no account \(owner)")
            }
            _ = try await node.createSite(site, ownerID: account.id, timeZone: timezone, retention: plan)
            print("registered \(site) for \(account.email): <script defer data-site=\"\(site)\" src=\"https://YOUR-FOOTFALL/t.js\"></script>")
        }
    }
    struct List: AsyncParsableCommand {
        @OptionGroup var options: DataOptions
        func run() async throws {
            let node = try options.openNode()
            for site in try node.system.sites() { print("\(site.id)\t\(site.timeZone)\t\(site.retention.days)d") }
        }
    }
}

struct TokenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "token", abstract: "Create API tokens (node stopped).",
                                                    subcommands: [Create.self])
    struct Create: AsyncParsableCommand {
        @OptionGroup var options: DataOptions
        @Option(help: "Owner's email.") var owner: String
        @Option var name = "cli"
        @Option(help: "Comma-separated sites; all of the owner's when omitted.") var sites: String?
        @Option(help: "Comma-separated rights: read, visitors, erase, admin.") var rights = "read"

        func run() async throws {
            let node = try options.openNode()
            guard let account = try node.system.accounts().first(where: { $0.email == owner.lowercased() }) else {
                throw ValidationError("no account \(owner)")
            }
            let parsedRights = try rights.split(separator: ",").map { text in
                guard let right = SiteRight(rawValue: String(text)) else { throw ValidationError("unknown right \(text)") }
                return right
            }
            let parsedSites = try sites.map { list in
                try list.split(separator: ",").map { text in
                    guard let site = SiteID(String(text)) else { throw ValidationError("bad site \(text)") }
                    return site
                }
            }
            let (_, secret) = try node.system.createToken(name: name, accountID: account.id, sites: parsedSites, rights: parsedRights,
                                                          nowMs: node.clock.nowMs)
            print(secret)
        }
    }
}

/// Options of the commands that call a running node's API.
struct APIOptions: ParsableArguments {
    @Option(help: "Node address (env FOOTFALL_URL).") var url = ProcessInfo.processInfo.environment["FOOTFALL_URL"] ?? "http://127.0.0.1:8080"
    @Option(help: "API token (env FOOTFALL_TOKEN).") var token = ProcessInfo.processInfo.environment["FOOTFALL_TOKEN"] ?? ""

    func call(_ method: String, _ path: String, body: [String: String]? = nil) async throws -> String {
        guard let target = URL(string: url + path) else { throw ValidationError("bad --url") }
        var request = URLRequest(url: target)
        request.httpMethod = method
        request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization")
        if let body {
            request.httpBody = try JSONSerialization.data(withJSONObject: body)
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        }
        let (data, response) = try await URLSession.shared.data(for: request)
        let text = String(decoding: data, as: UTF8.self)
        guard let http = response as? HTTPURLResponse, (200..<300).contains(http.statusCode) else {
            throw ValidationError("the node answered \((response as? HTTPURLResponse)?.statusCode ?? 0): \(text)")
        }
        return text
    }
}

struct Query: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run a report: summary, timeseries, realtime or breakdown/DIMENSION.")
    @OptionGroup var api: APIOptions
    @Argument var site: String
    @Argument var report = "summary"
    @Option(help: "First local date, YYYY-MM-DD.") var from: String?
    @Option(help: "Last local date, YYYY-MM-DD.") var to: String?

    func run() async throws {
        var path = "/api/sites/\(site)/\(report)"
        if let from, let to { path += "?from=\(from)&to=\(to)" }
        print(try await api.call("GET", path))
    }
}

struct Export: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Export everything stored about a consented visitor (right of access).")
    @OptionGroup var api: APIOptions
    @Argument var site: String
    @Argument var visitor: String
    func run() async throws { print(try await api.call("GET", "/api/sites/\(site)/visitors/\(visitor)/export")) }
}

struct Erase: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Erase a visitor (right to be forgotten) and print the receipt.")
    @OptionGroup var api: APIOptions
    @Argument var site: String
    @Option var visitor: String?
    @Option var email: String?
    @Option var clientID: String?
    func run() async throws {
        var body = [String: String]()
        body["visitor"] = visitor
        body["email"] = email
        body["client_id"] = clientID
        print(try await api.call("POST", "/api/sites/\(site)/erasures", body: body))
    }
}
