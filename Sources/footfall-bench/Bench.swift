import ArgumentParser
import AsyncHTTPClient
import FootfallHTTP
import FootfallIngest
import FootfallModel
import FootfallNode
import FootfallStorage
import Foundation
import Hummingbird
import Logging
import NIOCore

/// The Footfall side of `make bench` (Bench/bench.py drives it): loads the shared data set into a
/// node's folder and posts it to a running node over HTTP. Release builds only.
@main
struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "footfall-bench",
        abstract: "Load the benchmark's data set into a node and measure HTTP ingest. Release builds only.",
        subcommands: [Load.self, Ingest.self, Flood.self, Discard.self, Warm.self])
}

func seconds(since start: ContinuousClock.Instant) -> Double {
    let elapsed = ContinuousClock.now - start
    return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
}

/// Writes the data set into a stopped node's folder through its `EventStore`, keeping every
/// event's own time (the HTTP path stamps old hits with the current hour, so history cannot come
/// in that way), then seals its settled days and compacts it. Visitors keep the data set's ids, so the unique-visitor counts
/// can be checked against an exact count. Prints a read token for the queries.
struct Load: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Load the data set CSV into a node's data folder (the node stopped).")
    @Option(help: "The data set (Bench/dataset.py).") var csv: String
    @Option(help: "The node's data folder.") var data = "./bench-data"
    @Option var batch = 1000

    func run() async throws {
        var configuration = NodeConfiguration()
        configuration.dataDirectory = data
        var logger = Logger(label: "bench")
        logger.logLevel = .warning
        let node = try Node(configuration: configuration, geo: NoGeoLocator(), logger: logger)
        let now = node.clock.nowMs
        try node.salts.initialize(nowMs: now)
        let owner = try node.system.accounts().first { $0.email == "bench@example.net" }
            ?? node.system.createAccount(email: "bench@example.net", password: "bench password 1", nowMs: now)
        let retention = RetentionPlan(days: 360)!
        var rows = try DatasetCSV(path: csv)
        defer { rows.close() }
        var events = RowEvents { id in
            if try node.system.site(id) == nil {
                _ = try node.system.createSite(id, ownerID: owner.id, timeZone: "UTC", retention: retention, nowMs: now)
            }
        }
        var chunk = [Event]()
        chunk.reserveCapacity(batch)
        var loaded = 0
        let start = ContinuousClock.now
        while let row = rows.next() {
            chunk.append(try events.event(of: row, line: rows.lineNumber))
            if chunk.count == batch {
                _ = try node.store.apply(chunk, nowMs: now) { _ in retention }
                loaded += chunk.count
                chunk.removeAll(keepingCapacity: true)
            }
        }
        _ = try node.store.apply(chunk, nowMs: now) { _ in retention }
        loaded += chunk.count
        let loadSeconds = seconds(since: start)
        // What the node's first maintenance pass would do: settled days sealed into segments, so
        // filtered questions are timed as a node that has run for a day answers them.
        let sealing = ContinuousClock.now
        var sealed = 0
        for site in events.sites.values { sealed += try node.store.sealSegments(site: site, plan: retention, nowMs: now).sealed }
        let sealSeconds = seconds(since: sealing)
        let compacting = ContinuousClock.now
        for family in ColumnFamily.allCases {
            try node.kv.compact(family, from: [], to: [UInt8](repeating: 0xff, count: 64))
        }
        let (_, token) = try node.system.createToken(name: "bench", accountID: owner.id, sites: nil, rights: [.read], nowMs: now)
        print(String(format: "load: %d events of %d sites in %.1f s = %.0f events/s (store batches of %d), %d site-days sealed in %.1f s, compacted in %.1f s",
                     loaded, events.sites.count, loadSeconds, Double(loaded) / loadSeconds, batch, sealed, sealSeconds, seconds(since: compacting)))
        print("token: \(token)")
    }
}

/// The data set's rows as the pipeline would store them, with what repeats (sites, user agents,
/// referrers) worked out once.
private struct RowEvents {
    /// Called once for each site the rows name.
    let siteSeen: (SiteID) throws -> Void
    private(set) var sites = [String: SiteID]()
    private var devices = [String: Device]()
    private var referrerHosts = [String: String]()

    init(siteSeen: @escaping (SiteID) throws -> Void) {
        self.siteSeen = siteSeen
    }

    mutating func event(of row: DatasetCSV.Row, line: Int) throws -> Event {
        let site: SiteID
        if let known = sites[row.site] {
            site = known
        } else {
            guard let id = SiteID(row.site) else { throw ValidationError("line \(line): not a site id") }
            try siteSeen(id)
            sites[row.site] = id
            site = id
        }
        var event = Event(id: EventID.forHit(site: site, hitID: "row-\(line)", timestampMs: row.timestampMs), site: site,
                          visitor: VisitorID(rawValue: row.visitor), timestampMs: row.timestampMs, kind: .pageview, path: row.path)
        if !row.referrer.isEmpty {
            event.referrerHost = referrerHosts[row.referrer] ?? {
                let host = URLSanitizer.referrerHost(row.referrer, siteHost: row.site)
                referrerHosts[row.referrer] = host
                return host
            }()
        }
        event.device = devices[row.userAgent] ?? {
            let device = UserAgentClassifier.classify(row.userAgent)
            devices[row.userAgent] = device
            return device
        }()
        event.geo = Geo(country: row.country)
        return event
    }
}

/// Posts the data set's first `events` rows to running nodes as hits with the current time, in
/// batches, from concurrent clients, round-robin over `--url`s. Each batch comes from its own
/// client address (X-Forwarded-For; start nodes with `--trusted-proxies 127.0.0.1`), as from many
/// visitors behind a load balancer, so the per-address rate limit does not cap the measurement.
struct Ingest: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Post the data set to running nodes over HTTP and print the rate.")
    @Option(help: "The data set (Bench/dataset.py).") var csv: String
    @Option(help: "A node's HTTP address (repeatable).") var url: [String] = ["http://127.0.0.1:8080"]
    @Option var events = 200_000
    @Option var batch = 100
    @Option var concurrency = 16
    @Option(help: "Hold the rate to this many events/s (0: as fast as the nodes take them).") var rate = 0.0
    @Option(help: "Distinguishes this run's hit ids from another run's.") var run = "a"

    func run() async throws {
        let bodies = try batches()
        let client = HTTPClient(eventLoopGroupProvider: .singleton)
        let counter = Counter()
        let start = ContinuousClock.now
        let batchInterval = rate > 0 ? Double(batch) / rate : 0
        let urls = url, batchSize = batch
        try await withThrowingTaskGroup(of: [Double].self) { group in
            for _ in 0..<concurrency {
                group.addTask {
                    var latencies = [Double]()
                    while let index = await counter.next(limit: bodies.count) {
                        if batchInterval > 0 {
                            let due = Double(index) * batchInterval - seconds(since: start)
                            if due > 0 { try await Task.sleep(for: .milliseconds(Int(due * 1000))) }
                        }
                        var request = HTTPClientRequest(url: "\(urls[index % urls.count])/api/event")
                        request.method = .POST
                        request.headers.add(name: "User-Agent", value: bodies[index].userAgent)
                        // 100.64.0.0/10: a distinct address per batch.
                        request.headers.add(name: "X-Forwarded-For", value: "100.\(64 + (index >> 16) % 64).\((index >> 8) & 255).\(index & 255)")
                        request.body = .bytes(ByteBuffer(string: bodies[index].json))
                        let sent = ContinuousClock.now
                        let response = try await client.execute(request, timeout: .seconds(30))
                        let answer = try await response.body.collect(upTo: 1 << 20)
                        guard response.status == .accepted else {
                            throw ValidationError("a node answered \(response.status): \(String(buffer: answer).prefix(200))")
                        }
                        latencies.append(seconds(since: sent) * 1000)
                    }
                    return latencies
                }
            }
            var all = [Double]()
            for try await latencies in group { all += latencies }
            let elapsed = seconds(since: start)
            all.sort()
            let p50 = all.isEmpty ? 0 : all[all.count / 2], p99 = all.isEmpty ? 0 : all[min(all.count - 1, all.count * 99 / 100)]
            print(String(format: "ingest: %d events in %.2f s = %.0f events/s over HTTP (batches of %d, %d clients, %d nodes); batch latency p50 %.1f ms p99 %.1f ms",
                         bodies.count * batchSize, elapsed, Double(bodies.count * batchSize) / elapsed, batchSize, concurrency, urls.count, p50, p99))
        }
        try await client.shutdown()
    }

    /// The request bodies, built before the clock starts so the client's own JSON work is not timed.
    private func batches() throws -> [(json: String, userAgent: String)] {
        var rows = try DatasetCSV(path: csv)
        defer { rows.close() }
        let nowMs = Int64(Date().timeIntervalSince1970 * 1000)
        var out = [(json: String, userAgent: String)]()
        var hits = [String](), userAgent = ""
        var taken = 0
        while taken < events, let row = rows.next() {
            if hits.isEmpty { userAgent = row.userAgent }
            hits.append("{\"site\":\"\(row.site)\",\"id\":\"bench-\(run)-\(rows.lineNumber)\",\"ts\":\(nowMs),\"url\":\"https://\(row.site)\(row.path)\",\"referrer\":\"\(row.referrer)\"}")
            taken += 1
            if hits.count == batch {
                out.append(("[" + hits.joined(separator: ",") + "]", userAgent))
                hits.removeAll(keepingCapacity: true)
            }
        }
        if !hits.isEmpty { out.append(("[" + hits.joined(separator: ",") + "]", userAgent)) }
        return out
    }
}

actor Counter {
    private var value = 0
    func next(limit: Int) -> Int? {
        guard value < limit else { return nil }
        defer { value += 1 }
        return value
    }
}

/// The HTTP ingest baseline: the node's HTTP stack decoding each batch as a node does and storing
/// nothing (`HTTPRoutes.discardingRouter`). Footfall's ingest rate is reported against it.
struct Discard: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Serve POST /api/event, decode each batch and discard it, until stopped.")
    @Option var host = "127.0.0.1"
    @Option var port = 18590

    func run() async throws {
        let app = Application(router: HTTPRoutes.discardingRouter(),
                              configuration: .init(address: .hostname(host, port: port), serverName: "footfall"))
        try await app.runService()
    }
}
