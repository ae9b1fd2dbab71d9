@testable import FootfallIngest
import FootfallModel
@testable import FootfallNode
import FootfallWire
import Foundation
import GRPCCore
import GRPCInProcessTransport
import Testing

/// The public gRPC service through grpc-swift's in-process transport (the service is the point,
/// not the socket; the port's TLS is checked by Tests/Cluster/cert_rotation_test.py): the same
/// answers as the HTTP API, the same tokens and rights, and nothing of another owner's.
@Suite struct PublicServiceTests {
    typealias Client = Footfall_V1_FootfallService.Client<InProcessTransport.Client>

    /// Serves `node`'s public service in-process for the duration of `body`.
    static func withService(_ node: Node, _ body: @Sendable @escaping (Client) async throws -> Void) async throws {
        let transport = InProcessTransport()
        let server = GRPCServer(transport: transport.server, services: [PublicServiceHandler(node: node)])
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { try await server.serve() }
            try await withGRPCClient(transport: transport.client) { client in
                try await body(Client(wrapping: client))
            }
            server.beginGracefulShutdown()
        }
    }

    static func bearer(_ token: String) -> Metadata { ["authorization": "Bearer \(token)"] }

    @Test func reports_matchTheHTTPAPI_andTokensReachOnlyTheirOwnersSites() async throws {
        let t = try TestNode()
        let owner = try t.makeOwner("ana", site: "ana.example")
        let other = try t.makeOwner("bo", site: "bo.example")
        let hits = try (0..<3).map { index in
            try JSONDecoder().decode(Hit.self, from: Data(hitJSON(site: "ana.example", id: "grpc-hit-\(index)", ts: t.clock.nowMs,
                                                                 url: "https://ana.example/page-\(index % 2)").utf8))
        }
        _ = try await t.node.ingest(hits, context: HitContext(ip: IPAddress("203.0.113.9"), userAgent: chromeUA,
                                                              nowMs: t.clock.nowMs))
        let expected = try t.node.reports.summary(
            ReportScope(site: owner.site, from: nil, to: nil, filters: [], nowMs: t.clock.nowMs), nowMs: t.clock.nowMs)
        #expect(expected.pageviews == 3, "positive control: the hits were stored")

        try await PublicServiceTests.withService(t.node) { client in
            let request = Footfall_V1_ReportRequest.with { $0.site = "ana.example" }
            let summary = try await client.summary(request, metadata: PublicServiceTests.bearer(owner.token))
            #expect(summary.pageviews == expected.pageviews && summary.visitors == expected.visitors && summary.visits == expected.visits)

            let pages = try await client.breakdown(.with { $0.report = request; $0.dimension = "page" },
                                                   metadata: PublicServiceTests.bearer(owner.token))
            #expect(Dictionary(uniqueKeysWithValues: pages.rows.map { ($0.value, $0.count) }) == ["/page-0": 2, "/page-1": 1])

            let filtered = try await client.summary(.with { $0.site = "ana.example"; $0.filters = ["page": "/page-1"] },
                                                    metadata: PublicServiceTests.bearer(owner.token))
            #expect(filtered.pageviews == 1)

            #expect(await rpcStatus { _ = try await client.summary(request) } == .unauthenticated)
            #expect(await rpcStatus { _ = try await client.summary(request, metadata: PublicServiceTests.bearer("ff_wrong")) }
                == .unauthenticated)
            // Another owner's token: the site answers as if it did not exist.
            #expect(await rpcStatus { _ = try await client.summary(request, metadata: PublicServiceTests.bearer(other.token)) }
                == .notFound)
            #expect(await rpcStatus {
                _ = try await client.breakdown(.with { $0.report = request; $0.dimension = "no-such-dimension" },
                                               metadata: PublicServiceTests.bearer(owner.token))
            } == .invalidArgument)
        }
    }

    @Test func erasure_byClientID_returnsAReceipt_thatCanBePolled() async throws {
        let t = try TestNode()
        let owner = try t.makeOwner("cy", site: "cy.example")
        let hit = try JSONDecoder().decode(Hit.self, from: Data(hitJSON(
            site: "cy.example", id: "grpc-consented", ts: t.clock.nowMs, url: "https://cy.example/",
            extra: "\"consent\":true,\"vid\":\"first-party-id-42\"").utf8))
        _ = try await t.node.ingest([hit], context: HitContext(ip: IPAddress("203.0.113.9"), userAgent: chromeUA,
                                                               nowMs: t.clock.nowMs))
        let visitor = VisitorID.consented(site: owner.site.id, clientID: "first-party-id-42")
        try await PublicServiceTests.withService(t.node) { client in
            let export = try await client.exportVisitor(.with { $0.site = "cy.example"; $0.visitor = visitor.description },
                                                        metadata: PublicServiceTests.bearer(owner.token))
            let document = try JSONSerialization.jsonObject(with: export.json) as? [String: Any]
            #expect((document?["events"] as? [Any])?.count == 1)

            let receipt = try await client.erase(.with { $0.site = "cy.example"; $0.clientID = "first-party-id-42" },
                                                 metadata: PublicServiceTests.bearer(owner.token))
            #expect(receipt.status == "complete" && receipt.visitor == visitor.description && receipt.deletedEvents == 1)
            #expect(receipt.replicas.map(\.node) == ["node-1"] && receipt.pending.isEmpty, "the single node is the one replica")
            let polled = try await client.erasureStatus(.with { $0.site = "cy.example"; $0.visitor = visitor.description },
                                                        metadata: PublicServiceTests.bearer(owner.token))
            #expect(polled.requestID == receipt.requestID)
            #expect(await rpcStatus {
                _ = try await client.exportVisitor(.with { $0.site = "cy.example"; $0.visitor = visitor.description },
                                                   metadata: PublicServiceTests.bearer(owner.token))
            } == .notFound)
        }
    }
}
