/// What a visitor did, after the privacy pipeline: there is no IP, no query string beyond UTM
/// parameters, and personal data only when the hit carried consent.
public struct Event: Hashable, Sendable {
    public enum Kind: UInt8, Sendable, CaseIterable, Codable {
        case pageview = 1, click = 2, custom = 3, engagement = 4, identify = 5

        public var name: String {
            switch self {
            case .pageview: "pageview"
            case .click: "click"
            case .custom: "custom"
            case .engagement: "engagement"
            case .identify: "identify"
            }
        }

        public init?(name: String) {
            guard let kind = Kind.allCases.first(where: { $0.name == name }) else { return nil }
            self = kind
        }
    }

    public var id: EventID
    public var site: SiteID
    public var visitor: VisitorID
    public var timestampMs: Int64
    public var kind: Kind
    public var path: String
    public var title: String = ""
    public var referrerHost: String = ""
    public var utm: UTM = UTM()
    public var device: Device = Device()
    public var geo: Geo = Geo()
    public var consented: Bool = false
    /// The event name for custom events; "outbound" or "button" for clicks.
    public var name: String = ""
    /// Outbound link host or button label for clicks.
    public var target: String = ""
    public var props: [String: String] = [:]
    public var engagementMs: UInt32 = 0
    public var pii: PII? = nil
    /// For a cookieless hit in the first visit gap after UTC midnight: the id the same visitor had
    /// under yesterday's salt. The store continues that visitor's visit under the old id if it
    /// saw them moments ago. Never stored.
    public var previousDayVisitor: VisitorID? = nil

    public init(id: EventID, site: SiteID, visitor: VisitorID, timestampMs: Int64, kind: Kind, path: String) {
        self.id = id
        self.site = site
        self.visitor = visitor
        self.timestampMs = timestampMs
        self.kind = kind
        self.path = path
    }

    public var day: Day { Day(containing: timestampMs) }
    public var quarterHour: QuarterHour { QuarterHour(containing: timestampMs) }
}

public struct UTM: Hashable, Sendable, Codable {
    public var source = ""
    public var medium = ""
    public var campaign = ""
    public var term = ""
    public var content = ""
    public init(source: String = "", medium: String = "", campaign: String = "", term: String = "", content: String = "") {
        self.source = source
        self.medium = medium
        self.campaign = campaign
        self.term = term
        self.content = content
    }
}

public struct Device: Hashable, Sendable, Codable {
    public enum Class: UInt8, Sendable, Codable, CaseIterable {
        case unknown = 0, desktop = 1, mobile = 2, tablet = 3, bot = 4
        public var name: String {
            switch self {
            case .unknown: "unknown"
            case .desktop: "desktop"
            case .mobile: "mobile"
            case .tablet: "tablet"
            case .bot: "bot"
            }
        }
    }

    public var browser = ""
    public var browserMajor: UInt32 = 0
    public var os = ""
    public var deviceClass: Class = .unknown
    public var isBot: Bool { deviceClass == .bot }

    public init(browser: String = "", browserMajor: UInt32 = 0, os: String = "", deviceClass: Class = .unknown) {
        self.browser = browser
        self.browserMajor = browserMajor
        self.os = os
        self.deviceClass = deviceClass
    }
}

/// Location at low accuracy only (promise 4): a country and at most a region, never a city.
public struct Geo: Hashable, Sendable, Codable {
    public var country = ""
    public var region = ""
    public init(country: String = "", region: String = "") {
        self.country = country
        self.region = region
    }
}

/// Name, email and phone: accepted only from hits that carry consent (promise 2).
public struct PII: Hashable, Sendable, Codable {
    public var name = ""
    public var email = ""
    public var phone = ""
    public init(name: String = "", email: String = "", phone: String = "") {
        self.name = name
        self.email = email
        self.phone = phone
    }
    public var isEmpty: Bool { name.isEmpty && email.isEmpty && phone.isEmpty }
}
