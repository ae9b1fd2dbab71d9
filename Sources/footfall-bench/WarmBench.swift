import ArgumentParser
import Foundation
import FootfallModel
import FootfallStorage

/// What a restarted node pays to hold today again: a store of one busy site's day, closed and
/// opened again, then today read into the hot tier (rows into segments) and its rollups built,
/// each timed. Runs on a throwaway RocksDB store; no node, no HTTP. The events are spread over
/// today so far (its span is printed: just after UTC midnight they crowd into minutes, and
/// visits and rollups then differ from a day's). Rounds after the first read files the page
/// cache holds, as a restarted node mostly does.
struct Warm: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Time reading a busy day back into memory after a restart.")
    @Option(help: "Where the throwaway store goes.") var scratch = FileManager.default.temporaryDirectory.path
    @Option(help: "Events of today to store.") var events = 500_000
    @Option(help: "Restarts to time.") var rounds = 3

    func validate() throws {
        guard events >= 1, rounds >= 1 else { throw ValidationError("--events and --rounds must be at least 1") }
    }

    func run() throws {
        let path = scratch + "/footfall-warm-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: path) }
        let site = SiteID("warm.example")!, retention = RetentionPlan(days: 30)!
        let nowMs = Int64(Date().timeIntervalSince1970 * 1_000)
        let today = Day(containing: nowMs)
        do {
            let kv = try RocksDBStore(path: path, settings: RocksDBStore.Settings())
            defer { kv.close() }
            let store = try EventStore(kv: kv, syncWrites: false)
            var rng = SplitMix64(seed: 7)
            let paths = (0..<40).map { "/section-\($0 % 7)/page-\($0)" }
            let referrers = ["", "", "news.example.org", "search.example.com", "social.example.net"]
            let spanMs = max(1, nowMs - today.startMs)
            for first in stride(from: 0, to: events, by: 1_000) {
                let batch = (first..<min(events, first + 1_000)).map { n -> Event in
                    let at = today.startMs + Int64(rng.next() % UInt64(spanMs))
                    var event = Event(id: EventID.forHit(site: site, hitID: "warm-\(n)", timestampMs: at), site: site,
                                      visitor: VisitorID(rawValue: 1 + rng.next() % 40_000), timestampMs: at, kind: .pageview,
                                      path: paths[Int(rng.next() % UInt64(paths.count))])
                    event.referrerHost = referrers[Int(rng.next() % UInt64(referrers.count))]
                    event.device = Device(browser: "Firefox", browserMajor: 120, os: "Linux", deviceClass: .desktop)
                    event.geo = Geo(country: "DE")
                    return event
                }
                _ = try store.apply(batch, nowMs: nowMs, retention: { _ in retention })
            }
            try kv.flushAll()
        }
        for round in 1...rounds {
            let kv = try RocksDBStore(path: path, settings: RocksDBStore.Settings())
            defer { kv.close() }
            let store = try EventStore(kv: kv, syncWrites: false)
            var start = ContinuousClock.now
            var rows = 0
            try store.segments(site: site, in: TimeRange(startMs: today.startMs, endMs: nowMs + 1), nowMs: nowMs, retention: retention) {
                rows += $0.segment.count
            }
            let hot = seconds(since: start)
            start = ContinuousClock.now
            try store.warmUp(site: site, nowMs: nowMs)
            let packs = seconds(since: start)
            print(String(format: "round %d: %d events over %.1f h; today into segments %.2f s (%.2f µs an event), its rollups %.2f s (%.2f µs an event)",
                         round, rows, Double(nowMs - today.startMs) / 3_600_000, hot, hot * 1e6 / Double(max(1, rows)), packs, packs * 1e6 / Double(max(1, rows))))
        }
    }
}
