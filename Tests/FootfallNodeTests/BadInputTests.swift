import Foundation
import FootfallModel
import FootfallNode
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing

/// Every endpoint answers bad input with a clear 4xx JSON error and changes nothing.
@Suite struct BadInputTests {
    /// (what, body) pairs the collect endpoint must refuse with 4xx.
    static func badHits(now: Int64) -> [(String, String, HTTPResponse.Status)] {
        let ok = hitJSON(site: "example.com", id: "fine-hit-1", ts: now)
        let long = String(repeating: "x", count: 3000)
        let manyProps = (0..<11).map { "\"k\($0)\":\"v\"" }.joined(separator: ",")
        return [
            ("not JSON", "{\"site\":", .badRequest),
            ("JSON of the wrong shape", "42", .badRequest),
            ("empty batch", "[]", .badRequest),
            ("missing url", "{\"site\":\"example.com\"}", .badRequest),
            ("wrong type", "{\"site\":\"example.com\",\"url\":7}", .badRequest),
            ("unknown site", hitJSON(site: "unknown.example", id: "unknown-1", ts: now), .notFound),
            ("malformed site", hitJSON(site: "../../etc/passwd", id: "unknown-2", ts: now), .notFound),
            ("bad kind", hitJSON(site: "example.com", id: "badkind-1", ts: now, extra: "\"kind\":\"purchase\""), .badRequest),
            ("javascript url", hitJSON(site: "example.com", id: "badurl-01", ts: now, url: "javascript:alert(1)"), .badRequest),
            ("oversize url", hitJSON(site: "example.com", id: "longurl-1", ts: now, url: "https://example.com/\(long)"), .badRequest),
            ("oversize title", hitJSON(site: "example.com", id: "title-001", ts: now, extra: "\"title\":\"\(long)\""), .badRequest),
            ("too many props", hitJSON(site: "example.com", id: "props-001", ts: now, extra: "\"props\":{\(manyProps)}"), .badRequest),
            ("bad hit id", hitJSON(site: "example.com", id: "no spaces allowed", ts: now), .badRequest),
            ("custom event without name", hitJSON(site: "example.com", id: "custom-01", ts: now, extra: "\"kind\":\"custom\""), .badRequest),
            ("pii without consent", hitJSON(site: "example.com", id: "pii-00001", ts: now, extra: "\"pii\":{\"email\":\"ann@example.com\"}"), .badRequest),
            ("visitor id without consent", hitJSON(site: "example.com", id: "vid-00001", ts: now, extra: "\"vid\":\"abcdefghijklmnop\""), .badRequest),
            ("malformed visitor id", hitJSON(site: "example.com", id: "vid-00002", ts: now, extra: "\"consent\":true,\"vid\":\"x\""), .badRequest),
            ("one bad hit spoils the batch", "[\(ok),\(hitJSON(site: "example.com", id: "badkind-2", ts: now, extra: "\"kind\":\"nope\""))]", .badRequest),
            ("too many hits", "[" + (0..<101).map { hitJSON(site: "example.com", id: "many-\(1000 + $0)", ts: now) }.joined(separator: ",") + "]", .badRequest),
            ("body over the limit", "[" + String(repeating: " ", count: 70 * 1024) + "]", .contentTooLarge),
        ]
    }

    @Test func collect_refusesBadHits_andStoresNothing() async throws {
        let t = try TestNode()
        let owner = try t.makeOwner("ann", site: "example.com")
        try await t.app().test(.router) { client in
            for (what, body, status) in BadInputTests.badHits(now: t.clock.nowMs) {
                let response = try await client.hit(body)
                #expect(response.status == status, "\(what)")
                #expect(jsonObject(response)["error"] is String, "\(what): a JSON error says what was wrong")
            }
            let (_, summary) = try await client.getJSON("/api/sites/example.com/summary", owner.auth)
            #expect((summary as? [String: Any])?["pageviews"] as? Int == 0)
            #expect(t.node.metrics.value("footfall_ingest_rejects_total", labels: ["reason": "invalid"]) > 0)
        }
    }

    @Test func randomBytes_neverCrashTheCollectEndpoint() async throws {
        let t = try TestNode()
        _ = try t.makeOwner("ann", site: "example.com")
        var generator = SplitMix64(seed: 20261129)
        let bodies = (0..<200).map { _ in
            (0..<Int.random(in: 0..<512, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
        }
        try await t.app().test(.router) { client in
            for bytes in bodies {
                let response = try await client.execute(uri: "/api/event", method: .post, headers: [.userAgent: chromeUA],
                                                        body: ByteBuffer(bytes: bytes))
                #expect((400..<500).contains(response.status.code))
            }
            let health = try await client.execute(uri: "/health", method: .get)
            #expect(health.status == .ok)
        }
    }

    @Test func pixel_refusesMissingParameters() async throws {
        let t = try TestNode()
        _ = try t.makeOwner("ann", site: "example.com")
        try await t.app().test(.router) { client in
            for uri in ["/p.gif", "/p.gif?site=example.com", "/p.gif?url=/x", "/p.gif?site=nope.example&url=/x", "/p.gif?site=example.com&url=ftp://x"] {
                let response = try await client.execute(uri: uri, method: .get, headers: [.userAgent: chromeUA])
                #expect((400..<500).contains(response.status.code), "\(uri)")
            }
        }
    }

    @Test func apiRoutes_refuseBadParametersAndBodies() async throws {
        let t = try TestNode()
        let owner = try t.makeOwner("ann", site: "example.com")
        let json: HTTPFields = [.authorization: "Bearer \(owner.token)", .contentType: "application/json"]
        let cases: [(HTTPRequest.Method, String, String?, HTTPResponse.Status)] = [
            (.get, "/api/sites/example.com/summary?from=2026-13-01&to=2026-13-02", nil, .badRequest),
            (.get, "/api/sites/example.com/summary?from=2026-06-10", nil, .badRequest),
            (.get, "/api/sites/example.com/summary?from=2026-06-10&to=2026-06-01", nil, .badRequest),
            (.get, "/api/sites/example.com/summary?from=2020-01-01&to=2026-01-01", nil, .badRequest),
            (.get, "/api/sites/example.com/summary?filter.secret=x", nil, .badRequest),
            (.get, "/api/sites/example.com/breakdown/passwords", nil, .badRequest),
            (.get, "/api/sites/example.com/timeseries?interval=minute", nil, .badRequest),
            (.get, "/api/sites/example.com/timeseries?interval=hour&from=2026-01-01&to=2026-06-01", nil, .badRequest),
            (.get, "/api/sites/example.com/visitors/not-hex", nil, .badRequest),
            (.get, "/api/sites/example.com/visitors/0123456789abcdef", nil, .notFound),
            (.get, "/api/sites/example.com/visitors/0123456789abcdef/export", nil, .notFound),
            (.post, "/api/sites/example.com/visitors/0123456789abcdef/notes", "{\"text\":\"hello\"}", .notFound),
            (.post, "/api/sites/example.com/visitors/0123456789abcdef/notes", "{\"txt\":1}", .badRequest),
            (.put, "/api/sites/example.com/visitors/0123456789abcdef/tags", "{\"tags\":\"vip\"}", .badRequest),
            (.patch, "/api/sites/example.com/visitors/0123456789abcdef", "[]", .badRequest),
            (.post, "/api/sites/example.com/erasures", "{}", .badRequest),
            (.post, "/api/sites/example.com/erasures", "{\"visitor\":\"zz\"}", .badRequest),
            (.post, "/api/sites/example.com/erasures", "not json", .badRequest),
            (.get, "/api/sites/example.com/erasures/0123456789abcdef", nil, .notFound),
            (.patch, "/api/sites/example.com", "{\"retention_days\":400}", .badRequest),
            (.patch, "/api/sites/example.com", "{\"retention_days\":7}", .badRequest),
            (.patch, "/api/sites/example.com", "{\"timezone\":\"Mars/Olympus\"}", .badRequest),
            (.post, "/api/sites", "{\"domain\":\"not a domain\"}", .badRequest),
            (.post, "/api/sites", "{\"domain\":\"example.com\"}", .conflict),
            (.post, "/api/sites", "{\"domain\":\"new.example\",\"timezone\":\"Nowhere/Else\"}", .badRequest),
            (.post, "/api/login", "{\"email\":\"ann@example.net\"}", .badRequest),
            (.post, "/api/login", "{\"email\":\"ann@example.net\",\"password\":\"wrong password\"}", .unauthorized),
            (.get, "/api/sites/example.com/summary", nil, .ok), // control: the credential itself works
        ]
        try await t.app().test(.router) { client in
            for (method, uri, body, status) in cases {
                let response = try await client.execute(uri: uri, method: method, headers: json, body: body.map { ByteBuffer(string: $0) })
                #expect(response.status == status, "\(method) \(uri) \(body ?? "")")
                if status.code >= 400 { #expect(jsonObject(response)["error"] is String, "\(method) \(uri)") }
            }
            let site = try #require(try t.node.system.site(SiteID("example.com")!))
            #expect(site.retention.days == 30 && site.timeZone == "UTC", "refused patches changed nothing")
        }
        #expect(try t.node.system.site(SiteID("new.example")!) == nil)
    }
}
