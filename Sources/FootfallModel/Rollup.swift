/// Aggregates kept per site and local day (and, for hourly charts, per 15-minute UTC bucket). They
/// hold no personal data (dimensions are paths, hosts, UTM values, countries, device families), so
/// they outlive retention and erasure.
public enum RollupMetric: UInt8, Sendable, CaseIterable, Codable {
    // Per event: a count of pageviews (or events, for custom events and clicks) and a sketch of
    // distinct visitors.
    case total = 1
    case page = 2
    case referrer = 3
    case utmSource = 4
    case utmMedium = 5
    case utmCampaign = 6
    case utmTerm = 7
    case utmContent = 8
    case country = 9
    case region = 10
    case browser = 11
    case os = 12
    case device = 13
    case customEvent = 14
    case click = 15
    // Per visit, recomputed whenever a visitor's events change: the cell is attributed to the
    // bucket where the visit starts.
    case visits = 32
    case bounces = 33
    case visitDuration = 34
    case entryPage = 35
    case exitPage = 36

    public var name: String {
        switch self {
        case .total: "total"
        case .page: "page"
        case .referrer: "referrer"
        case .utmSource: "utm_source"
        case .utmMedium: "utm_medium"
        case .utmCampaign: "utm_campaign"
        case .utmTerm: "utm_term"
        case .utmContent: "utm_content"
        case .country: "country"
        case .region: "region"
        case .browser: "browser"
        case .os: "os"
        case .device: "device"
        case .customEvent: "event"
        case .click: "click"
        case .visits: "visits"
        case .bounces: "bounces"
        case .visitDuration: "visit_duration"
        case .entryPage: "entry_page"
        case .exitPage: "exit_page"
        }
    }

    public init?(name: String) {
        guard let metric = RollupMetric.allCases.first(where: { $0.name == name }) else { return nil }
        self = metric
    }

    /// Dimensions a breakdown can be asked for.
    public static let breakdowns: [RollupMetric] = [
        .page, .entryPage, .exitPage, .referrer, .utmSource, .utmMedium, .utmCampaign, .utmTerm, .utmContent,
        .country, .region, .browser, .os, .device, .customEvent, .click,
    ]

    public var isVisitBased: Bool { rawValue >= 32 }

    /// Metrics kept per quarter hour as well as per local day: those an hourly chart reads.
    /// Everything else is kept per local day only: a report never asks for less than a local day,
    /// and the quarter-hour cells of breakdowns held about one event each (five keys written and
    /// stored per event, most of the ingest and disk cost).
    public var keepsQuarterHours: Bool { self == .total || self == .visits }
}

/// One rollup value: a signed count and, for per-event metrics, a sketch of distinct visitors.
/// Cells merge by adding counts and uniting sketches, which is commutative; they are stored in
/// packs (`RollupPack`), one per metric and bucket.
public struct RollupCell: Hashable, Sendable {
    public var count: Int64
    public var visitors: HyperLogLog?

    public init(count: Int64, visitors: HyperLogLog? = nil) {
        self.count = count
        self.visitors = visitors
    }

    public mutating func merge(_ other: RollupCell) {
        count &+= other.count
        if let sketch = other.visitors {
            if visitors == nil { visitors = HyperLogLog() }
            visitors!.merge(sketch)
        }
    }

    static let countTag: UInt8 = 0x01
    static let countAndSketchTag: UInt8 = 0x02

    public var encoded: [UInt8] {
        var out: [UInt8] = [visitors == nil ? RollupCell.countTag : RollupCell.countAndSketchTag]
        out += withUnsafeBytes(of: count.littleEndian) { Array($0) }
        if let visitors { out += visitors.encoded }
        return out
    }

    /// The count of an encoded cell, read without decoding its sketch; nil if it is not a cell.
    static func count(encoded bytes: ArraySlice<UInt8>) -> Int64? {
        guard let tag = bytes.first, bytes.count >= 9, tag == RollupCell.countAndSketchTag || (tag == RollupCell.countTag && bytes.count == 9)
        else { return nil }
        var raw: Int64 = 0
        for (shift, byte) in bytes.dropFirst().prefix(8).enumerated() { raw |= Int64(byte) << Int64(shift * 8) }
        return raw
    }

    public init?(encoded bytes: some Collection<UInt8>) {
        let bytes = Array(bytes)
        guard let count = RollupCell.count(encoded: bytes[...]) else { return nil }
        self.count = count
        if bytes[0] == RollupCell.countAndSketchTag {
            guard let sketch = HyperLogLog(encoded: bytes[9...]) else { return nil }
            visitors = sketch
        } else {
            visitors = nil
        }
    }
}

/// Rollup cells summed over a span, as stored (encoded): the count at once, the visitor sketch
/// united only when asked. A breakdown shows visitors for ten rows of up to thousands, and
/// uniting every row's sketches was most of its time.
public struct RollupTotal: Sendable {
    public private(set) var count: Int64 = 0
    private var cells: [ArraySlice<UInt8>] = []

    public init() {}

    /// Adds an encoded cell. One that is not a cell is skipped, as the merge operator skips it; a
    /// sketch that does not decode is left out of `visitors` (the merge operator only writes
    /// valid ones).
    public mutating func add(encoded cell: ArraySlice<UInt8>) {
        guard let cellCount = RollupCell.count(encoded: cell) else { return }
        count &+= cellCount
        if cell.first == RollupCell.countAndSketchTag { cells.append(cell) }
    }

    /// The union of the cells' visitor sketches, or nil when none holds one.
    public var visitors: HyperLogLog? {
        guard !cells.isEmpty else { return nil }
        // Dense while uniting: each cell's registers are applied as they are read, where a sparse
        // union allocated and merged a longer list per cell.
        var union = HyperLogLog(registers: [UInt8](repeating: 0, count: HyperLogLog.registerCount))
        for cell in cells { union.merge(encoded: cell.dropFirst(9)) }
        return union.inUsualForm()
    }
}

/// What one event or one visit adds to a site's rollups, cell by cell: each a count under a metric
/// and dimension (`RollupBuild` places them and adds the visitors).
public enum RollupCells {
    /// The per-event cells an event adds: each a count (1, or 0 where only the visitor counts)
    /// under a metric and dimension, with the event's visitor in the cell's sketch. Engagement
    /// pings count toward no per-event metric (they only lengthen visits) and identify calls
    /// toward none at all.
    public static func of(_ event: Event, _ body: (RollupMetric, String, Int64) -> Void) {
        switch event.kind {
        case .custom:
            body(.customEvent, event.name, 1)
            body(.total, "", 0)
        case .click:
            body(.click, "\(event.name):\(event.target)", 1)
            body(.total, "", 0)
        case .pageview:
            body(.total, "", 1)
            body(.page, event.path, 1)
            let dimensions: [(RollupMetric, String)] = [
                (.referrer, event.referrerHost), (.utmSource, event.utm.source), (.utmMedium, event.utm.medium),
                (.utmCampaign, event.utm.campaign), (.utmTerm, event.utm.term), (.utmContent, event.utm.content),
                (.country, event.geo.country), (.region, event.geo.region), (.browser, event.device.browser),
                (.os, event.device.os), (.device, event.device.deviceClass.name),
            ]
            for (metric, value) in dimensions where !value.isEmpty { body(metric, value, 1) }
        case .engagement, .identify:
            break
        }
    }

    /// The per-visit cells a visit adds, all in the quarter hour where it starts (which places
    /// them); no visitor sketch.
    public static func of(_ visit: Visits.Visit, _ body: (RollupMetric, String, Int64) -> Void) {
        body(.visits, "", 1)
        body(.visitDuration, "", visit.durationMs)
        body(.entryPage, visit.entryPage, 1)
        body(.exitPage, visit.exitPage, 1)
        if visit.isBounce { body(.bounces, "", 1) }
    }
}
