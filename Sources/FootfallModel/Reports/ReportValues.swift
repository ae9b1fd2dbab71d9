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

    public static func value(of metric: RollupMetric, in event: Event) -> String? {
        switch metric {
        case .page: event.kind == .pageview ? event.path : nil
        case .referrer: event.referrerHost
        case .utmSource: event.utm.source
        case .utmMedium: event.utm.medium
        case .utmCampaign: event.utm.campaign
        case .utmTerm: event.utm.term
        case .utmContent: event.utm.content
        case .country: event.geo.country
        case .region: event.geo.region
        case .browser: event.device.browser
        case .os: event.device.os
        case .device: event.device.deviceClass.name
        case .customEvent: event.kind == .custom ? event.name : nil
        case .click: event.kind == .click ? "\(event.name):\(event.target)" : nil
        case .total, .visits, .bounces, .visitDuration, .entryPage, .exitPage: nil
        }
    }
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
