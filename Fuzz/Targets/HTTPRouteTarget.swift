@testable import FootfallHTTP
import FootfallModel
@testable import FootfallNode
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import NIOEmbedded

/// Any HTTP request a stranger, a token or a signed-in browser sends — method, path and query,
/// headers, body — through the node's whole router (middleware, authentication, every route's
/// JSON decoding and handler), in process. Placeholders in headers stand for the fixture's live
/// credentials: `{owner}`, `{read}`, `{other}` (tokens), `{session}` and `{csrf}` (the owner's
/// sign-in). Whatever the request, the node answers with a status it chose — never a 500 — and
/// another account's token gets nothing of the owner's site.
enum HTTPRouteTarget {
    private static let methods: [HTTPRequest.Method] = [.get, .post, .put, .patch, .delete, .options, .head]
    private static let fixtures = Recycled(every: 1_000)

    static let routes = FuzzTarget(
        name: "http-routes",
        summary: "method ⟂ path and query ⟂ headers ⟂ body → the node's Hummingbird router, in process",
        run: { input in
            guard let first = input.first else { return }
            let parts = fields(Array(input.dropFirst()), count: 3)
            let path = CollectTargets.text(parts[0])
            // The live stream answers until the client leaves: its decoding is the report's, fuzzed here
            // through the other report routes.
            guard path.hasPrefix("/"), !(path.removingPercentEncoding ?? path).lowercased().contains("live") else { return }
            let (fixture, router) = fixtures.next
            var headers = HTTPFields()
            for line in CollectTargets.text(parts[1]).split(separator: "\n") {
                let pair = line.split(separator: ":", maxSplits: 1)
                guard pair.count == 2, let name = HTTPField.Name(String(pair[0]).trimmingCharacters(in: .whitespaces)) else { continue }
                headers.append(HTTPField(name: name, value: fixture.substituted(String(pair[1]).trimmingCharacters(in: .whitespaces))))
            }
            guard let response = router.send(uri: path, method: methods[Int(first) % methods.count], headers: headers,
                                             body: parts[2].isEmpty ? nil : ByteBuffer(bytes: parts[2])) else { return }
            FuzzCheck.require(response.status != .internalServerError, "500 for \(path): \(String(buffer: response.body).prefix(200))")
            if headers[.authorization] == "Bearer \(fixture.strangerToken)", path.hasPrefix("/api/sites/\(FuzzNode.site.rawValue)") {
                FuzzCheck.require(response.status.kind != .successful, "another account's token was answered on \(path)")
            }
        },
        seeds: {
            let json = "Content-Type: application/json"
            let requests: [(HTTPRequest.Method, String, String, String)] = [
                (.post, "/api/login", json, #"{"email":"owner@example.net","password":"fuzz owner password"}"#),
                (.post, "/api/password", "\(json)\nCookie: footfall_session={session}\nX-CSRF-Token: {csrf}",
                 #"{"current":"fuzz owner password","new":"another long password"}"#),
                (.post, "/api/sites", "\(json)\nAuthorization: Bearer {owner}", #"{"domain":"new.example","timezone":"Asia/Kolkata","retention_days":90}"#),
                (.patch, "/api/sites/shop.example", "\(json)\nAuthorization: Bearer {owner}", #"{"retention_days":60}"#),
                (.post, "/api/tokens", "\(json)\nCookie: footfall_session={session}\nX-CSRF-Token: {csrf}",
                 #"{"name":"script","sites":["shop.example"],"rights":["read"]}"#),
                (.get, "/api/sites/shop.example/breakdown/page?from=2026-06-01&filter.referrer=t.co", "Authorization: Bearer {read}", ""),
                (.get, "/api/sites/shop.example/summary?filter.entry_page=/p/0", "Authorization: Bearer {other}", ""),
                (.get, "/api/sites/shop.example/visitors?email=v1@example.org", "Authorization: Bearer {owner}", ""),
                (.post, "/api/sites/shop.example/visitors/\(FuzzNode.consentedVisitor(1))/notes", "\(json)\nAuthorization: Bearer {owner}", #"{"text":"prefers email"}"#),
                (.put, "/api/sites/shop.example/visitors/\(FuzzNode.consentedVisitor(2))/tags", "\(json)\nAuthorization: Bearer {owner}", #"{"tags":["vip"]}"#),
                (.patch, "/api/sites/shop.example/visitors/\(FuzzNode.consentedVisitor(1))", "\(json)\nAuthorization: Bearer {owner}", #"{"email":"new@example.org"}"#),
                (.post, "/api/sites/shop.example/erasures", "\(json)\nAuthorization: Bearer {owner}", #"{"client_id":"\#(FuzzNode.clientID(0))"}"#),
                (.post, "/api/event", "Content-Type: text/plain\nUser-Agent: \(FuzzNode.userAgent)", #"{"site":"shop.example","url":"/p/1"}"#),
                (.post, "/optout", "Sec-Fetch-Site: same-origin", "action=optout"),
                (.delete, "/api/tokens/tk_0000", "Cookie: footfall_session={session}\nX-CSRF-Token: {csrf}", ""),
            ]
            return requests.map { method, path, headers, body in
                [UInt8(methods.firstIndex(of: method)!)] + joined([Array(path.utf8), Array(headers.utf8), Array(body.utf8)])
            }
        }
    )

    /// A fixture node and its router, rebuilt every `uses` inputs.
    private final class Recycled: @unchecked Sendable {
        private let uses: Int
        private var count = 0
        private var current: (FuzzNode, RouterSession)?

        init(every uses: Int) { self.uses = uses }

        var next: (FuzzNode, RouterSession) {
            if count % uses == 0 {
                let fixture = FuzzNode()
                current = (fixture, RouterSession(node: fixture.node))
            }
            count += 1
            return current!
        }
    }
}

/// The node's router answering in process, one request at a time (libFuzzer's callback is
/// synchronous). Not HummingbirdTesting's router client: that builds a test channel per request
/// whose pipeline and event loop hold each other, so every request leaked about 8 KB and a long
/// run ran out of memory (540,954 runs, 4 GB). Here one channel serves the fixture's lifetime.
final class RouterSession: @unchecked Sendable {
    private let responder: Router<FootfallRequestContext>.Responder
    private let channel = NIOAsyncTestingChannel()
    private let logger = Logger(label: "fuzz", factory: { _ in SwiftLogNoOpLogHandler() })

    init(node: Node) { responder = HTTPRoutes.router(for: node).buildResponder() }

    func send(uri: String, method: HTTPRequest.Method, headers: HTTPFields, body: ByteBuffer?) -> Answer? {
        var headers = headers
        if let body { headers[.contentLength] = String(body.readableBytes) }
        let request = Request(head: HTTPRequest(method: method, scheme: "http", authority: "localhost", path: uri, headerFields: headers),
                              body: RequestBody(buffer: body ?? ByteBuffer()))
        let context = FootfallRequestContext(source: ApplicationRequestContextSource(channel: channel, logger: logger))
        let responder = responder
        return try? blocking {
            // Hummingbird's server answers 500 for an error that is not an HTTPResponseError; so does this.
            let response = (try? await responder.respond(to: request, context: context)) ?? Response(status: .internalServerError)
            let collected = BodyCollector.Bytes()
            try await response.body.write(BodyCollector(collected: collected))
            return Answer(status: response.status, body: collected.buffer)
        }.get()
    }

    /// A response as the target checks it: its status and whole body.
    struct Answer {
        let status: HTTPResponse.Status
        let body: ByteBuffer
    }

    /// The writer is consumed by `write`, so the bytes live in a box the caller keeps.
    private struct BodyCollector: ResponseBodyWriter {
        final class Bytes: @unchecked Sendable { var buffer = ByteBuffer() }
        let collected: Bytes
        mutating func write(_ buffer: ByteBuffer) async throws {
            var buffer = buffer
            collected.buffer.writeBuffer(&buffer)
        }
        consuming func finish(_ trailingHeaders: HTTPFields?) async throws {}
    }
}
