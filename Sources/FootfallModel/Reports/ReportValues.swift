/// What a report asks for and answers: its filters, and the summary, breakdown rows and
/// timeseries points it returns (the HTTP API's and the public service's JSON).
/// Narrows a report to events whose dimension has a value (`page=/pricing`), or, for entry and
/// exit page, to the visits that began or ended on that page, with everything done in them
/// (`entry_page=/blog`: what people who came in on /blog went on to do).
public struct ReportFilter: Sendable, Equatable {
    public var metric: RollupMetric
    public var value: String

    public init(metric: RollupMetric, value: String) {
        self.metric = metric
        self.value = value
    }

    /// Entry and exit page are properties of a visit, not of any one event.
    public var describesVisit: Bool { metric == .entryPage || metric == .exitPage }

    public func matches(_ event: Event) -> Bool { ReportFilter.value(of: metric, in: event) == value }

    public func matches(_ visit: Visits.Visit) -> Bool {
        switch metric {
        case .entryPage: visit.entryPage == value
        case .exitPage: visit.exitPage == value
        default: false
        }
    }

    public static func value(of metric: RollupMetric, in event: Event) -> String? { value(of: metric, in: EventRow(event: event)) }

    /// Where a dimension's value comes from: a text column (of one kind of event only, for pages,
    /// custom events), the device class, or a click's "name:target".
    enum Source {
        case text(EventSegment.Text, only: Event.Kind?)
        case deviceClass
        case click
        case none
    }

    static func source(of metric: RollupMetric) -> Source {
        switch metric {
        case .page: .text(.path, only: .pageview)
        case .referrer: .text(.referrerHost, only: nil)
        case .utmSource: .text(.utmSource, only: nil)
        case .utmMedium: .text(.utmMedium, only: nil)
        case .utmCampaign: .text(.utmCampaign, only: nil)
        case .utmTerm: .text(.utmTerm, only: nil)
        case .utmContent: .text(.utmContent, only: nil)
        case .country: .text(.country, only: nil)
        case .region: .text(.region, only: nil)
        case .browser: .text(.browser, only: nil)
        case .os: .text(.os, only: nil)
        case .customEvent: .text(.name, only: .custom)
        case .device: .deviceClass
        case .click: .click
        case .total, .visits, .bounces, .visitDuration, .entryPage, .exitPage: .none
        }
    }

    /// The value of `metric` in one event, stored as an `Event` or as a segment's row.
    static func value(of metric: RollupMetric, in row: some ReportRow) -> String? {
        switch source(of: metric) {
        case let .text(column, only): only == nil || row.kind == only ? row.text(column) : nil
        case .deviceClass: row.deviceClass.name
        case .click: row.kind == .click ? "\(row.text(.name)):\(row.text(.target))" : nil
        case .none: nil
        }
    }
}

/// What a filter or a breakdown reads of an event.
protocol ReportRow {
    var kind: Event.Kind { get }
    var deviceClass: Device.Class { get }
    func text(_ column: EventSegment.Text) -> String
}

struct EventRow: ReportRow {
    let event: Event
    var kind: Event.Kind { event.kind }
    var deviceClass: Device.Class { event.device.deviceClass }
    func text(_ column: EventSegment.Text) -> String { column.value(of: event) }
}

struct SegmentRow: ReportRow {
    let segment: EventSegment
    let row: Int
    var kind: Event.Kind { segment.kinds[row] }
    var deviceClass: Device.Class { segment.deviceClasses[row] }
    func text(_ column: EventSegment.Text) -> String { segment.texts[column.rawValue][row] }
}

public struct Summary: Codable, Equatable, Sendable {
    public var pageviews: Int64
    public var visitors: Int64
    public var visits: Int64
    public var bounceRate: Double
    public var visitDurationSeconds: Double
    public var events: Int64

    enum CodingKeys: String, CodingKey {
        case pageviews, visitors, visits, events
        case bounceRate = "bounce_rate"
        case visitDurationSeconds = "visit_duration_s"
    }

    /// Derives the rates from totals, the same way for rollups and for raw events.
    public init(pageviews: Int64, visitors: Int64, visits: Int64, bounces: Int64, visitDurationMs: Int64, events: Int64) {
        self.pageviews = pageviews
        self.visitors = visitors
        self.visits = visits
        bounceRate = visits > 0 ? Double(bounces) / Double(visits) : 0
        visitDurationSeconds = visits > 0 ? Double(visitDurationMs) / Double(visits) / 1000 : 0
        self.events = events
    }
}

public struct BreakdownRow: Codable, Equatable, Sendable {
    public var value: String
    /// Pageviews (or events, for custom events and clicks); visits for entry and exit pages.
    public var count: Int64
    public var visitors: Int64?

    public init(value: String, count: Int64, visitors: Int64?) {
        self.value = value
        self.count = count
        self.visitors = visitors
    }
}

public struct TimeseriesPoint: Codable, Equatable, Sendable {
    public var startMs: Int64
    public var pageviews: Int64
    public var visitors: Int64
    public var visits: Int64

    public init(startMs: Int64, pageviews: Int64, visitors: Int64, visits: Int64) {
        self.startMs = startMs
        self.pageviews = pageviews
        self.visitors = visitors
        self.visits = visits
    }

    enum CodingKeys: String, CodingKey {
        case startMs = "start_ms"
        case pageviews, visitors, visits
    }
}
