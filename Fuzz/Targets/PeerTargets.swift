@testable import FootfallCluster
import FootfallModel
@testable import FootfallNode
import FootfallProtocols
import FootfallStorage
@testable import FootfallSystem
import FootfallWire
import Foundation
import SwiftProtobuf

/// What a holder of a node certificate sends (Proto/footfall/v1/node.proto): replica writes,
/// gossip, system records, repair requests, and the replies a node decodes from its peers. Each is
/// decoded and validated as `NodeServiceHandler` does and handed to the same node code.
enum PeerTargets {
    private static let writes = RecycledFuzzNode(every: 2_000)
    private static let reads = FuzzNode()

    /// `Replicate`: a replica request (events, erasure order or visitor edit) applied by the node as
    /// a replica, then read back as reports and repair read it; and the request as a hint on disk.
    static let replicate = FuzzTarget(
        name: "replicate",
        summary: "ReplicaRequest / ReplicaAck → ReplicaWire → ReplicationShell.applyAsReplica → reports and repair reads",
        run: { input in
            if let ack = try? Footfall_V1_ReplicaAck(serializedBytes: input) { _ = try? ReplicaWire.ack(ack) }
            guard let request = try? Footfall_V1_ReplicaRequest(serializedBytes: input),
                  let message = try? ReplicaWire.message(request)
            else { return }
            let fixture = writes.node, node = fixture.node
            if case .apply(let id, let payload) = message { requireHintRoundTrip(Replication.Hint(id: id, target: "node-2", createdMs: FuzzNode.noon, payload: payload)) }
            _ = blocking { try await node.replication.applyAsReplica(message) }
            guard case .apply(_, .events(let events)) = message else { return }
            for site in Set(events.map(\.site)) {
                _ = try? node.store.storedEvents(site: site, ids: events.filter { $0.site == site }.map(\.id))
                _ = try? node.store.digests(site: site, fromMs: EventCodec.Bounds.timestampMs.lowerBound,
                                            untilMs: EventCodec.Bounds.timestampMs.upperBound)
            }
            _ = try? node.answerLocally(SiteQuery(site: FuzzNode.site, kind: .summary, parameters: ["filter.page": "/p/1"]))
            _ = try? node.answerLocally(SiteQuery(site: FuzzNode.site, kind: .visitors, parameters: [:]))
        },
        seeds: {
            let events = reads.storedEvents()
            let visitor = FuzzNode.consentedVisitor(1)
            let messages: [Replication.Message] = [
                .apply(id: 1, .events(Array(events.prefix(3)))),
                .apply(id: 2, .events(events.filter { $0.pii != nil }.prefix(2).map { $0 })),
                .apply(id: 3, .erasure(Replication.ErasureOrder(requestID: "er_0001", site: FuzzNode.site, visitor: visitor, fenceMs: FuzzNode.noon))),
                .apply(id: 4, .visitorEdit(VisitorEdit(site: FuzzNode.site, visitor: visitor, atMs: FuzzNode.noon, change: .addNote(id: "n2", text: "called back")))),
                .apply(id: 5, .visitorEdit(VisitorEdit(site: FuzzNode.site, visitor: visitor, atMs: FuzzNode.noon,
                                                       change: .rectify(name: "Ann", email: "ann@example.org", phone: nil)))),
                .repairNeeded(id: 6),
                // A late write beside the fixture's sealed day, and an erasure that rewrites it.
                .apply(id: 8, .events([sealedDayEvent])),
                .apply(id: 9, .erasure(Replication.ErasureOrder(requestID: "er_0002", site: FuzzNode.site, visitor: FuzzNode.consentedVisitor(0),
                                                               fenceMs: FuzzNode.noon))),
            ]
            return messages.map { serialized(ReplicaWire.request($0)) }
                + [serialized(ReplicaWire.ack(id: 7, atMs: FuzzNode.noon, Replication.Applied(stored: 3, duplicates: 1, expired: 0, fenced: 0, capped: 0)))]
        }
    )

    /// A pageview of a consented visitor on the fixture's sealed day (three days before noon).
    static var sealedDayEvent: Event {
        let at = FuzzNode.noon - 3 * TimeUnits.dayMs - TimeUnits.hourMs
        return Event(id: EventID.forHit(site: FuzzNode.site, hitID: "late-00000001", timestampMs: at), site: FuzzNode.site,
                     visitor: FuzzNode.consentedVisitor(2), timestampMs: at, kind: .pageview, path: "/p/3")
    }

    /// `Gossip`: an envelope decoded and handed to a membership instance that knows a three-node
    /// ring; every envelope it sends in answer must decode again, and its state must persist.
    static let gossip = FuzzTarget(
        name: "gossip",
        summary: "GossipEnvelope → GossipWire.decode → Membership.Instance.onMessage/onTick → re-encode, ring, state file",
        run: { input in
            guard let wire = try? Footfall_V1_GossipEnvelope(serializedBytes: input),
                  let envelope = try? GossipWire.decode(wire, uidMax: uidMax)
            else { return }
            var instance = Membership.Instance(myself: Membership.Member(name: "node-1", uid: 1_781_524_000_000, address: "10.0.0.1:7001"),
                                               knownOwnership: ownership, randomSeed: 7, now: .zero)
            var actions = instance.onStart(now: .zero)
            actions += instance.onMessage(envelope, now: MonotonicTime(nanoseconds: 1_000_000_000))
            actions += instance.onTick(now: MonotonicTime(nanoseconds: 10_000_000_000))
            for case .send(let sent, _) in actions {
                FuzzCheck.require((try? GossipWire.decode(GossipWire.encode(sent), uidMax: uidMax)) == sent,
                                  "an envelope this node sends does not decode to itself: \(sent)")
            }
            _ = instance.ring().preferenceList(for: FuzzNode.site, replicationFactor: 3)
            _ = instance.pendingRing().preferenceList(for: FuzzNode.otherSite, replicationFactor: 3)
            let contents = ClusterStateFile.Contents(lastUID: 1, ownership: instance.ownershipRecords.map {
                ClusterStateFile.Ownership(name: $0.name, state: $0.state.rawValue, version: $0.version)
            })
            FuzzCheck.require(ClusterStateFile.problem(in: contents) == nil,
                              "the ownership this node would save is refused when read back: \(ClusterStateFile.problem(in: contents) ?? "")")
        },
        seeds: {
            let from = Membership.Member(name: "node-2", uid: 1_781_524_100_000, address: "10.0.0.2:7001")
            let record = Membership.MemberRecord(member: from, incarnation: 3, status: .alive)
            let updates: [Membership.Update] = [.liveness(record, origin: "node-2"),
                                                .ownership(Membership.OwnershipRecord(name: "node-4", state: .joining, version: 1))]
            let messages: [Membership.Message] = [
                .ping(sequence: 1, gossip: updates), .ack(sequence: 1, gossip: []), .nack(sequence: 2, gossip: updates),
                .pingRequest(sequence: 3, target: Membership.Member(name: "node-3", uid: 5, address: "10.0.0.3:7001"), gossip: []),
                .gossip(updates), .sync(state: updates + ownership.map(Membership.Update.ownership)),
                .syncReply(state: [.liveness(record, origin: "node-2")] + ownership.map(Membership.Update.ownership), senderJoined: true),
            ]
            return messages.map { serialized(GossipWire.encode(Membership.Envelope(from: from, incarnation: 3, ownershipDigest: 9, message: $0))) }
        }
    )

    /// `SystemPush` and `SystemSync`: records merged into the node's system data (accounts, sites,
    /// tokens, revocations), after which maintenance must still run and every reader still answer.
    static let systemRecords = FuzzTarget(
        name: "system-records",
        summary: "SystemRecords / SystemIndex → SystemStore.merge and compare → Node.runMaintenance, readers",
        run: { input in
            let fixture = writes.node, node = fixture.node
            if let index = try? Footfall_V1_SystemIndex(serializedBytes: input) { _ = try? node.system.compare(with: index.entries) }
            guard let pushed = try? Footfall_V1_SystemRecords(serializedBytes: input) else { return }
            _ = try? node.system.merge(pushed.records, maxAheadMs: 60_000)
            do {
                try node.runMaintenance()
                _ = try node.system.sites()
                _ = try node.system.accounts()
                _ = try node.system.revocations(of: .node)
                _ = try node.system.revocations(of: .operator)
                _ = try node.system.index()
            } catch {
                FuzzCheck.require(false, "a merged record stopped maintenance or a reader: \(error)")
            }
            _ = try? node.principal(authorization: "Bearer \(fixture.ownerToken)")
        },
        seeds: {
            let node = reads.node
            guard let index = try? node.system.index(), let records = try? node.system.records(index.map(\.key)) else { return [] }
            return records.map { record in serialized(Footfall_V1_SystemRecords.with { $0.records = [record] }) }
                + [serialized(Footfall_V1_SystemIndex.with { $0.entries = Array(index.prefix(4)) })]
        }
    )

    /// The repair and query requests a peer sends, and the replies a node decodes from a peer during
    /// anti-entropy. The first byte picks the message.
    static let repairRequests = FuzzTarget(
        name: "repair-requests",
        summary: "Repair*/SiteQuery/RevokeNode requests and DigestTree/EventBatch/ErasureOrders/VisitorEditOrders/EventIDs/RepairIDPage/RepairSummaries replies",
        run: { input in
            guard let first = input.first else { return }
            let body = Array(input.dropFirst())
            let store = reads.node.store
            switch first % 16 {
            case 0:
                guard let window = try? ReplicaWire.window(Footfall_V1_RepairWindow(serializedBytes: body)) else { return }
                _ = try? store.digests(site: window.site, fromMs: window.fromMs, untilMs: window.untilMs)
            case 1:
                guard let slice = try? Footfall_V1_RepairSlice(serializedBytes: body), let window = try? ReplicaWire.window(slice.window),
                      let day = try? ReplicaWire.day(slice.day), slice.slice < EventSetDigest.slicesPerDay else { return }
                _ = try? store.eventIDs(site: window.site, day: day, slice: Int(slice.slice), fromMs: window.fromMs, untilMs: window.untilMs)
            case 2:
                guard let request = try? Footfall_V1_RepairEventsRequest(serializedBytes: body), let site = try? ReplicaWire.site(request.site),
                      let ids = try? ReplicaWire.ids(request.ids), ids.count <= ReplicaWire.eventsMax else { return }
                _ = try? store.storedEvents(site: site, ids: ids)
            case 3:
                guard let request = try? Footfall_V1_RepairVisitorDigestsRequest(serializedBytes: body) else { return }
                PeerTargets.listVisitorDigests(request, in: store)
            case 4:
                guard let request = try? Footfall_V1_RepairVisitorsRequest(serializedBytes: body), let site = try? ReplicaWire.site(request.site),
                      request.visitors.count <= Replication.AntiEntropy.visitorBatch else { return }
                _ = try? store.rebuildingEdits(site: site, visitors: request.visitors.map(VisitorID.init(rawValue:)))
            case 5:
                guard let query = try? SiteQuery(Footfall_V1_SiteQueryRequest(serializedBytes: body)) else { return }
                _ = try? reads.node.answerLocally(query)
            case 6:
                guard let theirs = try? ReplicaWire.tree(Footfall_V1_DigestTree(serializedBytes: body)),
                      let ours = try? store.digests(site: FuzzNode.site, fromMs: FuzzNode.noon - 7 * TimeUnits.dayMs, untilMs: FuzzNode.noon)
                else { return }
                for day in Replication.AntiEntropy.differing(Replication.AntiEntropy.dayRoots(ours), Replication.AntiEntropy.dayRoots(theirs)) {
                    _ = Replication.AntiEntropy.differing(Dictionary(uniqueKeysWithValues: (ours[day] ?? []).enumerated().map { ($0.offset, $0.element) }),
                                                          Dictionary(uniqueKeysWithValues: (theirs[day] ?? []).enumerated().map { ($0.offset, $0.element) }))
                }
            case 7:
                guard let events = try? ReplicaWire.events(Footfall_V1_EventBatch(serializedBytes: body)) else { return }
                for event in events { FuzzCheck.require((try? EventCodec.decode(EventCodec.encode(event))) == event, "an event does not survive storage") }
            case 8:
                guard let orders = try? Footfall_V1_ErasureOrders(serializedBytes: body).orders.map(ReplicaWire.erasureOrder),
                      let have = try? store.erasureRecords(site: FuzzNode.site).map(\.order) else { return }
                _ = Replication.AntiEntropy.erasuresToApply(have: have, other: orders)
            case 9:
                guard let edits = try? Footfall_V1_VisitorEditOrders(serializedBytes: body).edits.map(ReplicaWire.visitorEdit) else { return }
                for edit in edits { FuzzCheck.require((try? ReplicaWire.visitorEdit(ReplicaWire.visitorEdit(edit))) == edit, "a visitor edit does not survive the wire") }
            case 10:
                guard let ids = try? ReplicaWire.ids(Footfall_V1_EventIDs(serializedBytes: body).ids) else { return }
                _ = Replication.AntiEntropy.missing(have: reads.storedEvents().map(\.id).sorted(), other: ids.sorted())
            case 12:
                guard let request = try? Footfall_V1_RepairIDPageRequest(serializedBytes: body) else { return }
                PeerTargets.listIDs(request, in: store)
            case 13:
                guard let reply = try? Footfall_V1_RepairIDPageReply(serializedBytes: body), let ids = try? ReplicaWire.ids(reply.ids) else { return }
                _ = Replication.AntiEntropy.missing(have: reads.storedEvents().map(\.id).sorted(), other: ids)
            case 14:
                guard let request = try? Footfall_V1_RepairSummariesRequest(serializedBytes: body),
                      let windows = try? ReplicaWire.summaryWindows(request) else { return }
                let summaries = try? LocalReplica(name: "node-1", store: store, nowMs: FuzzNode.noon).summaries(windows)
                FuzzCheck.require(summaries.map { $0.count == windows.count } ?? true, "not one summary per window")
            case 15:
                guard let reply = try? Footfall_V1_RepairSummariesReply(serializedBytes: body) else { return }
                let windows = (0..<3).map { _ in Replication.AntiEntropy.Window(site: FuzzNode.site, fromMs: FuzzNode.noon - TimeUnits.dayMs, untilMs: FuzzNode.noon) }
                let ours = try? LocalReplica(name: "node-1", store: store, nowMs: FuzzNode.noon).summaries(windows)
                let alike = Replication.AntiEntropy.agreeing(windows, ours: ours, theirs: reply.summaries)
                FuzzCheck.require(alike.isEmpty || reply.summaries.count == windows.count, "a reply short of summaries settled a site")
            default:
                guard let request = try? Footfall_V1_RevokeNodeRequest(serializedBytes: body), ClusterIdentity.isValidName(request.name) else { return }
                _ = NodeRevocation.refusal(revoking: request.isOperator ? .operator : .node, name: request.name, caller: .operator("ops"))
            }
        },
        seeds: {
            let node = reads.node
            let window = Footfall_V1_RepairWindow.with { $0.site = FuzzNode.site.rawValue; $0.fromMs = FuzzNode.noon - TimeUnits.dayMs; $0.untilMs = FuzzNode.noon }
            let events = reads.storedEvents()
            let digests = (try? node.store.digests(site: FuzzNode.site, fromMs: FuzzNode.noon - TimeUnits.dayMs, untilMs: FuzzNode.noon)) ?? [:]
            let edits = (try? node.store.rebuildingEdits(site: FuzzNode.site, visitors: [FuzzNode.consentedVisitor(1), FuzzNode.consentedVisitor(2)])) ?? []
            let orders = ((try? node.store.erasureRecords(site: FuzzNode.site)) ?? []).map { ReplicaWire.erasureOrder($0.order) }
            let messages: [(UInt8, any SwiftProtobuf.Message)] = [
                (0, window),
                (1, Footfall_V1_RepairSlice.with { $0.window = window; $0.day = Day(containing: FuzzNode.noon).index; $0.slice = 3 }),
                (2, Footfall_V1_RepairEventsRequest.with { $0.site = FuzzNode.site.rawValue; $0.ids = events.prefix(3).map { Data($0.id.bytes) } }),
                (3, Footfall_V1_RepairVisitorDigestsRequest.with { $0.site = FuzzNode.site.rawValue; $0.after = FuzzNode.consentedVisitor(1).rawValue; $0.limit = 2 }),
                (4, Footfall_V1_RepairVisitorsRequest.with { $0.site = FuzzNode.site.rawValue; $0.visitors = [FuzzNode.consentedVisitor(1).rawValue] }),
                (5, Footfall_V1_SiteQueryRequest.with { $0.site = FuzzNode.site.rawValue; $0.kind = "breakdown"; $0.parameters = ["dimension": "page", "filter.referrer": "t.co"] }),
                (6, ReplicaWire.tree(digests)),
                (7, ReplicaWire.batch(Array(events.prefix(4)))),
                (8, Footfall_V1_ErasureOrders.with { $0.orders = orders }),
                (9, Footfall_V1_VisitorEditOrders.with { $0.edits = edits.map(ReplicaWire.visitorEdit) }),
                (10, Footfall_V1_EventIDs.with { $0.ids = events.prefix(5).map { Data($0.id.bytes) } }),
                (11, Footfall_V1_RevokeNodeRequest.with { $0.name = "node-3" }),
                (12, ReplicaWire.idPageRequest(window: window, day: Day(containing: FuzzNode.noon), slices: [1, 3, 15], after: events.first?.id, limit: 4)),
                (13, Footfall_V1_RepairIDPageReply.with { $0.ids = events.prefix(5).map { Data($0.id.bytes) }; $0.more = true }),
                (14, ReplicaWire.summariesRequest([Replication.AntiEntropy.Window(site: FuzzNode.site, fromMs: FuzzNode.noon - TimeUnits.dayMs,
                                                                                   untilMs: FuzzNode.noon)])),
                (15, Footfall_V1_RepairSummariesReply.with { $0.summaries = [1, 2, 3] }),
            ]
            return messages.map { [$0.0] + serialized($0.1) }
        }
    )

    /// A page of ids as a peer's `RepairIDPage` asks for it: in order, past the cursor, no longer
    /// than asked.
    static func listIDs(_ request: Footfall_V1_RepairIDPageRequest, in store: EventStore) {
        guard let asked = try? ReplicaWire.idPageRequest(request) else { return }
        let page: Replication.AntiEntropy.Page<EventID>
        do {
            page = try store.eventIDs(site: asked.window.site, day: asked.day, slices: asked.slices, after: asked.after,
                                      limit: asked.limit, fromMs: asked.window.fromMs, untilMs: asked.window.untilMs)
        } catch {
            return
        }
        requireInOrder(page.elements.map(\.key), after: asked.after, limit: asked.limit, "an id page")
    }

    /// A page of CRM digests as a peer's `RepairVisitorDigests` asks for it, and the site's erasures.
    static func listVisitorDigests(_ request: Footfall_V1_RepairVisitorDigestsRequest, in store: EventStore) {
        guard let site = try? ReplicaWire.site(request.site) else { return }
        _ = try? store.erasureRecords(site: site)
        let after = request.hasAfter ? VisitorID(rawValue: request.after) : nil
        let limit = request.limit == 0 ? Int.max : min(Int(request.limit), Replication.AntiEntropy.pageMax)
        let page: Replication.AntiEntropy.Page<VisitorEditDigest>
        do {
            page = try store.visitorEditDigests(site: site, after: after, limit: limit)
        } catch {
            return
        }
        requireInOrder(page.elements.map(\.key), after: after, limit: limit, "a CRM digest page")
    }

    private static func requireInOrder<Key: Comparable>(_ keys: [Key], after: Key?, limit: Int, _ what: String) {
        var previous = after
        for key in keys {
            FuzzCheck.require(previous.map { $0 < key } ?? true, "\(what) is out of order")
            previous = key
        }
        FuzzCheck.require(keys.count <= limit, "\(what) is longer than asked")
    }

    /// A node's clock plus the skew a cluster allows: the highest uid a peer may claim.
    private static let uidMax = UInt64(FuzzNode.noon + 60_000)

    private static let ownership = ["node-1", "node-2", "node-3"].map { Membership.OwnershipRecord(name: $0, state: .normal, version: 1) }

    /// A hint reads back as written, less the events' links to yesterday's visitor ids, which
    /// `HintCodec` drops on purpose (a stored hint must not link a visitor across the salt change).
    static func requireHintRoundTrip(_ hint: Replication.Hint) {
        var expected = hint
        if case .events(let events) = hint.payload {
            expected.payload = .events(events.map { var unlinked = $0; unlinked.previousDayVisitor = nil; return unlinked })
        }
        FuzzCheck.require((try? HintCodec.decode(HintCodec.encode(hint))) == expected, "a hint does not read back as it was written")
    }
}

func serialized(_ message: any SwiftProtobuf.Message) -> [UInt8] {
    // Serializing a message built in memory cannot fail (only unset required fields of proto2 can).
    (try? message.serializedBytes()) ?? []
}
