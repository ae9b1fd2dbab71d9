import FootfallModel
import FootfallProtocols

/// This node's store as one replica of its sites: what replication and anti-entropy apply to it
/// and read from it. The simulated cluster uses the same type over in-memory disks.
public struct LocalReplica: RepairReplica {
    public let name: String
    let store: EventStore
    let nowMs: Int64
    let retention: @Sendable (SiteID) -> RetentionPlan

    public init(name: String, store: EventStore, nowMs: Int64, retention: @escaping @Sendable (SiteID) -> RetentionPlan = { _ in .default }) {
        self.name = name
        self.store = store
        self.nowMs = nowMs
        self.retention = retention
    }

    /// Applies a payload through the store's rules (erasure fence, retention cutoff, duplicates)
    /// and says what became of its events.
    @discardableResult
    public func applied(_ payload: Replication.Payload) throws -> Replication.Applied {
        switch payload {
        case .events(let events):
            return Replication.Applied(try store.apply(events, nowMs: nowMs, retention: retention))
        case .erasure(let order):
            _ = try store.erase(site: order.site, visitor: order.visitor, requestID: order.requestID, node: name,
                                nowMs: nowMs, fenceMs: order.fenceMs)
            return Replication.Applied()
        case .visitorEdit(let edit):
            try store.apply(edit)
            return Replication.Applied()
        }
    }

    public func apply(_ payload: Replication.Payload) throws { try applied(payload) }

    public func answer(_ query: Replication.AntiEntropy.Query) throws -> Replication.AntiEntropy.Answer {
        switch query {
        case .erasures(let site):
            .erasures(try erasures(site: site))
        case .digests(let window):
            .digests(try digests(site: window.site, fromMs: window.fromMs, untilMs: window.untilMs))
        case .eventIDs(let window, let day, let slices, let after, let limit):
            .eventIDs(try eventIDs(site: window.site, day: day, slices: slices, after: after, limit: limit,
                                   fromMs: window.fromMs, untilMs: window.untilMs))
        case .events(let site, let ids):
            .events(try events(site: site, ids: ids))
        case .visitorEditDigests(let site, let after, let limit):
            .visitorEditDigests(try visitorEditDigests(site: site, after: after, limit: limit))
        case .rebuildingEdits(let site, let visitors):
            .rebuildingEdits(try rebuildingEdits(site: site, visitors: visitors))
        }
    }

    public func erasures(site: SiteID) throws -> [Replication.ErasureOrder] {
        try store.erasureRecords(site: site).map(\.order)
    }

    public func digests(site: SiteID, fromMs: Int64, untilMs: Int64) throws -> [Day: [EventSetDigest]] {
        try store.digests(site: site, fromMs: fromMs, untilMs: untilMs)
    }

    public func eventIDs(site: SiteID, day: Day, slices: [Int], after: EventID?, limit: Int,
                         fromMs: Int64, untilMs: Int64) throws -> Replication.AntiEntropy.Page<EventID> {
        try store.eventIDs(site: site, day: day, slices: slices, after: after, limit: limit, fromMs: fromMs, untilMs: untilMs)
    }

    public func events(site: SiteID, ids: [EventID]) throws -> [Event] { try store.storedEvents(site: site, ids: ids) }

    public func visitorEditDigests(site: SiteID, after: VisitorID?, limit: Int) throws -> Replication.AntiEntropy.Page<VisitorEditDigest> {
        try store.visitorEditDigests(site: site, after: after, limit: limit)
    }

    public func rebuildingEdits(site: SiteID, visitors: [VisitorID]) throws -> [VisitorEdit] {
        try store.rebuildingEdits(site: site, visitors: visitors)
    }

    /// Each window's summary from what `repair` would read here: erasures, digests, CRM edit
    /// digests a page at a time (a site's records may be many).
    public func summaries(_ windows: [Replication.AntiEntropy.Window]) throws -> [UInt64]? {
        try windows.map { window in
            var summary = Replication.AntiEntropy.SiteSummary()
            summary.insert(erasures: try erasures(site: window.site))
            if window.fromMs < window.untilMs { summary.insert(tree: try digests(site: window.site, fromMs: window.fromMs, untilMs: window.untilMs)) }
            var after: VisitorID?
            while true {
                let page = try visitorEditDigests(site: window.site, after: after, limit: Replication.AntiEntropy.pageMax)
                summary.insert(visitorRecords: page.elements)
                guard page.more, let last = page.elements.last else { break }
                after = last.visitor
            }
            return summary.value
        }
    }
}

extension Replication.Applied {
    public init(_ outcomes: [EventStore.Outcome]) {
        self.init()
        for outcome in outcomes {
            switch outcome {
            case .stored: stored += 1
            case .duplicate: duplicates += 1
            case .expired: expired += 1
            case .fenced: fenced += 1
            case .capped: capped += 1
            }
        }
    }
}

extension ErasureRecord {
    /// The order that, applied on another replica, makes it hold this erasure.
    public var order: Replication.ErasureOrder {
        Replication.ErasureOrder(requestID: requestID, site: site, visitor: visitor, fenceMs: erasedAtMs)
    }
}
