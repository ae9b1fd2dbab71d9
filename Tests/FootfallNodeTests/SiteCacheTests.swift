import FootfallModel
@testable import FootfallNode
import FootfallRuntime
import FootfallStorage
@testable import FootfallSystem
import Testing

/// Every hit names its site, so whoever sends hits can name as many sites as they like: the
/// decoded-site cache must stay within its bounds whatever they send, and still answer right.
@Suite struct SiteCacheTests {
    private static func site(_ name: String) -> Site {
        Site(id: SiteID(name)!, ownerID: "owner", timeZone: "UTC", retention: .default, createdMs: 0)
    }

    @Test func madeUpSiteNames_areHeldUpToTheirBound_andRealSitesStillAnswer() throws {
        let store = SystemStore(kv: InMemoryStore(), scryptCostN: 16, nodeName: "node-1", clock: ManualClock(nowMs: 1_000))
        let real = try store.createSite(SiteID("real.example")!, ownerID: "owner", timeZone: "UTC", retention: .default, nowMs: 1_000)
        #expect(try store.site(real.id) == real)
        for n in 0..<(SiteCache.unknownMax + 2_500) {
            #expect(try store.site(SiteID("made-up-\(n).example")!) == nil)
        }
        let held = store.siteCache.count
        #expect(held.unknown == SiteCache.unknownMax, "names that are no site held: \(held.unknown)")
        #expect(held.known == 1)
        #expect(try store.site(real.id) == real)
        #expect(try store.site(SiteID("made-up-0.example")!) == nil)
    }

    @Test func sites_areHeldUpToTheirBound_andAnEvictedSiteIsReadAgain() throws {
        let cache = SiteCache(knownMax: 8, unknownMax: 4)
        var loads = 0
        func ask(_ name: String) throws -> Site? {
            try cache.site(SiteID(name)!) {
                loads += 1
                return name.hasPrefix("real") ? SiteCacheTests.site(name) : nil
            }
        }
        for n in 0..<20 { #expect(try ask("real-\(n).example")?.id.rawValue == "real-\(n).example") }
        for n in 0..<20 { #expect(try ask("none-\(n).example") == nil) }
        #expect(cache.count == (known: 8, unknown: 4))
        #expect(loads == 40)
        // Every site is still answered right, from memory or read again.
        for n in 0..<20 { #expect(try ask("real-\(n).example")?.id.rawValue == "real-\(n).example") }
        #expect(loads > 40 && loads <= 60)
        #expect(cache.count.known == 8)
    }

    @Test func aSiteWriteClearsBothKinds() throws {
        let cache = SiteCache(knownMax: 8, unknownMax: 4)
        _ = try cache.site(SiteID("real.example")!) { SiteCacheTests.site("real.example") }
        _ = try cache.site(SiteID("none.example")!) { nil }
        cache.invalidate()
        #expect(cache.count == (known: 0, unknown: 0))
        // A name that was no site may be one now: it is read again.
        #expect(try cache.site(SiteID("none.example")!) { SiteCacheTests.site("none.example") }?.id.rawValue == "none.example")
    }
}
