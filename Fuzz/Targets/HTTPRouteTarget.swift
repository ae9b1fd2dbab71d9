import FootfallModel
@testable import FootfallNode
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore

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

    /// A fixture node with its router kept open across inputs, rebuilt every `uses` inputs.
    private final class Recycled: @unchecked Sendable {
        private let uses: Int
        private var count = 0
        private var current: (FuzzNode, RouterSession)?

        init(every uses: Int) { self.uses = uses }

        var next: (FuzzNode, RouterSession) {
            if count % uses == 0 {
                current?.1.close()
                let fixture = FuzzNode()
                current = (fixture, RouterSession(node: fixture.node))
            }
            count += 1
            return current!
        }
    }
}

/// Hummingbird's in-process router test client, kept open in a task: `send` hands it one request
/// and waits for the whole answer (libFuzzer's callback is synchronous).
final class RouterSession: @unchecked Sendable {
    private final class Job: @unchecked Sendable {
        let uri: String, method: HTTPRequest.Method, headers: HTTPFields, body: ByteBuffer?
        var response: TestResponse?
        let done = DispatchSemaphore(value: 0)
        init(uri: String, method: HTTPRequest.Method, headers: HTTPFields, body: ByteBuffer?) {
            (self.uri, self.method, self.headers, self.body) = (uri, method, headers, body)
        }
    }

    private let jobs: AsyncStream<Job>.Continuation

    init(node: Node) {
        let (stream, jobs) = AsyncStream<Job>.makeStream()
        self.jobs = jobs
        let app = Application(router: HTTPRoutes.router(for: node), logger: Logger(label: "fuzz", factory: { _ in SwiftLogNoOpLogHandler() }))
        Task {
            try? await app.test(.router) { client in
                for await job in stream {
                    job.response = try? await client.execute(uri: job.uri, method: job.method, headers: job.headers, body: job.body)
                    job.done.signal()
                }
            }
        }
    }

    func send(uri: String, method: HTTPRequest.Method, headers: HTTPFields, body: ByteBuffer?) -> TestResponse? {
        let job = Job(uri: uri, method: method, headers: headers, body: body)
        jobs.yield(job)
        job.done.wait()
        return job.response
    }

    func close() { jobs.finish() }
}
