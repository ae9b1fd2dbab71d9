import Foundation
import FootfallModel
import FootfallProtocols
import FootfallStorage

/// JSON shapes of the API. Field names are snake_case and stable: the OpenAPI document lists them.

package struct VisitorView: Encodable {
    var visitor: String
    var firstSeenMs: Int64
    var lastSeenMs: Int64
    var pageviews: UInt64
    var events: UInt64
    var country: String
    var browser: String
    var os: String
    var device: String
    var name: String
    var email: String
    var phone: String
    var tags: [String]
    var notes: [NoteView]

    struct NoteView: Encodable {
        var id: String
        var createdMs: Int64
        var text: String
        enum CodingKeys: String, CodingKey { case id, text; case createdMs = "created_ms" }
    }

    init(_ record: VisitorRecord) {
        visitor = record.visitor.description
        firstSeenMs = record.firstSeenMs
        lastSeenMs = record.lastSeenMs
        pageviews = record.pageviews
        events = record.events
        country = record.geo.country
        browser = record.device.browser
        os = record.device.os
        device = record.device.deviceClass.name
        name = record.pii.name
        email = record.pii.email
        phone = record.pii.phone
        tags = record.tags
        notes = record.notes.map { NoteView(id: $0.id, createdMs: $0.createdMs, text: $0.text) }
    }

    enum CodingKeys: String, CodingKey {
        case visitor, pageviews, events, country, browser, os, device, name, email, phone, tags, notes
        case firstSeenMs = "first_seen_ms"
        case lastSeenMs = "last_seen_ms"
    }
}

package struct EventView: Encodable {
    var id: String
    var timestampMs: Int64
    var kind: String
    var path: String
    var title: String
    var referrer: String
    var utm: [String: String]
    var name: String
    var target: String
    var props: [String: String]
    var country: String
    var region: String
    var browser: String
    var os: String
    var device: String
    var engagementMs: UInt32

    init(_ event: Event) {
        id = event.id.description
        timestampMs = event.timestampMs
        kind = event.kind.name
        path = event.path
        title = event.title
        referrer = event.referrerHost
        utm = ["source": event.utm.source, "medium": event.utm.medium, "campaign": event.utm.campaign,
               "term": event.utm.term, "content": event.utm.content].filter { !$0.value.isEmpty }
        name = event.name
        target = event.target
        props = event.props
        country = event.geo.country
        region = event.geo.region
        browser = event.device.browser
        os = event.device.os
        device = event.device.deviceClass.name
        engagementMs = event.engagementMs
    }

    enum CodingKeys: String, CodingKey {
        case id, kind, path, title, referrer, utm, name, target, props, country, region, browser, os, device
        case timestampMs = "timestamp_ms"
        case engagementMs = "engagement_ms"
    }
}

package struct VisitorProfile: Encodable {
    var visitor: VisitorView
    var events: [EventView]
}

/// Everything stored about a visitor (right of access, promise 8).
package struct VisitorExport: Encodable {
    var site: String
    var exportedMs: Int64
    var visitor: VisitorView
    var events: [EventView]
    enum CodingKeys: String, CodingKey { case site, visitor, events; case exportedMs = "exported_ms" }

    /// Everything stored about one consented visitor (the right of access).
    init(node: Node, site: Site, visitor: VisitorID) throws {
        guard let record = try node.store.visitorRecord(site: site.id, visitor: visitor) else {
            throw FootfallError.notFound("no consented visitor with that id on this site")
        }
        let now = node.clock.nowMs
        self.site = site.id.rawValue
        exportedMs = now
        self.visitor = VisitorView(record)
        events = try node.store.visitorEvents(site: site.id, visitor: visitor, nowMs: now, retention: site.retention).map(EventView.init)
    }
}

/// What an erasure request returns and what polling it shows: complete only when every replica
/// of the site confirmed; `pending` names those that will when they return (their erasure waits
/// as a hint).
public struct ErasureReceipt: Encodable, Sendable {
    var status: String
    var requestID: String?
    var site: String
    var visitor: String?
    var erasedAtMs: Int64?
    var deletedEvents: Int64
    var replicas: [Replica]
    var pending: [String] = []
    var note: String?

    struct Replica: Encodable {
        var node: String
        var confirmedAtMs: Int64
        enum CodingKeys: String, CodingKey { case node; case confirmedAtMs = "confirmed_at_ms" }
    }

    init(order: Replication.ErasureOrder, confirmations: [ErasureRecord.Confirmation], pending: [String], deletedEvents: Int64) {
        status = pending.isEmpty ? "complete" : "pending"
        requestID = order.requestID
        site = order.site.rawValue
        visitor = order.visitor.description
        erasedAtMs = order.fenceMs
        self.deletedEvents = deletedEvents
        replicas = confirmations.sorted { $0.node < $1.node }.map { Replica(node: $0.node, confirmedAtMs: $0.confirmedAtMs) }
        self.pending = pending.sorted()
        note = "events, index entries, CRM notes and personal data deleted; aggregates without personal data are kept"
    }

    private init(status: String, site: String, note: String) {
        self.status = status
        self.site = site
        deletedEvents = 0
        replicas = []
        self.note = note
    }

    /// One receipt for a request that matched several visitors (one person, several devices).
    package init(combining receipts: [ErasureReceipt], site: SiteID) {
        status = receipts.allSatisfy { $0.status == "complete" } ? "complete" : "pending"
        requestID = receipts.compactMap(\.requestID).joined(separator: ",")
        self.site = site.rawValue
        visitor = receipts.compactMap(\.visitor).joined(separator: ",")
        erasedAtMs = receipts.compactMap(\.erasedAtMs).max()
        // Each from replicas' answers (at most 2^52: `ReplicaErasureState`), over as many visitors
        // as gave the email: the sum saturates rather than stop the node.
        deletedEvents = receipts.reduce(0) { sum, receipt in
            let (total, overflow) = sum.addingReportingOverflow(receipt.deletedEvents)
            return overflow ? .max : total
        }
        replicas = receipts.flatMap(\.replicas)
        pending = Array(Set(receipts.flatMap(\.pending))).sorted()
        note = receipts.first?.note
    }

    package static func notFound(site: SiteID) -> ErasureReceipt {
        ErasureReceipt(status: "not_found", site: site.rawValue,
                       note: "no consented visitor matches; cookieless visitors are never stored under anything that identifies them, so they cannot be singled out")
    }

    enum CodingKeys: String, CodingKey {
        case status, site, visitor, replicas, pending, note
        case requestID = "request_id"
        case erasedAtMs = "erased_at_ms"
        case deletedEvents = "deleted_events"
    }
}

/// Visitors online now and what they do, from the last minutes of raw events.
package enum Realtime {
    static let onlineWindowMs: Int64 = 5 * TimeUnits.minuteMs
    /// How far back the feed and the current top pages and sources look.
    static let windowMs: Int64 = 30 * TimeUnits.minuteMs
    static let activeWindowMs: Int64 = TimeUnits.minuteMs
    static let feedLength = 50

    struct Snapshot: Encodable {
        var onlineVisitors: Int
        var activeVisitors: Int
        var idleVisitors: Int
        var feed: [FeedItem]
        var topPages: [BreakdownRow]
        var topSources: [BreakdownRow]
        var generatedMs: Int64
        enum CodingKeys: String, CodingKey {
            case feed
            case onlineVisitors = "online_visitors"
            case activeVisitors = "active_visitors"
            case idleVisitors = "idle_visitors"
            case topPages = "top_pages"
            case topSources = "top_sources"
            case generatedMs = "generated_ms"
        }
    }

    struct FeedItem: Encodable {
        var id: String
        var timestampMs: Int64
        var kind: String
        var path: String
        var name: String
        var target: String
        var country: String
        var device: String
        var browser: String
        /// Only for consented visitors, and only to credentials with the visitors right.
        var visitor: String?
        enum CodingKeys: String, CodingKey { case id, kind, path, name, target, country, device, browser, visitor; case timestampMs = "timestamp_ms" }
    }

    static func snapshot(site: Site, node: Node, showVisitorIDs: Bool) throws -> Snapshot {
        let now = node.clock.nowMs
        var lastSeen = [VisitorID: Int64]()
        // Counted as a report's breakdowns count them: by dictionary code, into `VisitorSet`s.
        let pages = BreakdownTally(.page), sources = BreakdownTally(.referrer)
        // The newest rows (engagement pings aside), newest first once sorted; trimmed as it grows.
        // A row names its segment by position in `segments`: a copy of a segment is a retain of
        // each of its columns, and the feed's sort moved hundreds of them.
        var segments = [EventSegment]()
        var newest = [(timestampMs: Int64, id: EventID, segment: Int, row: Int)]()
        /// The oldest row the feed holds once trimmed: older rows need not be kept at all.
        var oldestKept: (timestampMs: Int64, id: EventID)?
        func trimNewest() {
            newest.sort { ($0.timestampMs, $0.id) > ($1.timestampMs, $1.id) }
            newest.removeSubrange(min(newest.count, feedLength)...)
            if newest.count == feedLength, let last = newest.last { oldestKept = (last.timestampMs, last.id) }
        }
        // The half hour is read from the days held in memory (the hot tier) as columns: a busy
        // site's half hour is tens of thousands of events, too many to decode row by row.
        let window = now - windowMs..<now + TimeUnits.minuteMs
        try node.store.segments(site: site.id, in: TimeRange(startMs: window.lowerBound, endMs: window.upperBound), nowMs: now,
                                retention: site.retention) { indexed in
            let segment = indexed.segment, index = segments.count
            segments.append(segment)
            segment.forEachRow(in: window) { row, visitor in
                let timestampMs = segment.timestamps[row], kind = segment.kinds[row]
                if timestampMs >= now - onlineWindowMs { lastSeen[visitor] = max(lastSeen[visitor] ?? 0, timestampMs) }
                if kind == .pageview {
                    pages.count(row: row, of: segment, at: index, visitor: visitor)
                    sources.count(row: row, of: segment, at: index, visitor: visitor)
                }
                if kind != .engagement, oldestKept.map({ (timestampMs, segment.ids[row]) > $0 }) ?? true {
                    newest.append((timestampMs, segment.ids[row], index, row))
                    if newest.count >= 4 * feedLength { trimNewest() }
                }
            }
        }
        trimNewest()
        let feed = newest.map { item in
            let event = segments[item.segment].event(at: item.row)
            return FeedItem(id: event.id.description, timestampMs: event.timestampMs, kind: event.kind.name, path: event.path,
                            name: event.name, target: event.target, country: event.geo.country, device: event.device.deviceClass.name,
                            browser: event.device.browser, visitor: showVisitorIDs && event.consented ? event.visitor.description : nil)
        }
        let active = lastSeen.values.filter { $0 >= now - activeWindowMs }.count
        func top(_ tally: BreakdownTally) -> [BreakdownRow] {
            Array(tally.answer.sorted { ($0.count, $1.value) > ($1.count, $0.value) }.prefix(10))
        }
        return Snapshot(onlineVisitors: lastSeen.count, activeVisitors: active, idleVisitors: lastSeen.count - active,
                        feed: feed, topPages: top(pages), topSources: top(sources), generatedMs: now)
    }
}
