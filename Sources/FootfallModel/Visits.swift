/// Visits (sessions) derived from one visitor's events: a visit is a run of events with no gap of
/// 30 minutes or more.
///
/// Visits are derived where a site's events are stored, not at the ingest edge, because a visit's
/// hits may arrive out of order or through different nodes. Rollups count them from a date's
/// stored events once it is settled (`SegmentRollupBuild`), and count a date again when late or repaired
/// events reach it, never a blind increment.
public enum Visits {
    public static let gapMs: Int64 = 30 * TimeUnits.minuteMs

    /// What visit derivation needs of an event; the visitor index stores exactly this.
    public struct Hit: Hashable, Sendable, Comparable {
        public var id: EventID
        public var timestampMs: Int64
        public var kind: Event.Kind
        public var path: String

        public init(id: EventID, timestampMs: Int64, kind: Event.Kind, path: String) {
            self.id = id
            self.timestampMs = timestampMs
            self.kind = kind
            self.path = path
        }

        public init(_ event: Event) {
            self.init(id: event.id, timestampMs: event.timestampMs, kind: event.kind, path: event.path)
        }

        public static func < (a: Hit, b: Hit) -> Bool {
            (a.timestampMs, a.id) < (b.timestampMs, b.id)
        }
    }

    /// A visit, with its entry and exit pages as whatever the deriving code keeps pages as: paths
    /// (`Visit`), or a segment's dictionary codes, which the columnar engine compares instead.
    public struct Span<Page: Hashable & Sendable>: Hashable, Sendable {
        public var startMs: Int64
        public var endMs: Int64
        public var pageviews: Int
        public var interactions: Int
        public var entryPage: Page
        public var exitPage: Page

        public init(startMs: Int64, endMs: Int64, pageviews: Int, interactions: Int, entryPage: Page, exitPage: Page) {
            (self.startMs, self.endMs, self.pageviews, self.interactions) = (startMs, endMs, pageviews, interactions)
            (self.entryPage, self.exitPage) = (entryPage, exitPage)
        }

        /// One pageview and nothing else the visitor did.
        public var isBounce: Bool { pageviews == 1 && interactions == 0 }
        public var durationMs: Int64 { endMs - startMs }
    }

    public typealias Visit = Span<String>

    /// The visit rule, applied one hit at a time in `Hit` order (time, then id): every way of
    /// deriving visits goes through it. Identify calls carry no page and are not activity;
    /// engagement pings lengthen a visit but never start one (a tab left open is not a visit).
    public struct Deriver<Page: Hashable & Sendable> {
        public private(set) var visits: [Span<Page>] = []

        public init() {}

        /// Starts over for another visitor, keeping the storage.
        public mutating func removeAll() { visits.removeAll(keepingCapacity: true) }

        /// Adds the next hit; false when it belongs to no visit (an identify call, or an
        /// engagement ping a gap after the last visit).
        @discardableResult
        public mutating func add(timestampMs: Int64, kind: Event.Kind, page: Page) -> Bool {
            guard kind != .identify else { return false }
            if let last = visits.indices.last, timestampMs - visits[last].endMs < gapMs {
                visits[last].endMs = timestampMs
                Deriver.record(kind, page, in: &visits[last])
            } else if kind != .engagement {
                var visit = Span(startMs: timestampMs, endMs: timestampMs, pageviews: 0, interactions: 0, entryPage: page, exitPage: page)
                Deriver.record(kind, page, in: &visit)
                visits.append(visit)
            } else {
                return false
            }
            return true
        }

        /// The visit whose span holds `timestampMs`, or nil: an identify call or engagement ping
        /// outside every visit. Asked in ascending time order, with `cursor` (from 0) kept between
        /// calls, so a visitor's rows find their visits in one walk.
        public func visit(holding timestampMs: Int64, cursor: inout Int) -> Int? {
            while cursor < visits.count, visits[cursor].endMs < timestampMs { cursor += 1 }
            return cursor < visits.count && visits[cursor].startMs <= timestampMs ? cursor : nil
        }

        private static func record(_ kind: Event.Kind, _ page: Page, in visit: inout Span<Page>) {
            switch kind {
            case .pageview:
                if visit.pageviews == 0 { visit.entryPage = page }
                visit.pageviews += 1
                visit.exitPage = page
            case .click, .custom:
                visit.interactions += 1
            case .engagement, .identify:
                break
            }
        }
    }

    /// Splits hits (in any order) into visits.
    public static func derive(_ hits: [Hit]) -> [Visit] {
        var deriver = Deriver<String>()
        for hit in hits.sorted() { deriver.add(timestampMs: hit.timestampMs, kind: hit.kind, page: hit.path) }
        return deriver.visits
    }
}
