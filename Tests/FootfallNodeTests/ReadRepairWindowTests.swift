import FootfallModel
@testable import FootfallNode
import Testing

/// A `?consistency=quorum|all` read repairs the replicas over the report's window only.
@Suite struct ReadRepairWindowTests {
    static let now = TestNode.noon
    static let site = Site(id: SiteID("example.com")!, ownerID: "owner", timeZone: "UTC", retention: RetentionPlan(days: 360)!, createdMs: 0)

    @Test func visitorReads_repairTheReportDefault_notTheWholeRetention() throws {
        for kind in [SiteQuery.Kind.visitors, .visitor, .export, .visitorsByEmail, .visitorRecord] {
            let window = try Node.readWindow(SiteQuery(site: Self.site.id, kind: kind), site: Self.site, nowMs: Self.now)
            #expect(window.durationMs <= 31 * TimeUnits.dayMs, "\(kind): \(window.durationMs / TimeUnits.dayMs) days")
            #expect(window.contains(Self.now - 1), "\(kind) covers the latest events")
        }
    }

    @Test func reportReads_repairTheirOwnDates_withinRetention() throws {
        let query = SiteQuery(site: Self.site.id, kind: .summary, parameters: ["from": "2026-06-01", "to": "2026-06-02"])
        let window = try Node.readWindow(query, site: Self.site, nowMs: Self.now)
        #expect(window.durationMs == 2 * TimeUnits.dayMs)
        let ancient = SiteQuery(site: Self.site.id, kind: .summary, parameters: ["from": "2020-01-01", "to": "2020-01-02"])
        #expect(try Node.readWindow(ancient, site: Self.site, nowMs: Self.now).durationMs == 0, "nothing past retention is compared")
    }
}
