import FootfallModel
import FootfallProtocols
import FootfallStorage
import FootfallWire
import Foundation

/// Replication messages ⇄ their protobuf form (node.proto). Decoding validates: a malformed
/// request from a peer is refused whole, never half applied.
package enum ReplicaWire {
    package struct Malformed: Error, CustomStringConvertible {
        package var description: String
    }

    /// Events per replica request at most (the coordinator sends one client batch, ≤ 1,000 hits,
    /// and anti-entropy streams 500 at a time).
    package static let eventsMax = 5_000

    package static func request(_ message: Replication.Message) -> Footfall_V1_ReplicaRequest {
        .with { request in
            switch message {
            case .apply(let id, .events(let events)):
                request.id = id
                request.events = batch(events)
            case .apply(let id, .erasure(let order)):
                request.id = id
                request.erasure = erasureOrder(order)
            case .apply(let id, .visitorEdit(let edit)):
                request.id = id
                request.visitorEdit = visitorEdit(edit)
            case .repairNeeded(let id):
                request.id = id
                request.repairNeeded = Footfall_V1_RepairNeeded()
            case .ack(let id, _, _):
                request.id = id
            }
        }
    }

    package static func message(_ request: Footfall_V1_ReplicaRequest) throws -> Replication.Message {
        switch request.body {
        case .events(let batch): .apply(id: request.id, .events(try events(batch)))
        case .erasure(let order): .apply(id: request.id, .erasure(try erasureOrder(order)))
        case .visitorEdit(let edit): .apply(id: request.id, .visitorEdit(try visitorEdit(edit)))
        case .repairNeeded: .repairNeeded(id: request.id)
        case nil: throw Malformed(description: "a replica request without a body")
        }
    }

    package static func ack(id: UInt64, atMs: Int64, _ applied: Replication.Applied) -> Footfall_V1_ReplicaAck {
        .with {
            $0.id = id
            $0.atMs = atMs
            $0.stored = UInt32(clamping: applied.stored)
            $0.duplicates = UInt32(clamping: applied.duplicates)
            $0.expired = UInt32(clamping: applied.expired)
            $0.fenced = UInt32(clamping: applied.fenced)
            $0.capped = UInt32(clamping: applied.capped)
        }
    }

    package static func ack(_ ack: Footfall_V1_ReplicaAck) throws -> Replication.Message {
        guard EventCodec.Bounds.timestampMs.contains(ack.atMs) else { throw Malformed(description: "an acknowledgement time out of range") }
        return .ack(id: ack.id, atMs: ack.atMs, Replication.Applied(stored: Int(ack.stored), duplicates: Int(ack.duplicates),
                                                                  expired: Int(ack.expired), fenced: Int(ack.fenced), capped: Int(ack.capped)))
    }

    package static func batch(_ events: [Event]) -> Footfall_V1_EventBatch {
        .with { $0.events = events.map(EventCodec.message) }
    }

    package static func events(_ batch: Footfall_V1_EventBatch) throws -> [Event] {
        guard batch.events.count <= eventsMax else { throw Malformed(description: "more than \(eventsMax) events in one request") }
        return try batch.events.map { stored in
            do {
                return try EventCodec.event(from: stored)
            } catch {
                throw Malformed(description: "an event is malformed: \(error)")
            }
        }
    }

    package static func erasureOrder(_ order: Replication.ErasureOrder) -> Footfall_V1_ErasureOrder {
        .with {
            $0.requestID = order.requestID
            $0.site = order.site.rawValue
            $0.visitor = order.visitor.rawValue
            $0.fenceMs = order.fenceMs
        }
    }

    package static func erasureOrder(_ order: Footfall_V1_ErasureOrder) throws -> Replication.ErasureOrder {
        guard let site = SiteID(order.site) else { throw Malformed(description: "an erasure order names no valid site") }
        guard !order.requestID.isEmpty, order.requestID.utf8.count <= 64 else {
            throw Malformed(description: "an erasure order needs a request id of at most 64 bytes")
        }
        guard EventCodec.Bounds.timestampMs.contains(order.fenceMs) else { throw Malformed(description: "an erasure fence out of range") }
        return Replication.ErasureOrder(requestID: order.requestID, site: site, visitor: VisitorID(rawValue: order.visitor),
                                        fenceMs: order.fenceMs)
    }

    package static func visitorEdit(_ edit: VisitorEdit) -> Footfall_V1_VisitorEditOrder {
        .with { order in
            order.site = edit.site.rawValue
            order.visitor = edit.visitor.rawValue
            order.atMs = edit.atMs
            switch edit.change {
            case .addNote(let id, let text): order.addNote = .with { $0.id = id; $0.text = text; $0.createdMs = edit.atMs }
            case .removeNote(let id): order.removeNote = id
            case .setTags(let tags): order.setTags = .with { $0.tags = tags }
            case .rectify(let name, let email, let phone):
                order.rectify = .with { r in
                    if let name { r.name = name }
                    if let email { r.email = email }
                    if let phone { r.phone = phone }
                }
            }
        }
    }

    package static func visitorEdit(_ order: Footfall_V1_VisitorEditOrder) throws -> VisitorEdit {
        let change: VisitorEdit.Change
        switch order.change {
        case .addNote(let note): change = .addNote(id: note.id, text: note.text)
        case .removeNote(let id): change = .removeNote(id: id)
        case .setTags(let tags): change = .setTags(tags.tags)
        case .rectify(let r):
            change = .rectify(name: r.hasName ? r.name : nil, email: r.hasEmail ? r.email : nil, phone: r.hasPhone ? r.phone : nil)
        case nil: throw Malformed(description: "a visitor edit without a change")
        }
        let edit = VisitorEdit(site: try site(order.site), visitor: VisitorID(rawValue: order.visitor), atMs: order.atMs, change: change)
        if let problem = edit.problem { throw Malformed(description: "a visitor edit is malformed: \(problem)") }
        return edit
    }

    package static func site(_ text: String) throws -> SiteID {
        guard let site = SiteID(text) else { throw Malformed(description: "not a site id: \(text.prefix(64))") }
        return site
    }

    /// A repair window: a site and times within `EventCodec.Bounds.timestampMs`, in order.
    package static func window(_ window: Footfall_V1_RepairWindow) throws -> Replication.AntiEntropy.Window {
        let bounds = EventCodec.Bounds.timestampMs
        guard bounds.contains(window.fromMs), bounds.contains(window.untilMs), window.fromMs <= window.untilMs else {
            throw Malformed(description: "a repair window must lie within 0...2^52 ms, its start before its end")
        }
        return Replication.AntiEntropy.Window(site: try site(window.site), fromMs: window.fromMs, untilMs: window.untilMs)
    }

    /// The last day an event may fall on (`EventCodec.Bounds.timestampMs`).
    package static let lastDay = Day(containing: EventCodec.Bounds.timestampMs.upperBound)

    package static func day(_ index: UInt32) throws -> Day {
        guard index <= lastDay.index else { throw Malformed(description: "day \(index) lies beyond any event's time") }
        return Day(index: index)
    }

    package static func ids(_ raw: [Data]) throws -> [EventID] {
        guard raw.count <= 100_000 else { throw Malformed(description: "too many event ids in one request") }
        return try raw.map { bytes in
            guard let id = EventID(bytes: Array(bytes)) else { throw Malformed(description: "an event id is not 16 bytes") }
            return id
        }
    }

    /// The windows of a `RepairSummaries` request, each checked, at most
    /// `Replication.AntiEntropy.summaryWindowsMax` of them.
    package static func summaryWindows(_ request: Footfall_V1_RepairSummariesRequest) throws -> [Replication.AntiEntropy.Window] {
        guard request.windows.count <= Replication.AntiEntropy.summaryWindowsMax else {
            throw Malformed(description: "more than \(Replication.AntiEntropy.summaryWindowsMax) sites to summarise in one request")
        }
        return try request.windows.map(window)
    }

    package static func summariesRequest(_ windows: [Replication.AntiEntropy.Window]) -> Footfall_V1_RepairSummariesRequest {
        .with { $0.windows = windows.map(RemoteReplica.window) }
    }

    /// A page of ids asked for (`RepairIDPage`): its window, day, slices and cursor checked.
    package struct IDPageRequest {
        package let window: Replication.AntiEntropy.Window
        package let day: Day
        package let slices: [Int]
        package let after: EventID?
        /// At most `Replication.AntiEntropy.pageMax`, whatever was asked.
        package let limit: Int
    }

    package static func idPageRequest(_ request: Footfall_V1_RepairIDPageRequest) throws -> IDPageRequest {
        guard !request.slices.isEmpty, request.slices.count <= EventSetDigest.slicesPerDay,
              request.slices.allSatisfy({ $0 < EventSetDigest.slicesPerDay }) else {
            throw Malformed(description: "an id page names no slice, or one beyond the day's \(EventSetDigest.slicesPerDay)")
        }
        var after: EventID?
        if !request.after.isEmpty {
            guard let cursor = EventID(bytes: Array(request.after)) else { throw Malformed(description: "a page cursor is not 16 bytes") }
            after = cursor
        }
        return IDPageRequest(window: try window(request.window), day: try day(request.day), slices: request.slices.map(Int.init),
                             after: after, limit: min(Int(request.limit), Replication.AntiEntropy.pageMax))
    }

    package static func idPageRequest(window: Footfall_V1_RepairWindow, day: Day, slices: [Int], after: EventID?, limit: Int) -> Footfall_V1_RepairIDPageRequest {
        .with {
            $0.window = window
            $0.day = day.index
            $0.slices = slices.map { UInt32(clamping: $0) }
            $0.after = after.map { Data($0.bytes) } ?? Data()
            $0.limit = UInt32(clamping: limit)
        }
    }

    package static func tree(_ tree: [Day: [EventSetDigest]]) -> Footfall_V1_DigestTree {
        .with { reply in
            reply.days = tree.keys.sorted().map { day in
                .with {
                    $0.day = day.index
                    $0.slices = tree[day]!.map { digest in .with { $0.count = digest.count; $0.hash = digest.hash } }
                }
            }
        }
    }

    /// Events in one slice of one site's day at most: four billion. Anti-entropy sums a tree's
    /// counts, which stays far from overflow with this bound.
    package static let sliceCountMax: UInt64 = 1 << 32

    package static func tree(_ reply: Footfall_V1_DigestTree) throws -> [Day: [EventSetDigest]] {
        var out = [Day: [EventSetDigest]]()
        for day in reply.days {
            guard day.slices.count == EventSetDigest.slicesPerDay else { throw Malformed(description: "a day's digest has the wrong slice count") }
            guard day.slices.allSatisfy({ $0.count <= sliceCountMax }) else { throw Malformed(description: "a slice digest counts too many events") }
            out[try self.day(day.day)] = day.slices.map { EventSetDigest(count: $0.count, hash: $0.hash) }
        }
        return out
    }
}
