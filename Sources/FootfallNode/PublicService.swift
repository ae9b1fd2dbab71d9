import FootfallCluster
import FootfallModel
import FootfallWire
import Foundation
import GRPCCore

/// The public gRPC service (Proto/footfall/v1/public.proto): the HTTP API's reports, export and
/// erasure for programs in any language. Same tokens, same rights, same answers: every method goes
/// through the same `Node` calls as its HTTP route.
struct PublicServiceHandler: Footfall_V1_FootfallService.ServiceProtocol {
    typealias Request<Message> = ServerRequest<Message>
    typealias Response<Message> = ServerResponse<Message>
    let node: Node

    func summary(request: Request<Footfall_V1_ReportRequest>, context: ServerContext) async throws -> Response<Footfall_V1_SummaryReply> {
        await respond(request, right: .read, site: request.message.site) { message, site, _ in
            let summary = try JSONDecoder().decode(Summary.self, from: try await node.answer(query(.summary, message, site)))
            return .with {
                $0.pageviews = summary.pageviews
                $0.visitors = summary.visitors
                $0.visits = summary.visits
                $0.bounceRate = summary.bounceRate
                $0.visitDurationSeconds = summary.visitDurationSeconds
                $0.events = summary.events
            }
        }
    }

    func breakdown(request: Request<Footfall_V1_BreakdownRequest>, context: ServerContext) async throws -> Response<Footfall_V1_BreakdownReply> {
        await respond(request, right: .read, site: request.message.report.site) { message, site, _ in
            let limit = message.limit == 0 ? 10 : Int(min(message.limit, 1000))
            let query = query(.breakdown, message.report, site, ["dimension": message.dimension, "limit": "\(limit)"])
            let rows = try JSONDecoder().decode([BreakdownRow].self, from: try await node.answer(query))
            return .with {
                $0.rows = rows.map { row in .with { $0.value = row.value; $0.count = row.count; $0.visitors = row.visitors ?? -1 } }
            }
        }
    }

    func timeseries(request: Request<Footfall_V1_TimeseriesRequest>, context: ServerContext) async throws -> Response<Footfall_V1_TimeseriesReply> {
        await respond(request, right: .read, site: request.message.report.site) { message, site, _ in
            let query = query(.timeseries, message.report, site, ["interval": message.interval.isEmpty ? "day" : message.interval])
            let points = try JSONDecoder().decode([TimeseriesPoint].self, from: try await node.answer(query))
            return .with {
                $0.points = points.map { point in
                    .with { $0.startMs = point.startMs; $0.pageviews = point.pageviews; $0.visitors = point.visitors; $0.visits = point.visits }
                }
            }
        }
    }

    func realtime(request: Request<Footfall_V1_SiteRequest>, context: ServerContext) async throws -> Response<Footfall_V1_RealtimeReply> {
        await respond(request, right: .read, site: request.message.site) { _, site, principal in
            let show = principal.may(.visitors, on: site) ? "1" : "0"
            let json = try await node.answer(SiteQuery(site: site.id, kind: .realtime, parameters: ["show_visitors": show]))
            return .with { $0.json = json }
        }
    }

    func exportVisitor(request: Request<Footfall_V1_VisitorRequest>, context: ServerContext) async throws -> Response<Footfall_V1_VisitorExportReply> {
        await respond(request, right: .visitors, site: request.message.site) { message, site, _ in
            let visitor = try visitor(message.visitor)
            let json = try await node.answer(SiteQuery(site: site.id, kind: .export, parameters: ["visitor": visitor.description]))
            return .with { $0.json = json }
        }
    }

    func erase(request: Request<Footfall_V1_EraseRequest>, context: ServerContext) async throws -> Response<Footfall_V1_ErasureReceipt> {
        await respond(request, right: .erase, site: request.message.site) { message, site, _ in
            let subject: VisitorID
            switch message.subject {
            case .visitor(let hex)?: subject = try visitor(hex)
            case .clientID(let clientID)? where !clientID.isEmpty: subject = VisitorID.consented(site: site.id, clientID: clientID)
            default:
                throw FootfallError.invalid("name the visitor by visitor id or client_id (the tracker's consented id); a cookieless visitor cannot be singled out")
            }
            return PublicServiceHandler.receipt(try await node.erase(site: site.id, visitor: subject))
        }
    }

    func erasureStatus(request: Request<Footfall_V1_VisitorRequest>, context: ServerContext) async throws -> Response<Footfall_V1_ErasureReceipt> {
        await respond(request, right: .erase, site: request.message.site) { message, site, _ in
            PublicServiceHandler.receipt(try await node.erasureStatus(site: site.id, visitor: try visitor(message.visitor)))
        }
    }

    // MARK: Helpers

    /// Authenticates the call's bearer token, authorizes `right` on the named site, runs `body`,
    /// and turns the HTTP layer's errors into the matching gRPC status.
    private func respond<In: Sendable, Out: Sendable>(
        _ request: Request<In>, right: SiteRight, site raw: String, _ body: (In, Site, Principal) async throws -> Out
    ) async -> Response<Out> {
        do {
            guard let header = request.metadata[stringValues: "authorization"].first(where: { _ in true }) else {
                throw FootfallError.unauthorized
            }
            let principal = try node.principal(authorization: header)
            let site = try node.authorizedSite(named: raw, for: principal, right: right)
            return Response(message: try await body(request.message, site, principal))
        } catch let error as FootfallError {
            return Response(error: RPCError(error))
        } catch {
            node.logger.error("public gRPC call failed", metadata: ["grpc.method": "\(In.self)", "error": "\(error)"])
            return Response(error: RPCError(code: .internalError, message: "internal error"))
        }
    }

    private func query(_ kind: SiteQuery.Kind, _ request: Footfall_V1_ReportRequest, _ site: Site,
                       _ extra: [String: String] = [:]) -> SiteQuery {
        var parameters = extra
        if !request.from.isEmpty { parameters["from"] = request.from }
        if !request.to.isEmpty { parameters["to"] = request.to }
        for filter in request.filters { parameters["filter.\(filter.key)"] = filter.value }
        return SiteQuery(site: site.id, kind: kind, parameters: parameters)
    }

    private func visitor(_ hex: String) throws -> VisitorID {
        guard let visitor = VisitorID(hex: hex) else { throw FootfallError.invalid("a visitor id is 16 hex digits") }
        return visitor
    }

    static func receipt(_ receipt: ErasureReceipt) -> Footfall_V1_ErasureReceipt {
        .with {
            $0.status = receipt.status
            $0.requestID = receipt.requestID ?? ""
            $0.site = receipt.site
            $0.visitor = receipt.visitor ?? ""
            $0.erasedAtMs = receipt.erasedAtMs ?? 0
            $0.deletedEvents = receipt.deletedEvents
            $0.replicas = receipt.replicas.map { replica in .with { $0.node = replica.node; $0.confirmedAtMs = replica.confirmedAtMs } }
            $0.pending = receipt.pending
            $0.note = receipt.note ?? ""
        }
    }
}

extension Node {
    /// The public gRPC service, answering through this node.
    package var publicService: any RegistrableRPCService { PublicServiceHandler(node: self) }
}
