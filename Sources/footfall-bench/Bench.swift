import ArgumentParser
import AsyncHTTPClient
import Foundation
import FootfallModel
import FootfallNode
import FootfallStorage
import Logging
import NIOCore

@main
struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "footfall-bench",
        abstract: "Measure a Footfall node: storage load, HTTP ingest and query latency. Release builds only.",
        subcommands: [Load.self, Ingest.self, Query.self])
}

/// Percentiles of a sample, in the sample's unit.
func percentile(_ values: [Double], _ p: Double) -> Double {
    guard !values.isEmpty else { return 0 }
    let sorted = values.sorted()
    return sorted[min(sorted.count - 1, Int((p / 100) * Double(sorted.count)))]
}

func seconds(since start: ContinuousClock.Instant) -> Double {
    let elapsed = ContinuousClock.now - start
    return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
}

/// Fills a data folder straight through `EventStore` (no HTTP), spread over the last `days` days:
/// the storage engine's share of ingest, and a way to get a site with a million events quickly.
struct Load: AsyncParsableCommand {
    @Option var data = "./bench-data"
    @Option var site = "big.example"
    @Option var events = 1_000_000
    @Option var days = 30
    @Option var batch = 1000
    @Option var seed: UInt64 = 1

    func run() async throws {
        var configuration = NodeConfiguration()
        configuration.dataDirectory = data
        var logger = Logger(label: "bench")
        logger.logLevel = .warning
        let node = try Node(configuration: configuration, geo: NoGeoLocator(), logger: logger)
        let now = node.clock.nowMs
        try node.salts.initialize(nowMs: now)
        guard let siteID = SiteID(site) else { throw ValidationError("bad site") }
        let owner: Account
        if let existing = try node.system.accounts().first(where: { $0.email == "bench@example.net" }) {
            owner = existing
        } else {
            owner = try node.system.createAccount(email: "bench@example.net", password: "bench password 1", nowMs: now)
        }
        if try node.system.site(siteID) == nil {
            _ = try node.system.createSite(siteID, ownerID: owner.id, timeZone: "UTC", retention: RetentionPlan(days: 360)!, nowMs: now)
        }
        let (_, token) = try node.system.createToken(name: "bench", accountID: owner.id, sites: nil, rights: [.read], nowMs: now)
        var dataset = Dataset(seed: seed, visitors: max(1000, events / 5))
        let span = Int64(days) * TimeUnits.dayMs
        let start = ContinuousClock.now
        var written = 0
        while written < events {
            let count = min(batch, events - written)
            let chunk = (0..<count).map { i -> Event in
                let sample = dataset.next()
                let index = written + i
                let ms = now - span + Int64(Double(span) * Double(index) / Double(events))
                var event = Event(id: EventID.forHit(site: siteID, hitID: "b\(seed)-\(index)", timestampMs: ms), site: siteID,
                                  visitor: VisitorID(rawValue: sample.visitor), timestampMs: ms, kind: .pageview, path: sample.path)
                event.referrerHost = URLSanitizer.referrerHost(sample.referrer, siteHost: site)
                event.device = UserAgentClassifier.classify(sample.userAgent)
                event.geo = Geo(country: sample.country)
                return event
            }
            _ = try node.store.apply(chunk, nowMs: now) { _ in RetentionPlan(days: 360)! }
            written += count
        }
        let elapsed = seconds(since: start)
        print(String(format: "load: %d events in %.1f s = %.0f events/s (batches of %d, WAL fsync per batch)", events, elapsed,
                     Double(events) / elapsed, batch))
        print("token: \(token)")
    }
}

/// Posts batches of hits to a running node over HTTP from several concurrent clients. Start the
/// node with `--trusted-proxies 127.0.0.1`: each hit's client address comes from X-Forwarded-For,
/// as behind a load balancer, so the per-IP rate limit sees many visitors instead of one.
struct Ingest: AsyncParsableCommand {
    @Option var url = "http://127.0.0.1:8080"
    @Option var site = "localhost"
    @Option var events = 200_000
    @Option var batch = 100
    @Option var concurrency = 16
    @Option var seed: UInt64 = 2

    func run() async throws {
        let client = HTTPClient(eventLoopGroupProvider: .singleton)
        let batches = (events + batch - 1) / batch
        let counter = Counter()
        let start = ContinuousClock.now
        let nowMs = Int64(Date().timeIntervalSince1970 * 1000)
        try await withThrowingTaskGroup(of: [Double].self) { group in
            for worker in 0..<concurrency {
                group.addTask {
                    var dataset = Dataset(seed: seed &+ UInt64(worker))
                    var latencies = [Double]()
                    while let index = await counter.next(limit: batches) {
                        var hits = [String]()
                        for i in 0..<batch {
                            let sample = dataset.next()
                            hits.append("{\"site\":\"\(site)\",\"id\":\"s\(seed)w\(worker)b\(index)h\(i)\",\"ts\":\(nowMs),\"url\":\"\(sample.path)\",\"referrer\":\"\(sample.referrer)\"}")
                        }
                        var request = HTTPClientRequest(url: "\(url)/api/event")
                        request.method = .POST
                        request.headers.add(name: "User-Agent", value: Dataset.userAgents[index % Dataset.userAgents.count])
                        request.headers.add(name: "X-Forwarded-For", value: "198.51.100.\(index % 250 + 1)")
                        request.body = .bytes(ByteBuffer(string: "[" + hits.joined(separator: ",") + "]"))
                        let sent = ContinuousClock.now
                        let response = try await client.execute(request, timeout: .seconds(30))
                        _ = try await response.body.collect(upTo: 1 << 20)
                        guard response.status == .accepted else { throw ValidationError("node answered \(response.status)") }
                        latencies.append(seconds(since: sent) * 1000)
                    }
                    return latencies
                }
            }
            var all = [Double]()
            for try await latencies in group { all += latencies }
            let elapsed = seconds(since: start)
            print(String(format: "ingest: %d events in %.1f s = %.0f events/s over HTTP (batches of %d, %d clients); batch latency p50 %.1f ms p99 %.1f ms",
                         batches * batch, elapsed, Double(batches * batch) / elapsed, batch, concurrency,
                         percentile(all, 50), percentile(all, 99)))
        }
        try await client.shutdown()
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

/// Times the dashboard questions over a running node's API, with the range shifted at random
/// each repetition so no cache answers twice.
struct Query: AsyncParsableCommand {
    @Option var url = "http://127.0.0.1:8080"
    @Option var token: String
    @Option var site = "big.example"
    @Option var days = 30
    @Option var repetitions = 30
    @Option var seed: UInt64 = 3

    func run() async throws {
        let client = HTTPClient(eventLoopGroupProvider: .singleton)
        var generator = SplitMix64(seed: seed)
        let questions = ["summary", "breakdown/page", "breakdown/referrer", "breakdown/country", "timeseries?interval=day"]
        let formatter = DateFormatter()
        formatter.dateFormat = "yyyy-MM-dd"
        formatter.timeZone = TimeZone(identifier: "UTC")
        for question in questions {
            var latencies = [Double]()
            for _ in 0..<repetitions {
                let shift = Int.random(in: 0...2, using: &generator)
                let to = Date().addingTimeInterval(-Double(shift) * 86_400)
                let from = to.addingTimeInterval(-Double(days - 1) * 86_400)
                let separator = question.contains("?") ? "&" : "?"
                var request = HTTPClientRequest(url: "\(url)/api/sites/\(site)/\(question)\(separator)from=\(formatter.string(from: from))&to=\(formatter.string(from: to))")
                request.headers.add(name: "Authorization", value: "Bearer \(token)")
                let sent = ContinuousClock.now
                let response = try await client.execute(request, timeout: .seconds(60))
                _ = try await response.body.collect(upTo: 16 << 20)
                guard response.status == .ok else { throw ValidationError("\(question): node answered \(response.status)") }
                latencies.append(seconds(since: sent) * 1000)
            }
            print(String(format: "query %-24@ p50 %7.1f ms  p99 %7.1f ms  (%d runs, %d days)", question as NSString,
                         percentile(latencies, 50), percentile(latencies, 99), repetitions, days))
        }
        try await client.shutdown()
    }
}
