import FootfallCluster
import FootfallModel
import FootfallProtocols
import FootfallStorage
import FootfallWire
import Foundation
import GRPCCore

/// A read of one site's data, answered by a replica of the site. Any node takes the client's
/// request and authorises its credential (system data is on every node); the answer comes from
/// this node's own data when it replicates the site and is not waiting for repair, otherwise from
/// another live replica over the internal service — the same code either way, as JSON.
public struct SiteQuery: Sendable {
    public enum Kind: String, Sendable {
        case summary, breakdown, timeseries, realtime, visitors, visitor, export
        /// This replica's erasure record of a visitor (receipts merge every replica's).
        case erasureRecord = "erasure-record"
        /// Consented visitors who gave this email (erasure by email).
        case visitorsByEmail = "visitors-by-email"
        /// A consented visitor's CRM record as stored (`{"record": base64 protobuf}`), for edits.
        case visitorRecord = "visitor-record"
    }

    public var site: SiteID
    public var kind: Kind
    /// The HTTP API's query parameters (from, to, filter.*, limit, interval) plus `dimension`,
    /// `visitor`, `email` and `show_visitors` where the kind needs them.
    public var parameters: [String: String]

    public init(site: SiteID, kind: Kind, parameters: [String: String] = [:]) {
        self.site = site
        self.kind = kind
        self.parameters = parameters
    }

    init(_ request: Footfall_V1_SiteQueryRequest) throws {
        guard let site = SiteID(request.site) else { throw FootfallError.invalid("not a site id") }
        guard let kind = Kind(rawValue: request.kind) else { throw FootfallError.invalid("unknown site query \(request.kind.prefix(40))") }
        guard request.parameters.count <= 64 else { throw FootfallError.invalid("too many query parameters") }
        self.init(site: site, kind: kind, parameters: request.parameters)
    }

    var wire: Footfall_V1_SiteQueryRequest {
        .with {
            $0.site = site.rawValue
            $0.kind = kind.rawValue
            $0.parameters = parameters
        }
    }
}

/// One replica's erasure record of a visitor, as `SiteQuery.Kind.erasureRecord` answers it.
struct ReplicaErasureState: Codable, Sendable {
    var requestID: String
    var erasedAtMs: Int64
    var deletedEvents: Int64
    var confirmations: [Confirmation]

    struct Confirmation: Codable, Sendable {
        var node: String
        var confirmedAtMs: Int64
    }
}

extension ReplicaErasureState {
    /// A peer's answer holds numbers from the network, which receipts add up and compare: out of
    /// the range a stored record keeps (`ErasureRecord`), the answer is refused, as no answer.
    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(requestID: try container.decode(String.self, forKey: .requestID),
                  erasedAtMs: try container.decode(Int64.self, forKey: .erasedAtMs),
                  deletedEvents: try container.decode(Int64.self, forKey: .deletedEvents),
                  confirmations: try container.decode([Confirmation].self, forKey: .confirmations))
        guard EventCodec.Bounds.timestampMs.contains(erasedAtMs), (0...Int64(VisitorRecord.countMax)).contains(deletedEvents) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "an erasure record's fence or count out of range"))
        }
    }
}

extension Node {
    /// Answers a site query: locally when this node may serve the site's reads, otherwise through
    /// the first live replica that answers.
    public func answer(_ query: SiteQuery) async throws -> Data {
        try await answerNamingReplica(query).json
    }

    /// A site read a peer routed here. A peer routes reads by its own view, which does not know
    /// that this node waits for repair (a lost disk, a restore, a long absence): its copy lacks
    /// events, so the peer is sent on to the next replica rather than answered from it.
    package func answerPeerRead(_ request: Footfall_V1_SiteQueryRequest) async throws -> Data {
        let query = try SiteQuery(request)
        guard await replication.readReplicas(for: query.site).local else {
            throw FootfallError.unavailable("this node does not serve reads of \(query.site) now (waiting for repair, or not its replica)")
        }
        return try await offloaded { try self.answerLocally(query) }
    }

    /// The answer and the replica that gave it.
    package func answerNamingReplica(_ query: SiteQuery) async throws -> (json: Data, replica: String) {
        if let raw = query.parameters["consistency"] {
            guard let level = Replication.Consistency(rawValue: raw) else { throw FootfallError.invalid("consistency is one, quorum or all") }
            if level != .one {
                // One read repair per site at a time: a read token must not be able to keep every
                // replica of a site busy comparing and streaming.
                try await readRepairs.run(query.site, refusal: FootfallError.unavailable("a read repair of this site is running; retry shortly")) {
                    try await repairBeforeRead(query, level: level)
                }
            }
        }
        let replicas = await replication.readReplicas(for: query.site)
        if replicas.local { return (try await offloaded { try self.answerLocally(query) }, configuration.nodeName) }
        for peer in replicas.remote {
            guard let client = await replication.client(for: peer) else { continue }
            do {
                let reply = try await client.siteQuery(query.wire, options: ClusterTransport.callOptions(timeout: .seconds(10)))
                return (reply.json, peer)
            } catch let error as RPCError where error.code == .notFound || error.code == .invalidArgument {
                throw FootfallError(error.code == .notFound ? .notFound : .invalid, error.message)
            } catch {
                logger.warning("a replica did not answer a query; trying the next", metadata: ["query.site": "\(query.site)",
                                                                                              "query.replica": "\(peer)"])
            }
        }
        throw FootfallError.unavailable("no replica of \(query.site) is reachable; try again shortly")
    }

    /// A QUORUM (or ALL) read: compares the digest trees of the query's window on the live
    /// replicas (at least as many as the level needs) and, where they differ, repairs them against
    /// each other (anti-entropy narrowed to the window) before the answer is read, so it reflects
    /// every write a quorum acknowledged.
    func repairBeforeRead(_ query: SiteQuery, level: Replication.Consistency) async throws {
        guard let site = try system.site(query.site) else { throw FootfallError.notFound("no such site") }
        let now = clock.nowMs
        let window = try Node.readWindow(query, site: site, nowMs: now)
        let names = await replication.ring.preferenceList(for: site.id, replicationFactor: configuration.replication.replicationFactor)
        let alive = await replication.alive
        var replicas = [any RepairReplica]()
        for name in names where alive.contains(name) {
            if name == configuration.nodeName {
                replicas.append(LocalReplica(name: name, store: store, nowMs: now, retention: retentionPlan))
            } else if let client = await replication.client(for: name) {
                replicas.append(RemoteReplica(name: name, client: client, timeout: .seconds(10)))
            }
        }
        // Replicas membership still holds alive may have just failed: those that answer count.
        var answering = [any RepairReplica]()
        var roots = [EventSetDigest]()
        for replica in replicas {
            guard let tree = try? await replica.digests(of: .init(site: site.id, fromMs: window.startMs, untilMs: window.endMs)) else { continue }
            answering.append(replica)
            roots.append(Replication.AntiEntropy.root(tree))
        }
        let needed = level.required(replicas: names.count)
        guard answering.count >= needed else {
            throw FootfallError.unavailable(
                "only \(answering.count) replicas of \(site.id) answered and \(needed) are needed for a \(level.rawValue.uppercased()) read")
        }
        guard Set(roots).count > 1 else { return }
        replicas = answering
        // Every replica against the first: the first ends with the union, each other with it too.
        let reference = replicas[0]
        var outcome = Replication.AntiEntropy.Outcome()
        for (replica, root) in zip(replicas.dropFirst(), roots.dropFirst()) where root != roots[0] {
            outcome.add(try await repair(site.id, window, reference, replica))
        }
        metrics.increment("footfall_read_repairs_total")
        logger.info("a QUORUM read repaired replicas that differed", metadata: [
            "query.site": "\(site.id)", "repair.events": "\(outcome.eventsPulled + outcome.eventsPushed)"])
    }

    private func repair(_ site: SiteID, _ window: TimeRange, _ a: any RepairReplica, _ b: any RepairReplica) async throws
        -> Replication.AntiEntropy.Outcome {
        try await Replication.AntiEntropy.repair(site: site, fromMs: window.startMs, untilMs: window.endMs, local: a, remote: b)
    }

    /// The events a query reads: its report range, the live window, or all that retention keeps.
    /// What a read repair compares: the report's own window, within retention. Visitor lists and
    /// profiles have no dates of their own and take the report default (the last 30 days), so a
    /// `?consistency=all` read never makes the replicas compare their whole retention.
    static func readWindow(_ query: SiteQuery, site: Site, nowMs: Int64) throws -> TimeRange {
        let kept = TimeRange(startMs: site.retention.cutoffMs(nowMs: nowMs), endMs: nowMs + TimeUnits.hourMs)
        let range: TimeRange
        switch query.kind {
        case .realtime:
            range = TimeRange(startMs: nowMs - Realtime.windowMs, endMs: kept.endMs)
        case .summary, .breakdown, .timeseries, .visitors, .visitor, .export, .erasureRecord, .visitorsByEmail, .visitorRecord:
            range = try ReportScope(site: site, from: query.parameters["from"], to: query.parameters["to"], filters: [], nowMs: nowMs).range
        }
        let start = max(range.startMs, kept.startMs)
        return TimeRange(startMs: start, endMs: max(start, min(range.endMs, kept.endMs)))
    }

    /// Applies an owner's edit to a consented visitor's CRM record on the site's replicas (at the
    /// node's write consistency) and returns the record as it now reads.
    package func editVisitor(site: SiteID, visitor: VisitorID, _ change: VisitorEdit.Change) async throws -> VisitorView {
        try requireClockAgreement()
        if let problem = VisitorEdit(site: site, visitor: visitor, atMs: 0, change: change).problem { throw FootfallError.invalid(problem) }
        let stored = try await answer(SiteQuery(site: site, kind: .visitorRecord, parameters: ["visitor": visitor.description]))
        guard let encoded = try JSONDecoder().decode([String: String].self, from: stored)["record"].flatMap({ Data(base64Encoded: $0) }) else {
            throw FootfallError.internal("a replica answered with an unreadable visitor record")
        }
        var record = try VisitorRecord(encoded: Array(encoded))
        // Stamped after everything in the record the owner is changing (an identify event may
        // carry a client clock slightly ahead), so the edit wins on every replica.
        let edit = VisitorEdit(site: site, visitor: visitor, atMs: max(clock.nowMs, record.latestEditMs + 1), change: change)
        switch await replication.edit(edit, consistency: configuration.replication.defaultConsistency) {
        case .succeeded: break
        case .failed, .unavailable:
            throw FootfallError.unavailable("too few replicas of \(site) took the change; try again")
        case .overloaded:
            throw FootfallError(.unavailable, "this node is waiting on as many writes as it holds at once; try again", retryAfterSeconds: 1)
        }
        record.apply(edit)
        return VisitorView(record)
    }

    /// Every replica's erasure record of a visitor (those that answer), for receipts. Asked all at
    /// once: one after another, two cut-off replicas kept a receipt waiting past a client's timeout
    /// (which then retried the erasure elsewhere as a second request).
    func erasureStates(site: SiteID, visitor: VisitorID) async -> [String: ReplicaErasureState] {
        let query = SiteQuery(site: site, kind: .erasureRecord, parameters: ["visitor": visitor.description])
        let replicas = await replication.ring.preferenceList(for: site, replicationFactor: configuration.replication.replicationFactor)
        return await withTaskGroup(of: (String, ReplicaErasureState?).self) { group in
            for replica in replicas {
                group.addTask {
                    let json: Data?
                    if replica == self.configuration.nodeName {
                        json = try? self.answerLocally(query)
                    } else if let client = await self.replication.client(for: replica) {
                        json = try? await client.siteQuery(query.wire, options: ClusterTransport.callOptions(timeout: .seconds(5))).json
                    } else {
                        json = nil
                    }
                    return (replica, json.flatMap { try? JSONDecoder().decode(ReplicaErasureState.self, from: $0) })
                }
            }
            var states = [String: ReplicaErasureState]()
            for await (replica, state) in group { states[replica] = state }
            return states
        }
    }

    /// The answer from this node's own data.
    func answerLocally(_ query: SiteQuery) throws -> Data {
        guard let site = try system.site(query.site) else { throw FootfallError.notFound("no such site") }
        let p = query.parameters
        let now = clock.nowMs
        func scope() throws -> ReportScope {
            let filters = p.filter { $0.key.hasPrefix("filter.") }.map { (String($0.key.dropFirst(7)), $0.value) }.sorted { $0.0 < $1.0 }
            return try ReportScope(site: site, from: p["from"], to: p["to"], filters: filters, nowMs: now)
        }
        func limit(_ fallback: Int) -> Int { min(1000, max(1, p["limit"].flatMap { Int($0) } ?? fallback)) }
        func visitor() throws -> VisitorID {
            guard let visitor = VisitorID(hex: p["visitor"] ?? "") else { throw FootfallError.invalid("a visitor id is 16 hex digits") }
            return visitor
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        switch query.kind {
        case .summary:
            return try encoder.encode(reports.summary(scope(), nowMs: now))
        case .breakdown:
            return try encoder.encode(reports.breakdown(scope(), by: RollupMetric.breakdown(named: p["dimension"] ?? ""), limit: limit(10), nowMs: now))
        case .timeseries:
            return try encoder.encode(reports.timeseries(scope(), interval: Reports.Interval(named: p["interval"] ?? "day"), nowMs: now))
        case .realtime:
            return try encoder.encode(Realtime.snapshot(site: site, node: self, showVisitorIDs: p["show_visitors"] == "1"))
        case .visitors:
            // A data subject's request names them by the tracker's consented id or an email.
            if let clientID = p["client_id"] {
                let record = try store.visitorRecord(site: site.id, visitor: VisitorID.consented(site: site.id, clientID: clientID))
                return try encoder.encode(record.map { [VisitorView($0)] } ?? [])
            }
            if let email = p["email"] {
                return try encoder.encode(try visitorRecords(site: site.id, email: email).map(VisitorView.init))
            }
            return try encoder.encode(store.visitorRecords(site: site.id, limit: limit(100)).map(VisitorView.init))
        case .visitor:
            let export = try VisitorExport(node: self, site: site, visitor: visitor())
            return try encoder.encode(VisitorProfile(visitor: export.visitor, events: export.events))
        case .export:
            return try encoder.encode(VisitorExport(node: self, site: site, visitor: visitor()))
        case .erasureRecord:
            guard let record = try store.erasureRecord(site: site.id, visitor: visitor()) else {
                throw FootfallError.notFound("no erasure of that visitor on this replica")
            }
            return try encoder.encode(ReplicaErasureState(
                requestID: record.requestID, erasedAtMs: record.erasedAtMs, deletedEvents: record.deletedEvents,
                confirmations: record.confirmations.map { .init(node: $0.node, confirmedAtMs: $0.confirmedAtMs) }))
        case .visitorRecord:
            guard let record = try store.visitorRecord(site: site.id, visitor: visitor()) else {
                throw FootfallError.notFound("no consented visitor with that id on this site")
            }
            return try encoder.encode(["record": Data(record.encoded).base64EncodedString()])
        case .visitorsByEmail:
            return try encoder.encode(try visitorRecords(site: site.id, email: p["email"] ?? "").map(\.visitor.description))
        }
    }

    /// Every consented visitor of the site who gave `email` (one person, several devices).
    private func visitorRecords(site: SiteID, email: String) throws -> [VisitorRecord] {
        let email = email.lowercased()
        guard !email.isEmpty else { throw FootfallError.invalid("an email is needed") }
        return try store.visitorRecords(site: site, limit: Int.max).filter { $0.pii.email.lowercased() == email }
    }
}
