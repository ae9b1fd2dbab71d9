import Dispatch
import FootfallCluster
import FootfallCrypto
import FootfallIngest
import FootfallModel
import FootfallProtocols
import FootfallRuntime
import FootfallStorage
import FootfallSystem
import Foundation
import Logging
import Synchronization

/// How a node is set up. Each field has a flag and a `FOOTFALL_…` environment variable in the CLI.
public struct NodeConfiguration: Sendable {
    /// Folder for RocksDB, the salt seed and TLS material.
    public var dataDirectory = "./data"
    public var httpHost = "127.0.0.1"
    public var httpPort = 8080
    /// Name of this node in erasure receipts and logs.
    public var nodeName = "node-1"
    /// Peers whose `X-Forwarded-For` is believed (a load balancer in front of the node).
    public var trustedProxies: [IPAddress] = []
    /// An operator-supplied MaxMind database; without it, Debian's legacy country files are used.
    public var geoIPDatabase: String?
    /// fsync the WAL before acknowledging a batch (the default). Off trades a power-loss window
    /// for throughput; a process crash still loses nothing that was acknowledged.
    public var syncWrites = true
    /// Serve HTTPS with this certificate chain and key (PEM); plain HTTP then only redirects.
    public var tlsCertificate: String?
    public var tlsKey: String?
    public var httpsPort = 8443
    public var compression: RocksDBStore.Settings.Compression = .zstd
    /// Free space kept on the data disk; below it new data is refused (503) until space is freed.
    public var diskReserveBytes: Int64 = RocksDBStore.Settings().diskReserveBytes
    /// Hits per second one client IP may send before getting 429.
    public var hitsPerSecondPerIP: Double = 50
    /// scrypt's N; lower only in tests.
    public var scryptCostN: UInt64 = 1 << 15

    /// Allow plain HTTP on a non-loopback address (a TLS-terminating proxy in front).
    public var allowPlainHTTP = false

    /// The internal service, membership and certificates.
    public var cluster = ClusterConfiguration()
    /// The public gRPC service (queries, export, erasure) on `httpHost`; nil turns it off.
    public var publicGRPCPort: Int? = 8090
    /// Replication factor, write consistency, hint window and store size (see `Replication.Settings`).
    public var replication = Replication.Settings()
    /// Memory for sealed days decoded for filtered reports (`EventStore`'s segment cache).
    public var segmentCacheBytes = 256 << 20
    /// Memory for the days not sealed (today, yesterday, late hits) held for reports
    /// (`EventStore`'s hot tier); a busy day dropped for it is read from its rows again.
    public var hotDaysBytes = 512 << 20
    /// How often at most one site's erased data is compacted out of the files: the first erasure
    /// in a while is purged at once (in the background), later ones within this interval together
    /// when it ends.
    public var erasurePurgeInterval: Duration = .seconds(30)
    /// How often anti-entropy compares this node's sites with their other replicas.
    public var repairInterval: Duration = .seconds(60)
    /// Writes younger than this are still arriving: anti-entropy leaves them out.
    public var repairSettleMs: Int64 = 60_000
    /// How often system data (accounts, sites, tokens, sessions) is compared with a random peer.
    public var systemSyncInterval: Duration = .seconds(5)
    /// A node that has peers but synced system data with none for this long refuses credentials.
    public var systemStaleAfter: Duration = .seconds(60)
    /// How far this node's clock may be off its peers' before it refuses writes (`ClockAgreement`).
    public var clockAgreement = ClockAgreement.Settings()

    public init() {}

    /// HTTPS by default (promise 12): plain HTTP is served only on loopback, unless the operator
    /// says a TLS-terminating proxy is in front.
    public func validate() throws {
        // Checked before anything binds: a port past 65535 trapped where NIO narrows it, and a
        // port of 0 (any free one) is announced as 0, which no client or peer can reach. The
        // gRPC port's 0 turns it off (nil here).
        for (flag, port) in [("--port", httpPort), ("--https-port", httpsPort), ("--grpc-port", publicGRPCPort ?? 1),
                             ("--cluster-port", cluster.listenPort)] where !(1...65_535).contains(port) {
            throw FootfallError.invalid("\(flag) must be 1 to 65535")
        }
        if (tlsCertificate == nil) != (tlsKey == nil) {
            throw FootfallError.invalid("--tls-cert and --tls-key go together")
        }
        let loopback = ["127.0.0.1", "::1", "localhost"].contains(httpHost) || httpHost.hasPrefix("127.")
        if tlsCertificate == nil && !loopback && !allowPlainHTTP {
            throw FootfallError.invalid("plain HTTP is served only on loopback; give --tls-cert and --tls-key, or --insecure-http behind a TLS proxy")
        }
        // The public gRPC port carries bearer tokens too, and no HTTP proxy fronts it: off
        // loopback it is served with the node's certificate or not at all.
        if tlsCertificate == nil && !loopback && publicGRPCPort != nil {
            throw FootfallError.invalid("the public gRPC port is served in plain text only on loopback; give --tls-cert and --tls-key, or turn it off with --grpc-port 0")
        }
    }
}

/// One Footfall node: storage, the system records, the ingest pipeline and the reports, wired
/// together. The HTTP layer (`HTTPRoutes`) and background jobs call into it.
public final class Node: Sendable {
    public let configuration: NodeConfiguration
    public let clock: any WallClock
    public let kv: any KeyValueStore
    public let store: EventStore
    public let system: SystemStore
    public let salts: SaltKeeper
    public let pipeline: IngestPipeline
    public let reports: Reports
    public let metrics = NodeMetrics()
    public let rateLimiter: RateLimiter<IPAddress>
    /// Password guesses (sign-ins and password changes) per client address: scrypt is
    /// deliberately slow, so guessing must be slow too.
    package let loginLimiter = RateLimiter<IPAddress>(ratePerSecond: 1, burst: 10)
    /// Password-change attempts per account, whatever addresses they come from: a stolen session
    /// cannot guess the current password from many addresses.
    package let passwordChangeLimiter = RateLimiter<String>(ratePerSecond: 1.0 / 60, burst: 5)
    /// scrypt runs here, one at a time, never on the cooperative thread pool that serves requests.
    private let passwordQueue = DispatchQueue(label: "footfall.passwords")
    /// scrypt jobs waiting or running at most (each takes about 0.1 s and 32 MiB): past that a
    /// guess is refused at once, so a flood never builds a queue that real sign-ins wait behind.
    let passwordJobs = ConcurrencyLimit<String>(perKeyMax: 4)
    /// Live streams (`/api/sites/{site}/live`) open at once per credential: each polls a report a
    /// second, so one leaked token must not open thousands.
    public let liveStreams = ConcurrencyLimit<String>(perKeyMax: 4)
    /// QUORUM and ALL reads repair the replicas they read first: one such repair per site at once.
    let readRepairs = ConcurrencyLimit<SiteID>(perKeyMax: 1)
    let committer: GroupCommitter
    /// Every write and erasure goes through here to the site's replicas (this node alone, on a
    /// single node).
    public let replication: ReplicationShell
    /// Whether this node's accounts, sites and tokens may be stale: from the start for a node
    /// that joins through seeds until its first sync with a peer holding the cluster's copy, and
    /// after `systemStaleAfter` without one.
    package let systemDataCheck: SystemDataCheck
    /// Whether this node's wall clock agrees with its peers' (their readings kept by the clock watch).
    package let clockCheck: ClockCheck
    public let logger: Logger
    /// Blocking reads (reports over raw events, repair scans) run here, off the request threads.
    private let readQueue = DispatchQueue(label: "footfall.reads", attributes: .concurrent)

    public init(configuration: NodeConfiguration, clock: any WallClock = SystemClock(), kv: (any KeyValueStore)? = nil,
                geo: (any GeoLocator)? = nil, logger: Logger = Logger(label: "footfall")) throws {
        self.configuration = configuration
        self.clock = clock
        clockCheck = ClockCheck(settings: configuration.clockAgreement, clock: clock)
        self.logger = logger
        try FileManager.default.createDirectory(atPath: configuration.dataDirectory, withIntermediateDirectories: true)
        if let kv {
            self.kv = kv
        } else {
            let folder = configuration.dataDirectory
            try DataCorruption.refuseIfMarked(dataDirectory: folder)
            var settings = RocksDBStore.Settings()
            settings.compression = configuration.compression
            settings.diskReserveBytes = configuration.diskReserveBytes
            settings.onCorruption = { message in DataCorruption.stop(dataDirectory: folder, message: message, nowMs: clock.nowMs) }
            self.kv = try RocksDBStore(path: (configuration.dataDirectory as NSString).appendingPathComponent("db"), settings: settings)
        }
        let system = SystemStore(kv: self.kv, scryptCostN: configuration.scryptCostN, nodeName: configuration.nodeName, clock: clock)
        self.system = system
        store = try EventStore(kv: self.kv, syncWrites: configuration.syncWrites,
                               purgeIntervalMs: Int64(configuration.erasurePurgeInterval.components.seconds) * 1000,
                               segmentCacheBytes: configuration.segmentCacheBytes, hotDaysBytes: configuration.hotDaysBytes, openedAtMs: clock.nowMs) { site in
            (try? system.site(site)).map { SiteCalendar(identifier: $0.timeZone) } ?? .utc
        }
        salts = try SaltKeeper(dataDirectory: configuration.dataDirectory)
        let locator: any GeoLocator
        if let geo {
            locator = geo
        } else if let path = configuration.geoIPDatabase {
            locator = try MaxMindLocator(path: path)
        } else {
            locator = LegacyGeoIPLocator() ?? NoGeoLocator()
        }
        pipeline = IngestPipeline(geo: locator, nodeField: UInt32(bigEndianBytes: Crypto.randomBytes(4)))
        reports = Reports(store: store)
        rateLimiter = RateLimiter<IPAddress>(ratePerSecond: configuration.hitsPerSecondPerIP, burst: configuration.hitsPerSecondPerIP * 4)
        let retention: @Sendable (SiteID) -> RetentionPlan = { site in (try? system.site(site))?.retention ?? .default }
        let store = store
        committer = GroupCommitter(clock: clock) { events, nowMs in try store.apply(events, nowMs: nowMs, retention: retention) }
        let joinsCluster = !configuration.cluster.seeds.isEmpty
        systemDataCheck = try SystemDataCheck(kv: self.kv, system: system, joinsCluster: joinsCluster,
                                              staleAfterMs: configuration.systemStaleAfter.nanoseconds / 1_000_000, clock: clock, logger: logger)
        let persisted = try ClusterStateFile(dataDirectory: configuration.dataDirectory).ownership()
        let firstRing = persisted.isEmpty
            ? Ring(epoch: 0, members: joinsCluster ? [] : [configuration.nodeName])
            : Membership.readRing(of: persisted)
        replication = try ReplicationShell(
            myself: configuration.nodeName, settings: configuration.replication, store: store, committer: committer, kv: self.kv,
            clock: clock, metrics: metrics, logger: logger, joinsCluster: joinsCluster, ring: firstRing, retention: retention)
        system.checkWrites { [weak self] in try self?.requireClockAgreement() }
    }

    /// Each site's retention plan (the default for a site this node does not know).
    public var retentionPlan: @Sendable (SiteID) -> RetentionPlan {
        let system = system
        return { site in (try? system.site(site))?.retention ?? .default }
    }

    /// Runs blocking storage work off the cooperative thread pool.
    package func offloaded<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            readQueue.async { continuation.resume(with: Result { try work() }) }
        }
    }

    /// Runs password hashing (login, password change) off the request threads, or refuses it
    /// with 503 when `passwordJobs` are all taken.
    package func hashingPasswords<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        let busy = FootfallError(.unavailable, "too many passwords are being checked right now; retry in a few seconds", retryAfterSeconds: 2)
        return try await passwordJobs.run("scrypt", refusal: busy) {
            try await withCheckedThrowingContinuation { continuation in
                passwordQueue.async { continuation.resume(with: Result { try work() }) }
            }
        }
    }

    // MARK: Ingest

    public struct IngestResult: Codable, Equatable, Sendable {
        public var accepted = 0
        public var duplicates = 0
        public var dropped = 0
        /// Set when a hit's consented visitor id was erased: the id is refused for good, so the
        /// tracker forgets it (and makes a new one at the visitor's next consent).
        public var renewVisitorID: Bool?

        public init(accepted: Int = 0, duplicates: Int = 0, dropped: Int = 0, renewVisitorID: Bool? = nil) {
            self.accepted = accepted
            self.duplicates = duplicates
            self.dropped = dropped
            self.renewVisitorID = renewVisitorID
        }

        enum CodingKeys: String, CodingKey {
            case accepted, duplicates, dropped
            case renewVisitorID = "renew_vid"
        }
    }

    /// Runs hits through the privacy pipeline and writes them to their sites' replicas. A batch is
    /// all or nothing: if any hit is malformed, none is stored and the error names the first bad
    /// field. It is answered once `consistency` (the node's default when nil) is met; otherwise it
    /// fails with 503 and the client retries with the same hit ids (nothing is counted twice).
    public func ingest(_ hits: [Hit], context: HitContext, consistency: Replication.Consistency? = nil) async throws -> IngestResult {
        try requireClockAgreement()
        var events = [Event]()
        var result = IngestResult()
        let currentSalts = try salts.salts(nowMs: context.nowMs)
        var knownSites = [SiteID: Bool]() // a batch names one site, usually: look it up once
        for (index, hit) in hits.enumerated() {
            do {
                guard let siteID = SiteID(hit.site) else { throw HitRejection.unknownSite(hit.site) }
                if knownSites[siteID] == nil { knownSites[siteID] = try system.site(siteID) != nil }
                guard knownSites[siteID] == true else { throw HitRejection.unknownSite(hit.site) }
                events.append(try pipeline.event(from: hit, site: siteID, context: context, salts: currentSalts))
            } catch let rejection as HitRejection {
                metrics.increment("footfall_ingest_rejects_total", labels: ["reason": rejection.metricReason])
                switch rejection {
                case .bot:
                    result.dropped += 1
                case let .invalid(field, reason):
                    throw FootfallError.invalid(hits.count > 1 ? "hit \(index): \(field) \(reason)" : "\(field) \(reason)")
                case .unknownSite where systemDataCheck.isStale:
                    // The site may exist and this node not know it yet: the tracker retries a 503,
                    // never a 404.
                    throw FootfallError.unavailable("this node has not synced the cluster's sites yet; retry shortly")
                case .unknownSite:
                    throw FootfallError.notFound("no site \(String(hit.site.prefix(64)).debugDescription) is registered on this installation")
                case .noSalt:
                    throw FootfallError.unavailable("this node has no daily salt yet and cannot count cookieless visitors")
                }
            }
        }
        if !events.isEmpty {
            let (outcome, applied) = await replication.write(events, consistency: consistency ?? configuration.replication.defaultConsistency)
            switch outcome {
            case .succeeded:
                break
            case let .failed(acknowledged, required):
                metrics.increment("footfall_ingest_failures_total", labels: ["reason": "consistency"])
                throw FootfallError.unavailable("only \(acknowledged) of the \(required) replicas needed acknowledged in time; retry with the same hit ids")
            case let .unavailable(alive, required):
                metrics.increment("footfall_ingest_failures_total", labels: ["reason": "unavailable"])
                throw FootfallError.unavailable("only \(alive) replicas are reachable and \(required) are needed; retry with the same hit ids")
            case .overloaded:
                metrics.increment("footfall_ingest_failures_total", labels: ["reason": "overloaded"])
                throw FootfallError(.unavailable, "this node is waiting on as many writes as it holds at once; retry with the same hit ids",
                                    retryAfterSeconds: 1)
            }
            result.accepted += applied.stored
            result.duplicates += applied.duplicates
            result.dropped += applied.expired + applied.fenced + applied.capped
            if applied.expired > 0 { metrics.increment("footfall_ingest_rejects_total", by: Double(applied.expired), labels: ["reason": "expired"]) }
            if applied.capped > 0 { metrics.increment("footfall_ingest_rejects_total", by: Double(applied.capped), labels: ["reason": "capped"]) }
            if applied.fenced > 0 {
                metrics.increment("footfall_ingest_rejects_total", by: Double(applied.fenced), labels: ["reason": "erased"])
                if events.contains(where: \.consented) { result.renewVisitorID = true }
            }
        }
        metrics.increment("footfall_ingest_events_total", by: Double(result.accepted))
        metrics.increment("footfall_ingest_duplicates_total", by: Double(result.duplicates))
        if !events.isEmpty { metrics.increment("footfall_ingest_batches_total") }
        return result
    }

    // MARK: Maintenance

    /// Seals settled days into segments, removes raw data past each site's retention, deletes
    /// accounts idle for 720 days with their sites' data, and refreshes the storage and retention
    /// gauges. Run hourly by `serve`.
    public func runMaintenance() throws {
        let now = clock.nowMs
        for account in try system.accounts() where AccountExpiry.isExpired(lastActiveMs: account.lastActiveMs, nowMs: now) {
            // Tombstones the account's sites: this pass and every other node's delete their data.
            try system.deleteAccount(account)
            logger.info("deleted an account idle for over 720 days", metadata: ["account.id": "\(account.id)"])
        }
        try deleteDataOfDeletedSites()
        for site in try system.sites() {
            // Sealing first: it builds the settled dates' rollups from their segments, so the build
            // retention does before deleting finds them done. The other way round, a node back
            // from days away built those dates from rows and again once sealing had folded them.
            let sealing = try store.sealSegments(site: site.id, plan: site.retention, nowMs: now)
            if sealing.sealed > 0 { metrics.increment("footfall_segments_sealed_total", by: Double(sealing.sealed)) }
            try store.enforceRetention(site: site.id, plan: site.retention, nowMs: now)
            let oldest = try store.oldestEventMs(site: site.id)
            metrics.set("footfall_retention_oldest_event_age_seconds", to: oldest.map { Double(now - $0) / 1000 } ?? 0,
                        labels: ["site": site.id.rawValue])
        }
        // One flush for the whole run lets RocksDB drop write-ahead logs that still held deleted data.
        try (kv as? RocksDBStore)?.flushAll()
        for family in ColumnFamily.allCases {
            metrics.set("footfall_storage_bytes", to: Double(kv.approximateSize(family)), labels: ["family": family.rawValue])
        }
        metrics.increment("footfall_retention_runs_total")
    }

    /// Reads every site's recent days into memory (`EventStore.warmUp`): once after a start, by the
    /// maintenance service, so the first reports after a restart do not each wait for a build
    /// from rows. A report that comes first builds its day itself and the warm-up waits for it.
    public func warmUp() {
        let started = clock.monotonicMs
        var warmed = 0
        for site in (try? system.sites()) ?? [] {
            do {
                try store.warmUp(site: site.id, nowMs: clock.nowMs)
                warmed += 1
            } catch {
                logger.warning("could not read a site's recent days into memory", metadata: ["site": "\(site.id)", "error": "\(error)"])
            }
        }
        logger.info("recent days read into memory", metadata: ["sites": "\(warmed)", "ms": "\(clock.monotonicMs - started)"])
    }

    /// Hits are checked or stamped, erasures fenced, CRM edits and system records ordered by this
    /// node's clock: while it is off its peers', they are refused, so clients retry through a node
    /// whose clock agrees.
    func requireClockAgreement() throws {
        let peersAheadMs = clockCheck.disagreementMs
        guard peersAheadMs == 0 else {
            let direction = peersAheadMs > 0 ? "behind" : "ahead of"
            throw FootfallError.unavailable("this node's clock is \(abs(peersAheadMs) / 1000) s \(direction) its peers'; "
                           + "send writes to another node until its clock is fixed")
        }
    }

    /// How far ahead of this node's clock a peer's stamp (a process uid, a system record's clock)
    /// may be: the cluster's skew limit, plus how far the peers' clocks are ahead of this one when
    /// they are. So a node whose clock is behind still takes its peers' honest stamps, and joins,
    /// while it refuses writes; a stamp beyond what the cluster's clocks say is refused everywhere.
    package var peerStampAllowanceMs: Int64 {
        configuration.clockAgreement.maxOffsetMs + max(0, clockCheck.disagreementMs)
    }

    /// The largest process uid a peer may name (uids are start times in ms), by the same rule.
    package var peerUIDMax: UInt64 { UInt64(max(0, clock.nowMs + peerStampAllowanceMs)) }

    /// Erases a visitor on every replica of the site and returns the receipt: the replicas that
    /// confirmed, and those that will when they return (their erasure is hinted). Every event of
    /// the visitor up to now, plus how far ahead a client clock may be, is fenced for good.
    /// Throws `unavailable` when fewer than a quorum of the replicas confirmed.
    public func erase(site: SiteID, visitor: VisitorID) async throws -> ErasureReceipt {
        try requireClockAgreement()
        guard await !replication.ring.preferenceList(for: site, replicationFactor: configuration.replication.replicationFactor).isEmpty else {
            throw FootfallError.unavailable("this node has not joined its cluster yet; try again shortly")
        }
        let requestID = "er_" + Hex.encode(Crypto.randomBytes(8))
        let now = clock.nowMs
        let order = Replication.ErasureOrder(requestID: requestID, site: site, visitor: visitor,
                                             fenceMs: now + pipeline.limits.clientClockAheadMaxMs)
        let result = await replication.erase(order)
        if case .failed(let confirmed, let required) = result.outcome {
            // Applied where it reached and hinted to the rest, but one lost disk could still undo
            // it: the owner sends it again, as with a write that missed its quorum.
            logger.warning("an erasure reached fewer replicas than a quorum", metadata: [
                "erasure.site": "\(site)", "erasure.request": "\(requestID)", "erasure.confirmed": "\(confirmed)"])
            throw FootfallError(.unavailable, "the erasure reached \(confirmed) of the \(required) replicas it needs; "
                                + "it is applied there and will reach the rest, but send it again to be sure it holds", retryAfterSeconds: 5)
        }
        metrics.increment("footfall_erasures_total")
        logger.info("erased a visitor", metadata: ["erasure.site": "\(site)", "erasure.request": "\(requestID)",
                                                  "erasure.pending": "\(result.pending.count)"])
        let states = await erasureStates(site: site, visitor: visitor)
        return ErasureReceipt(order: order, confirmations: result.confirmations, pending: result.pending,
                              deletedEvents: states.values.map(\.deletedEvents).max() ?? 0)
    }

    /// The receipt of the latest erasure of a visitor, merged from every replica that answers.
    public func erasureStatus(site: SiteID, visitor: VisitorID) async throws -> ErasureReceipt {
        let states = await erasureStates(site: site, visitor: visitor)
        guard let latest = states.values.max(by: { ($0.erasedAtMs, $0.requestID) < ($1.erasedAtMs, $1.requestID) }) else {
            throw FootfallError.notFound("no erasure of that visitor on this site")
        }
        let replicas = await replication.ring.preferenceList(for: site, replicationFactor: configuration.replication.replicationFactor)
        let confirmations = states.filter { $0.value.requestID == latest.requestID }.compactMap { name, state in
            state.confirmations.first.map { ErasureRecord.Confirmation(node: name, confirmedAtMs: $0.confirmedAtMs) }
        }
        let order = Replication.ErasureOrder(requestID: latest.requestID, site: site, visitor: visitor, fenceMs: latest.erasedAtMs)
        return ErasureReceipt(order: order, confirmations: confirmations,
                              pending: replicas.filter { name in !confirmations.contains { $0.node == name } },
                              deletedEvents: states.values.map(\.deletedEvents).max() ?? 0)
    }
}

/// What the cluster's shells and its internal service see of the node.
extension Node: NodeServiceHost {
    package var nodeName: String { configuration.nodeName }
    package var replicationFactor: Int { configuration.replication.replicationFactor }
    package var seeds: [String] { configuration.cluster.seeds }
    package var dataDirectory: String { configuration.dataDirectory }
    package var clusterSettings: ClusterSettings {
        ClusterSettings(cluster: configuration.cluster, systemSyncInterval: configuration.systemSyncInterval,
                        repairInterval: configuration.repairInterval, repairSettleMs: configuration.repairSettleMs)
    }
}
