import ArgumentParser
import Foundation
import FootfallModel
import FootfallStorage

/// What a flood of hits for one visitor (a script reusing one consented `vid`, issue 14) costs the
/// store, against a flood of as many hits from visitors of their own: the time each batch holds
/// the store's write lock, which is what another site's hit waits for (group commit puts that hit
/// in the same batch, as here). Runs on a throwaway RocksDB store; no node, no HTTP.
struct Flood: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Time store batches of a one-visitor flood against a plain one.")
    @Option(help: "Where the throwaway stores go.") var scratch = FileManager.default.temporaryDirectory.path
    @Option(help: "Batches per flood.") var batches = 1_000
    @Option(help: "Flood hits per batch (one hit of another site is added to each).") var batch = 100
    @Flag(help: "Skip the WAL fsync per batch (a node syncs).") var noSync = false

    func run() throws {
        for oneVisitor in [false, true] {
            let times = try timeBatches(oneVisitor: oneVisitor)
            func milliseconds(_ slice: ArraySlice<Duration>) -> String {
                let sorted = slice.sorted()
                let median = sorted[sorted.count / 2]
                return String(format: "%.2f", Double(median.components.attoseconds) / 1e15 + Double(median.components.seconds) * 1e3)
            }
            let tenth = max(1, times.count / 10)
            print("\(oneVisitor ? "one visitor " : "own visitors"): batch p50 \(milliseconds(times.prefix(tenth))) ms in the first tenth, "
                + "\(milliseconds(times.suffix(tenth))) ms in the last (\(times.count * batch) flood hits)")
        }
    }

    private func timeBatches(oneVisitor: Bool) throws -> [Duration] {
        let path = scratch + "/footfall-flood-\(UUID().uuidString)"
        let kv = try RocksDBStore(path: path, settings: RocksDBStore.Settings())
        defer {
            kv.close()
            try? FileManager.default.removeItem(atPath: path)
        }
        let store = try EventStore(kv: kv, syncWrites: !noSync)
        let flooded = SiteID("flooded.example")!, other = SiteID("other.example")!
        let retention = RetentionPlan(days: 30)!
        let nowMs = Int64(Date().timeIntervalSince1970 * 1_000)
        // The flood's hits 10 ms apart, ending now: one run, one visit, for the one visitor.
        let firstMs = nowMs - Int64(batches * batch) * 10
        var times = [Duration]()
        for index in 0..<batches {
            var events = (0..<batch).map { offset in
                let n = index * batch + offset
                let at = firstMs + Int64(n) * 10
                var event = Event(id: EventID.forHit(site: flooded, hitID: "flood-\(n)", timestampMs: at), site: flooded,
                                  visitor: VisitorID(rawValue: oneVisitor ? 1 : UInt64(n + 1)), timestampMs: at, kind: .pageview, path: "/p\(n % 20)")
                event.consented = true
                return event
            }
            events.append(Event(id: EventID.forHit(site: other, hitID: "other-\(index)", timestampMs: nowMs), site: other,
                                visitor: VisitorID(rawValue: UInt64(index + 1)), timestampMs: nowMs, kind: .pageview, path: "/"))
            let start = ContinuousClock.now
            _ = try store.apply(events, nowMs: nowMs, retention: { _ in retention })
            times.append(ContinuousClock.now - start)
        }
        return times
    }
}
