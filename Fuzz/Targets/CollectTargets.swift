@testable import FootfallHTTP
@testable import FootfallIngest
import FootfallModel
@testable import FootfallNode
import FootfallStorage
import Foundation
import HummingbirdCore
import NIOCore

/// What a stranger sends without any credential: the collect endpoint's JSON, the pixel's query
/// (each with the user agent and forwarded address that come with them), and an owner's report
/// query parameters.
enum CollectTargets {
    /// Rebuilt every 10,000 inputs: accepted hits accumulate.
    private static let writes = RecycledFuzzNode(every: 10_000)
    /// Read only: report queries change nothing.
    private static let reads = FuzzNode()

    /// `POST /api/event`: body ⟂ user agent ⟂ client address, as `HTTPRoutes` decodes them, then
    /// the node's ingest (privacy pipeline, replication to itself, group commit, store).
    static let json = FuzzTarget(
        name: "collect-json",
        summary: "POST /api/event body, user agent and client address → decodeHits → Node.ingest",
        run: { input in
            let parts = fields(input, count: 3)
            let fixture = writes.node
            guard let hits = try? HTTPRoutes.decodeHits(ByteBuffer(bytes: parts[0]), limit: fixture.node.pipeline.limits.hitsPerBatchMax)
            else { return }
            ingest(hits, into: fixture, userAgent: text(parts[1]), address: text(parts[2]))
        },
        seeds: {
            let ua = Array(FuzzNode.userAgent.utf8), ip = Array("203.0.113.9".utf8)
            let bodies = [
                #"{"site":"shop.example","url":"https://shop.example/p/1","referrer":"https://t.co/x","title":"Shoes"}"#,
                #"[{"site":"shop.example","id":"hit-0000000001","ts":1781524700000,"kind":"click","url":"/p/2","target":"https://out.example/","consent":true,"vid":"c0ffee0000000001"},"#
                    + #"{"site":"shop.example","kind":"custom","name":"signup","url":"/p/3","props":{"plan":"pro","seats":"3"}}]"#,
                #"{"events":[{"site":"shop.example","kind":"identify","url":"/p/4","consent":true,"vid":"c0ffee0000000002","pii":{"name":"Ann","email":"ann@example.org","phone":"+44 20 7946 0000"}}]}"#,
                #"{"site":"shop.example","kind":"engagement","engagement_ms":30000,"url":"https://shop.example/p/1?utm_source=news&utm_medium=email&utm_campaign=june"}"#,
            ]
            return bodies.map { joined([Array($0.utf8), ua, ip]) }
        }
    )

    /// `GET /p.gif?…`: the query as Hummingbird parses it ⟂ user agent ⟂ client address.
    static let pixel = FuzzTarget(
        name: "collect-pixel",
        summary: "GET /p.gif query, user agent and client address → pixelHit → Node.ingest",
        run: { input in
            let parts = fields(input, count: 3)
            let fixture = writes.node
            guard let hit = try? HTTPRoutes.pixelHit(URI("/p.gif?" + text(parts[0])).queryParameters) else { return }
            ingest([hit], into: fixture, userAgent: text(parts[1]), address: text(parts[2]))
        },
        seeds: {
            ["site=shop.example&url=https%3A%2F%2Fshop.example%2Fp%2F1&ref=https%3A%2F%2Ft.co%2Fx",
             "site=shop.example&url=%2Fp%2F2%3Futm_source%3Dnews"].map { joined([Array($0.utf8), Array(FuzzNode.userAgent.utf8), Array("2001:db8::7".utf8)]) }
        }
    )

    /// A report's query parameters, as an owner sends them over HTTP (filtered by `siteQuery`) and as
    /// a peer forwards them (every parameter, `SiteQueryRequest`), answered by the node over its data.
    /// The first byte picks the report.
    static let reportQuery = FuzzTarget(
        name: "report-query",
        summary: "report kind + query string → HTTPRoutes.siteQuery and raw parameters → Node.answerLocally",
        run: { input in
            guard let first = input.first else { return }
            let kind = kinds[Int(first) % kinds.count]
            let uri = URI("/api/sites/shop.example/report?" + text(input.dropFirst()))
            let node = reads.node
            guard let site = try? node.system.site(FuzzNode.site) else { return }
            _ = try? node.answerLocally(HTTPRoutes.siteQuery(kind, uri, site))
            var everything = [String: String]()
            for (key, value) in uri.queryParameters { everything[String(key)] = String(value) }
            _ = try? node.answerLocally(SiteQuery(site: FuzzNode.site, kind: kind, parameters: everything))
        },
        seeds: {
            let queries: [(SiteQuery.Kind, String)] = [
                (.summary, "from=2026-06-01&to=2026-06-15&filter.page=/p/1"),
                (.breakdown, "dimension=referrer&filter.device=desktop&limit=5"),
                (.timeseries, "interval=hour&filter.country=DE&filter.entry_page=/p/0"),
                (.visitors, "client_id=c0ffee0000000001"),
                (.visitor, "visitor=0123456789abcdef"),
                (.breakdown, "dimension=prop:plan&filter.event=signup&from=2026-05-16"),
            ]
            return queries.map { kind, query in [UInt8(kinds.firstIndex(of: kind)!)] + Array(query.utf8) }
        }
    )

    static let kinds: [SiteQuery.Kind] = [.summary, .breakdown, .timeseries, .realtime, .visitors, .visitor, .export,
                                          .erasureRecord, .visitorsByEmail, .visitorRecord]

    /// The node's ingest of `hits` as its HTTP route calls it, after checking the promise the
    /// pipeline keeps for every hit it accepts: no text it stores still holds personal data.
    private static func ingest(_ hits: [Hit], into fixture: FuzzNode, userAgent: String, address: String) {
        let node = fixture.node
        let context = HitContext(ip: IPAddress(address), userAgent: String(userAgent.prefix(512)), nowMs: fixture.clock.nowMs)
        let salts = try? node.salts.salts(nowMs: context.nowMs)
        for hit in hits {
            guard let site = SiteID(hit.site), let event = try? node.pipeline.event(from: hit, site: site, context: context, salts: salts)
            else { continue }
            requireFiltered(event)
        }
        _ = blocking { try await node.ingest(hits, context: context) }
    }

    private static func requireFiltered(_ event: Event) {
        let texts = [event.title, event.name, event.target, event.utm.source, event.utm.medium, event.utm.campaign,
                     event.utm.term, event.utm.content] + event.props.keys + event.props.values
        for text in texts {
            FuzzCheck.require(!PersonalDataFilter.holdsPersonalData(text), "stored text still holds personal data: \(text.debugDescription)")
        }
        FuzzCheck.require(PersonalDataFilter.scrubbedPath(event.path) == event.path, "stored path still holds personal data: \(event.path.debugDescription)")
    }

    static func text(_ bytes: some Sequence<UInt8>) -> String { String(decoding: Array(bytes), as: UTF8.self) }
}
