import Foundation
import FootfallModel
import Synchronization

/// A hit as the tracker (or any API client) sends it to `POST /api/event`.
public struct Hit: Decodable, Sendable {
    public var site: String
    /// Random id per hit, reused on retry: a retried hit is the same event.
    public var id: String?
    /// When the hit was made (Unix ms, the client's clock); reused on retry with `id`.
    public var ts: Int64?
    public var kind: String?
    public var url: String
    public var referrer: String?
    public var title: String?
    public var name: String?
    public var target: String?
    public var props: [String: String]?
    public var engagementMs: UInt32?
    public var consent: Bool?
    /// The tracker's first-party visitor id, sent only after consent.
    public var vid: String?
    public var pii: PIIInput?

    public init(site: String, id: String? = nil, ts: Int64? = nil, kind: String? = nil, url: String, referrer: String? = nil,
                title: String? = nil, name: String? = nil, target: String? = nil, props: [String: String]? = nil,
                engagementMs: UInt32? = nil, consent: Bool? = nil, vid: String? = nil, pii: PIIInput? = nil) {
        self.site = site
        self.id = id
        self.ts = ts
        self.kind = kind
        self.url = url
        self.referrer = referrer
        self.title = title
        self.name = name
        self.target = target
        self.props = props
        self.engagementMs = engagementMs
        self.consent = consent
        self.vid = vid
        self.pii = pii
    }

    public struct PIIInput: Decodable, Sendable {
        public var name: String?
        public var email: String?
        public var phone: String?
    }

    enum CodingKeys: String, CodingKey {
        case site, id, ts, kind, url, referrer, title, name, target, props, consent, vid, pii
        case engagementMs = "engagement_ms"
    }
}

/// What the node knows about the request a hit came in, kept in memory only.
public struct HitContext: Sendable {
    public var ip: IPAddress?
    public let userAgent: String
    /// The user agent's browser, OS and device class: classified once for all of a request's hits.
    public let device: Device
    public var nowMs: Int64
    public init(ip: IPAddress?, userAgent: String, nowMs: Int64) {
        self.ip = ip
        self.userAgent = userAgent
        device = UserAgentClassifier.classify(userAgent)
        self.nowMs = nowMs
    }
}

/// Why a hit is not stored. `invalid` is the client's error (400); the others are silent drops
/// answered with 202, so a bot or an opted-out browser learns nothing.
public enum HitRejection: Error, Equatable, Sendable {
    case invalid(field: String, reason: String)
    case unknownSite(String)
    case bot
    case noSalt

    public var metricReason: String {
        switch self {
        case .invalid: "invalid"
        case .unknownSite: "unknown_site"
        case .bot: "bot"
        case .noSalt: "no_salt"
        }
    }
}

/// The privacy pipeline: validates a hit and turns it into an `Event` holding no raw IP, no query
/// string beyond UTM, no PII without consent, geography at country/region level only.
public final class IngestPipeline: Sendable {
    public struct Limits: Sendable {
        public var bodyBytesMax = 64 * 1024
        public var hitsPerBatchMax = 100
        public var urlLengthMax = 2048
        public var titleLengthMax = 300
        public var nameLengthMax = 100
        public var propsCountMax = 10
        public var propKeyLengthMax = 50
        public var propValueLengthMax = 200
        public var piiFieldLengthMax = VisitorEdit.personalFieldBytesMax
        /// How far a hit's own timestamp may lag (retries from a flaky network) or lead the server.
        public var clientClockBehindMaxMs: Int64 = TimeUnits.dayMs
        public var clientClockAheadMaxMs: Int64 = 5 * TimeUnits.minuteMs
        public init() {}
    }

    public let limits: Limits
    public let geo: any GeoLocator
    /// The random node field of server-made event ids, fixed per process.
    private let nodeField: UInt32
    private let sequence = Atomic<UInt64>(0)

    public init(limits: Limits = Limits(), geo: any GeoLocator, nodeField: UInt32) {
        self.limits = limits
        self.geo = geo
        self.nodeField = nodeField
    }

    /// - Parameters:
    ///   - site: the registered site the hit names (looked up by the caller).
    ///   - salts: the cookieless salts, nil when the node has no seed.
    public func event(from hit: Hit, site: SiteID, context: HitContext, salts: SaltKeeper.Salts?) throws(HitRejection) -> Event {
        let device = context.device
        guard !device.isBot else { throw .bot }
        let kind: Event.Kind
        if let name = hit.kind {
            guard let parsed = Event.Kind(name: name) else { throw .invalid(field: "kind", reason: "must be pageview, click, custom, engagement or identify") }
            kind = parsed
        } else {
            kind = .pageview
        }
        guard hit.url.utf8.count <= limits.urlLengthMax else { throw .invalid(field: "url", reason: "longer than \(limits.urlLengthMax) bytes") }
        guard let page = URLSanitizer.page(hit.url) else { throw .invalid(field: "url", reason: "must be an http(s) URL or a path starting with /") }
        let title = hit.title ?? ""
        guard title.utf8.count <= limits.titleLengthMax else { throw .invalid(field: "title", reason: "longer than \(limits.titleLengthMax) bytes") }
        let name = hit.name ?? ""
        guard name.utf8.count <= limits.nameLengthMax else { throw .invalid(field: "name", reason: "longer than \(limits.nameLengthMax) bytes") }
        if kind == .custom && name.isEmpty { throw .invalid(field: "name", reason: "a custom event needs a name") }
        let target = hit.target ?? ""
        guard target.utf8.count <= limits.nameLengthMax else { throw .invalid(field: "target", reason: "longer than \(limits.nameLengthMax) bytes") }
        let props = try validatedProps(hit.props ?? [:])
        let consented = hit.consent ?? false

        // Personal data and the first-party id only with consent (promises 1 and 2).
        if !consented && (hit.vid != nil || hit.pii != nil) {
            throw .invalid(field: hit.vid != nil ? "vid" : "pii", reason: "a visitor id or personal data needs consent: true")
        }
        let visitor: VisitorID
        var previousDayVisitor: VisitorID?
        if consented, let vid = hit.vid {
            guard IngestPipeline.isToken(vid, lengths: 16...64) else { throw .invalid(field: "vid", reason: "must be 16-64 letters, digits, - or _") }
            visitor = VisitorID.consented(site: site, clientID: vid)
        } else {
            guard let salts else { throw .noSalt }
            guard let ip = context.ip else { throw .invalid(field: "ip", reason: "the client address is unknown") }
            visitor = VisitorID.cookieless(salt: salts.today, site: site, ip: ip.bytes, userAgent: context.userAgent)
            previousDayVisitor = salts.yesterday.map { VisitorID.cookieless(salt: $0, site: site, ip: ip.bytes, userAgent: context.userAgent) }
        }
        let pii = try hit.pii.map { input throws(HitRejection) -> PII in
            let pii = PII(name: input.name ?? "", email: input.email ?? "", phone: input.phone ?? "")
            for (field, value) in [("pii.name", pii.name), ("pii.email", pii.email), ("pii.phone", pii.phone)]
            where value.utf8.count > limits.piiFieldLengthMax {
                throw .invalid(field: field, reason: "longer than \(limits.piiFieldLengthMax) bytes")
            }
            return pii
        }

        let (timestampMs, id) = try identity(of: hit, site: site, nowMs: context.nowMs)
        var event = Event(id: id, site: site, visitor: visitor, timestampMs: timestampMs, kind: kind,
                          path: PersonalDataFilter.scrubbedPath(page.path))
        event.title = PersonalDataFilter.scrubbed(title)
        event.utm = UTM(source: PersonalDataFilter.scrubbed(page.utm.source), medium: PersonalDataFilter.scrubbed(page.utm.medium),
                        campaign: PersonalDataFilter.scrubbed(page.utm.campaign), term: PersonalDataFilter.scrubbed(page.utm.term),
                        content: PersonalDataFilter.scrubbed(page.utm.content))
        event.referrerHost = URLSanitizer.referrerHost(hit.referrer ?? "", siteHost: page.host.isEmpty ? site.rawValue : page.host)
        event.device = device
        event.geo = context.ip.map(geo.locate) ?? Geo()
        event.consented = consented
        event.name = PersonalDataFilter.scrubbed(kind == .click ? (name.isEmpty ? "click" : name) : name)
        event.target = PersonalDataFilter.scrubbed(target)
        event.props = props
        event.engagementMs = hit.engagementMs ?? 0
        event.pii = pii?.isEmpty == false ? pii : nil
        event.previousDayVisitor = previousDayVisitor
        return event
    }

    private func identity(of hit: Hit, site: SiteID, nowMs: Int64) throws(HitRejection) -> (Int64, EventID) {
        guard let hitID = hit.id else {
            let next = sequence.wrappingAdd(1, ordering: .relaxed).newValue
            return (nowMs, EventID.serverMade(timestampMs: nowMs, node: nodeField, sequence: next))
        }
        guard IngestPipeline.isToken(hitID, lengths: 8...64) else { throw .invalid(field: "id", reason: "must be 8-64 letters, digits, - or _") }
        // The hit's own timestamp keeps a retry the same event. Without one, or with a clock far
        // off, the time is the start of the server's current hour: retries within that hour are
        // still the same event, at the cost of the event's time being up to an hour early.
        var timestamp = nowMs - nowMs % TimeUnits.hourMs
        if let ts = hit.ts, ts >= nowMs - limits.clientClockBehindMaxMs, ts <= nowMs + limits.clientClockAheadMaxMs {
            timestamp = ts
        }
        return (timestamp, EventID.forHit(site: site, hitID: hitID, timestampMs: timestamp))
    }

    /// Properties within their limits, keys and values through the personal-data filter (both
    /// are shown in reports). Two keys that filter to the same text keep the greater value, so
    /// the result does not depend on the dictionary's order.
    private func validatedProps(_ props: [String: String]) throws(HitRejection) -> [String: String] {
        guard props.count <= limits.propsCountMax else { throw .invalid(field: "props", reason: "more than \(limits.propsCountMax) properties") }
        var filtered = [String: String]()
        for (key, value) in props {
            guard !key.isEmpty, key.utf8.count <= limits.propKeyLengthMax else { throw .invalid(field: "props", reason: "keys must be 1-\(limits.propKeyLengthMax) bytes") }
            guard value.utf8.count <= limits.propValueLengthMax else { throw .invalid(field: "props.\(key)", reason: "longer than \(limits.propValueLengthMax) bytes") }
            let safeKey = PersonalDataFilter.scrubbed(key), safeValue = PersonalDataFilter.scrubbed(value)
            filtered[safeKey] = max(filtered[safeKey] ?? safeValue, safeValue)
        }
        return filtered
    }

    static func isToken(_ text: String, lengths: ClosedRange<Int>) -> Bool {
        lengths.contains(text.utf8.count) && text.utf8.allSatisfy { byte in
            (byte >= 48 && byte <= 57) || (byte >= 65 && byte <= 90) || (byte >= 97 && byte <= 122) || byte == 45 || byte == 95
        }
    }
}
