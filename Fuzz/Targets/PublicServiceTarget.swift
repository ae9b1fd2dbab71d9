import FootfallModel
@testable import FootfallNode
import FootfallWire
import Foundation
import GRPCCore
import SwiftProtobuf

/// The public gRPC service (Proto/footfall/v1/public.proto) as a program with a token calls it:
/// every method of the real `PublicServiceHandler`, with the owner's token, a read-only token,
/// another account's token or a forged one. Whatever the request, another account's token never
/// gets an answer about this owner's site, and a read-only token never reaches visitors or erasure.
enum PublicServiceTarget {
    private static let writes = RecycledFuzzNode(every: 5_000)
    private typealias Method = Footfall_V1_FootfallService.Method

    /// Byte 0 picks the method, byte 1 the token; the rest is the request message.
    static let requests = FuzzTarget(
        name: "public-requests",
        summary: "every FootfallService request with four kinds of token → PublicServiceHandler",
        run: { input in
            guard input.count >= 2 else { return }
            let fixture = writes.node
            let handler = PublicServiceHandler(node: fixture.node)
            let caller = Caller.allCases[Int(input[1]) % Caller.allCases.count]
            let metadata: Metadata = ["authorization": "Bearer \(caller.token(fixture))"]
            let body = Array(input.dropFirst(2))
            switch input[0] % 7 {
            case 0:
                guard let message = try? Footfall_V1_ReportRequest(serializedBytes: body) else { return }
                let answered = blocking { try await handler.summary(request: .init(metadata: metadata, message: message), context: context(Method.Summary.descriptor)) }
                check(answered, caller, site: message.site, right: .read)
            case 1:
                guard let message = try? Footfall_V1_BreakdownRequest(serializedBytes: body) else { return }
                let answered = blocking { try await handler.breakdown(request: .init(metadata: metadata, message: message), context: context(Method.Breakdown.descriptor)) }
                check(answered, caller, site: message.report.site, right: .read)
            case 2:
                guard let message = try? Footfall_V1_TimeseriesRequest(serializedBytes: body) else { return }
                let answered = blocking { try await handler.timeseries(request: .init(metadata: metadata, message: message), context: context(Method.Timeseries.descriptor)) }
                check(answered, caller, site: message.report.site, right: .read)
            case 3:
                guard let message = try? Footfall_V1_SiteRequest(serializedBytes: body) else { return }
                let answered = blocking { try await handler.realtime(request: .init(metadata: metadata, message: message), context: context(Method.Realtime.descriptor)) }
                check(answered, caller, site: message.site, right: .read)
            case 4:
                guard let message = try? Footfall_V1_VisitorRequest(serializedBytes: body) else { return }
                let answered = blocking { try await handler.exportVisitor(request: .init(metadata: metadata, message: message), context: context(Method.ExportVisitor.descriptor)) }
                check(answered, caller, site: message.site, right: .visitors)
            case 5:
                guard let message = try? Footfall_V1_EraseRequest(serializedBytes: body) else { return }
                let answered = blocking { try await handler.erase(request: .init(metadata: metadata, message: message), context: context(Method.Erase.descriptor)) }
                check(answered, caller, site: message.site, right: .erase)
            default:
                guard let message = try? Footfall_V1_VisitorRequest(serializedBytes: body) else { return }
                let answered = blocking { try await handler.erasureStatus(request: .init(metadata: metadata, message: message), context: context(Method.ErasureStatus.descriptor)) }
                check(answered, caller, site: message.site, right: .erase)
            }
        },
        seeds: {
            let report = Footfall_V1_ReportRequest.with { $0.site = FuzzNode.site.rawValue; $0.from = "2026-06-01"; $0.to = "2026-06-15"; $0.filters = ["page": "/p/1"] }
            let visitor = FuzzNode.consentedVisitor(1).description
            let messages: [(UInt8, any SwiftProtobuf.Message)] = [
                (0, report),
                (1, Footfall_V1_BreakdownRequest.with { $0.report = report; $0.dimension = "referrer"; $0.limit = 5 }),
                (2, Footfall_V1_TimeseriesRequest.with { $0.report = report; $0.interval = "hour" }),
                (3, Footfall_V1_SiteRequest.with { $0.site = FuzzNode.site.rawValue }),
                (4, Footfall_V1_VisitorRequest.with { $0.site = FuzzNode.site.rawValue; $0.visitor = visitor }),
                (5, Footfall_V1_EraseRequest.with { $0.site = FuzzNode.site.rawValue; $0.clientID = FuzzNode.clientID(2) }),
                (6, Footfall_V1_VisitorRequest.with { $0.site = FuzzNode.site.rawValue; $0.visitor = FuzzNode.consentedVisitor(3).description }),
            ]
            return messages.flatMap { method, message in
                Caller.allCases.indices.map { [method, UInt8($0)] + serialized(message) }
            }
        }
    )

    private enum Caller: CaseIterable {
        case owner, readOnly, otherAccount, forged

        func token(_ fixture: FuzzNode) -> String {
            switch self {
            case .owner: fixture.ownerToken
            case .readOnly: fixture.readToken
            case .otherAccount: fixture.strangerToken
            case .forged: "ff_0000000000000000000000000000000000000000"
            }
        }
    }

    /// Only the owner's token, or a read-only token asking to read, may get an answer about the
    /// owner's site.
    private static func check<Reply>(_ answered: Result<ServerResponse<Reply>, any Error>, _ caller: Caller, site: String, right: SiteRight) {
        guard case .success(let response) = answered, case .success = response.accepted else { return }
        guard SiteID(site) == FuzzNode.site else { return }
        FuzzCheck.require(caller == .owner || (caller == .readOnly && right == .read),
                          "a \(caller) token was answered about another account's site (\(right))")
    }

    private static func context(_ method: MethodDescriptor) -> ServerContext {
        ServerContext(descriptor: method, remotePeer: "ipv4:203.0.113.5:40000", localPeer: "ipv4:127.0.0.1:7002",
                      cancellation: ServerContext.RPCCancellationHandle())
    }
}
