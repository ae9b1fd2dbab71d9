import FootfallModel
import FootfallProtocols
import FootfallStorage
import Testing

/// A pass skips the sites whose summaries agree, so a summary must change with everything
/// `repair` would exchange, and only with that.
@Suite struct SiteSummaryTests {
    typealias AntiEntropy = Replication.AntiEntropy
    let site = SiteID("example.com")!
    let now: Int64 = 1_781_524_800_000

    func hit(_ n: Int, visitor: UInt64 = 7, at ms: Int64? = nil) -> Event {
        let time = ms ?? now - 5 * TimeUnits.hourMs + Int64(n) * 1_000
        return Event(id: EventID.forHit(site: site, hitID: "h\(n)", timestampMs: time), site: site,
                     visitor: VisitorID(rawValue: visitor), timestampMs: time, kind: .pageview, path: "/p/\(n % 5)")
    }

    var window: AntiEntropy.Window { AntiEntropy.Window(site: site, fromMs: now - 30 * TimeUnits.dayMs, untilMs: now) }

    func summary(_ store: EventStore) throws -> UInt64 {
        try #require(LocalReplica(name: "x", store: store, nowMs: now).summaries([window])?.first)
    }

    /// Two stores holding alike, written in another order and in other batches.
    func twins() throws -> (EventStore, EventStore) {
        let a = try EventStore(kv: InMemoryStore()), b = try EventStore(kv: InMemoryStore())
        let hits = (0..<300).map { hit($0, visitor: UInt64($0 % 13)) }
        _ = try a.apply(hits, nowMs: now, retention: { _ in .default })
        for batch in stride(from: 0, to: hits.count, by: 37).reversed() {
            _ = try b.apply(Array(hits[batch..<min(hits.count, batch + 37)]), nowMs: now, retention: { _ in .default })
        }
        for store in [a, b] {
            _ = try store.apply(VisitorEdit(site: site, visitor: VisitorID(rawValue: 3), atMs: now - 60_000, change: .addNote(id: "n1", text: "called")))
            _ = try store.erase(site: site, visitor: VisitorID(rawValue: 5), requestID: "er-1", node: "x", nowMs: now - 1_000, fenceMs: now - 1_000)
        }
        return (a, b)
    }

    @Test func replicasHoldingAlike_summariseAlike() throws {
        let (a, b) = try twins()
        #expect(try summary(a) == summary(b))
    }

    @Test func aMissingEvent_anErasureRecord_andACRMEdit_eachChangeTheSummary() throws {
        var (a, b) = try twins()
        _ = try b.apply([hit(1_000)], nowMs: now, retention: { _ in .default })
        #expect(try summary(a) != summary(b), "an event only b holds")

        (a, b) = try twins()
        // A visitor with no events: the erasure record is all that differs.
        _ = try b.erase(site: site, visitor: VisitorID(rawValue: 999), requestID: "er-2", node: "x", nowMs: now, fenceMs: now)
        #expect(try summary(a) != summary(b), "an erasure record only b holds")

        (a, b) = try twins()
        _ = try b.apply(VisitorEdit(site: site, visitor: VisitorID(rawValue: 3), atMs: now - 30_000, change: .setTags(["lead"])))
        #expect(try summary(a) != summary(b), "a CRM edit only b holds")
    }

    /// Events outside the window are not compared (retention drops them; settling ones are
    /// still arriving), so they do not make a site differ either.
    @Test func eventsOutsideTheWindow_doNotChangeIt() throws {
        let (a, b) = try twins()
        _ = try b.apply([hit(2_000, at: now + 5_000)], nowMs: now + 10_000, retention: { _ in .default })
        #expect(try summary(a) == summary(b))
    }

    /// The part made of CRM digests is a set: pages of any size give the same number.
    @Test func pagesOfAnySize_giveTheSameSummary() {
        let digests = (0..<50).map { VisitorEditDigest(visitor: VisitorID(rawValue: UInt64($0)), digest: UInt64($0) &* 0x9E37_79B9) }
        var whole = AntiEntropy.SiteSummary(), paged = AntiEntropy.SiteSummary()
        whole.insert(visitorRecords: digests)
        for start in stride(from: 0, to: 50, by: 7) { paged.insert(visitorRecords: Array(digests[start..<min(50, start + 7)])) }
        #expect(whole.value == paged.value)
        paged.insert(visitorRecords: [VisitorEditDigest(visitor: VisitorID(rawValue: 99), digest: 1)])
        #expect(whole.value != paged.value)
    }

    /// After a repair the two replicas hold alike, and their summaries say so.
    @Test func afterARepair_summariesAgree() async throws {
        let a = try EventStore(kv: InMemoryStore()), b = try EventStore(kv: InMemoryStore())
        _ = try a.apply((0..<200).map { hit($0) }, nowMs: now, retention: { _ in .default })
        _ = try b.apply((100..<260).map { hit($0) }, nowMs: now, retention: { _ in .default })
        _ = try b.erase(site: site, visitor: VisitorID(rawValue: 42), requestID: "er-3", node: "b", nowMs: now, fenceMs: now)
        let local = LocalReplica(name: "a", store: a, nowMs: now), remote = LocalReplica(name: "b", store: b, nowMs: now)
        #expect(AntiEntropy.agreeing([window], ours: try local.summaries([window]), theirs: try remote.summaries([window])).isEmpty)
        _ = try await AntiEntropy.repair(site: site, fromMs: window.fromMs, untilMs: window.untilMs, local: local, remote: remote)
        #expect(AntiEntropy.agreeing([window], ours: try local.summaries([window]), theirs: try remote.summaries([window])) == [window])
    }

    @Test func agreeing_takesOnlyWindowsBothSummarisedAlike() {
        let windows = (0..<3).map { AntiEntropy.Window(site: SiteID("s\($0).example")!, fromMs: 0, untilMs: now) }
        #expect(AntiEntropy.agreeing(windows, ours: [1, 2, 3], theirs: [1, 5, 3]) == [windows[0], windows[2]])
        #expect(AntiEntropy.agreeing(windows, ours: [1, 2, 3], theirs: nil).isEmpty, "a peer of an earlier version")
        #expect(AntiEntropy.agreeing(windows, ours: [1, 2, 3], theirs: [1, 2]).isEmpty, "a reply short of one summary per window")
    }
}
