@testable import FootfallIngest
import FootfallModel
@testable import FootfallNode
import FootfallProtocols
import FootfallRuntime
import FootfallStorage
import Foundation
import Logging

/// A single node on the in-memory store, as `serve` builds it but without sockets: one owner with
/// a site and a morning of traffic (cookieless and consented visitors, CRM data, an erasure), a
/// second owner, and tokens. Every target drives this node's real code paths; the clock is fixed,
/// so an input does the same thing every time it runs.
final class FuzzNode: @unchecked Sendable {
    /// 2026-06-15 12:00 UTC.
    static let noon: Int64 = 1_781_524_800_000
    static let site = SiteID("shop.example")!
    static let otherSite = SiteID("other.example")!
    static let userAgent = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36"

    let directory: String
    let clock: ManualClock
    let node: Node
    /// Every right on `site`; read only on `site`; every right on `otherSite` (another account).
    let ownerToken: String, readToken: String, strangerToken: String
    /// The owner's sign-in: the session cookie's value and its CSRF token.
    let sessionSecret: String, csrfToken: String

    init() {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("footfall-fuzz-\(UUID().uuidString)").path
        clock = ManualClock(nowMs: FuzzNode.noon)
        var configuration = NodeConfiguration()
        configuration.dataDirectory = directory
        configuration.scryptCostN = 1 << 4
        configuration.hitsPerSecondPerIP = 1_000_000
        do {
            // Logs would cost more than the work under test; the node's decisions are what is checked.
            node = try Node(configuration: configuration, clock: clock, kv: InMemoryStore(), geo: NoGeoLocator(),
                            logger: Logger(label: "fuzz", factory: { _ in SwiftLogNoOpLogHandler() }))
            try node.salts.initialize(nowMs: FuzzNode.noon)
            let system = node.system
            let owner = try system.createAccount(email: "owner@example.net", password: "fuzz owner password", nowMs: FuzzNode.noon)
            let other = try system.createAccount(email: "other@example.net", password: "fuzz other password", nowMs: FuzzNode.noon)
            _ = try system.createSite(FuzzNode.site, ownerID: owner.id, timeZone: "Europe/Berlin",
                                      retention: RetentionPlan(days: 30)!, nowMs: FuzzNode.noon)
            _ = try system.createSite(FuzzNode.otherSite, ownerID: other.id, timeZone: "UTC", retention: RetentionPlan(days: 30)!, nowMs: FuzzNode.noon)
            ownerToken = try system.createToken(name: "all", accountID: owner.id, sites: nil, rights: SiteRight.allCases, nowMs: FuzzNode.noon).1
            readToken = try system.createToken(name: "read", accountID: owner.id, sites: [FuzzNode.site], rights: [.read], nowMs: FuzzNode.noon).1
            strangerToken = try system.createToken(name: "all", accountID: other.id, sites: nil, rights: SiteRight.allCases, nowMs: FuzzNode.noon).1
            let (secret, session) = try system.createSession(accountID: owner.id, nowMs: FuzzNode.noon)
            (sessionSecret, csrfToken) = (secret, session.csrfToken)
        } catch {
            fatalError("fuzz fixture: \(error)")
        }
        seedTraffic()
    }

    deinit { try? FileManager.default.removeItem(atPath: directory) }

    /// `text` with the credential placeholders of committed inputs replaced by this node's own.
    func substituted(_ text: String) -> String {
        text.replacingOccurrences(of: "{owner}", with: ownerToken).replacingOccurrences(of: "{read}", with: readToken)
            .replacingOccurrences(of: "{other}", with: strangerToken).replacingOccurrences(of: "{session}", with: sessionSecret)
            .replacingOccurrences(of: "{csrf}", with: csrfToken)
    }

    /// Visitor `n`'s consented id (the tracker's `vid`).
    static func clientID(_ n: Int) -> String { "c0ffee\(String(format: "%010d", n))" }

    static func consentedVisitor(_ n: Int) -> VisitorID { VisitorID.consented(site: site, clientID: clientID(n)) }

    /// Two hundred hits over the morning: ten cookieless visitors, four consented ones with CRM data
    /// and notes, pageviews on ten paths from three referrers, clicks, custom events with
    /// properties, engagement; then one consented visitor erased. Before them, forty hits of the
    /// consented visitors three days earlier, sealed into a segment, so every target also reaches
    /// a sealed day (a late write beside it, an erasure rewriting it, reads of both).
    private func seedTraffic() {
        let earlier = FuzzNode.noon - 3 * TimeUnits.dayMs
        let sealedDayHits = (0..<40).map { (n: Int) -> Hit in
            let click = n % 4 == 3
            let ts: Int64 = earlier - Int64(40 - n) * 120_000
            return Hit(site: FuzzNode.site.rawValue, id: String(format: "s%015d", n), ts: ts, kind: click ? "click" : "pageview",
                       url: "https://shop.example/p/\(n % 10)", referrer: n % 2 == 0 ? "https://t.co/x" : nil, title: "Page \(n % 10)", name: nil,
                       target: click ? "https://out.example/" : nil, props: nil, engagementMs: nil, consent: true, vid: FuzzNode.clientID(n % 4), pii: nil)
        }
        var hits = [(Hit, String)]()
        for n in 0..<200 {
            let consented = n % 5 == 0
            let visitor = n % 14
            let ts = FuzzNode.noon - Int64(200 - n) * 60_000
            let kinds = ["pageview", "pageview", "pageview", "click", "custom", "engagement"]
            let kind = kinds[n % kinds.count]
            let hit = Hit(
                site: FuzzNode.site.rawValue, id: String(format: "h%015d", n), ts: ts, kind: kind,
                url: "https://shop.example/p/\(n % 10)?utm_source=news&utm_campaign=june\(n % 3)",
                referrer: ["https://t.co/x", "https://www.google.com/", nil][n % 3],
                title: "Page \(n % 10)", name: kind == "custom" ? "signup" : nil, target: kind == "click" ? "https://out.example/" : nil,
                props: kind == "custom" ? ["plan": "pro\(n % 2)"] : nil, engagementMs: kind == "engagement" ? 12_000 : nil,
                consent: consented, vid: consented ? FuzzNode.clientID(visitor % 4) : nil,
                pii: consented && n % 3 == 0 ? Hit.PIIInput(name: "Visitor \(visitor % 4)", email: "v\(visitor % 4)@example.org", phone: nil) : nil)
            hits.append((hit, "198.51.100.\(visitor)"))
        }
        let node = node
        let byAddress = Dictionary(grouping: hits, by: \.1).mapValues { $0.map(\.0) }
        let plan = RetentionPlan(days: 30)!
        let result = blocking {
            _ = try await node.ingest(sealedDayHits, context: HitContext(ip: IPAddress("198.51.100.200"), userAgent: FuzzNode.userAgent, nowMs: earlier))
            let sealing = try node.store.sealSegments(site: FuzzNode.site, plan: plan, nowMs: FuzzNode.noon)
            FuzzCheck.require(sealing.sealed == 1, "the fixture's earlier day was not sealed")
            for (ip, batch) in byAddress {
                _ = try await node.ingest(batch, context: HitContext(ip: IPAddress(ip), userAgent: FuzzNode.userAgent, nowMs: FuzzNode.noon))
            }
            _ = try await node.editVisitor(site: FuzzNode.site, visitor: FuzzNode.consentedVisitor(1), .addNote(id: "n1", text: "asked for a refund"))
            _ = try await node.editVisitor(site: FuzzNode.site, visitor: FuzzNode.consentedVisitor(2), .setTags(["vip", "beta"]))
            _ = try await node.erase(site: FuzzNode.site, visitor: FuzzNode.consentedVisitor(3))
        }
        if case .failure(let error) = result { fatalError("fuzz fixture traffic: \(error)") }
    }

    /// Every value the store holds in `family`, in key order.
    func stored(_ family: ColumnFamily) -> [(key: [UInt8], value: [UInt8])] {
        var entries = [(key: [UInt8], value: [UInt8])]()
        try? node.kv.scan(family, from: [], to: [UInt8](repeating: 0xff, count: 64)) { key, value in
            entries.append((key, value))
            return true
        }
        return entries
    }

    func storedEvents() -> [Event] { stored(.events).compactMap { try? EventCodec.decode($0.value) } }
}

/// A fixture for targets that write: rebuilt every `uses` inputs, so the store stays small (and
/// fast) however long the run. An input's effect can depend on the few before it since the last
/// rebuild; libFuzzer's reproducer is then the input with `-runs` of its neighbours, rarely needed.
final class RecycledFuzzNode: @unchecked Sendable {
    private let uses: Int
    private var count = 0
    private var current: FuzzNode?

    init(every uses: Int) { self.uses = uses }

    var node: FuzzNode {
        if count % uses == 0 { current = nil; current = FuzzNode() }
        count += 1
        return current!
    }
}
