import Synchronization

/// Counters and gauges exposed at `/metrics` in Prometheus text format. Label values are fixed
/// vocabularies (reject reasons, family names, site ids) and never carry visitor data.
public final class NodeMetrics: Sendable {
    private struct Series: Hashable, Comparable {
        let name: String
        let labels: [String: String]

        var rendered: String {
            guard !labels.isEmpty else { return name }
            let inner = labels.keys.sorted().map { key in
                let value = labels[key]!.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
                return "\(key)=\"\(value)\""
            }
            return "\(name){\(inner.joined(separator: ","))}"
        }

        static func < (a: Series, b: Series) -> Bool { a.rendered < b.rendered }
    }

    private let counters = Mutex([Series: Double]())
    private let gauges = Mutex([Series: Double]())
    private let help: [String: (type: String, text: String)] = [
        "footfall_ingest_events_total": ("counter", "Events stored by this node."),
        "footfall_ingest_duplicates_total": ("counter", "Hits ignored because their event id was already stored (retries)."),
        "footfall_ingest_rejects_total": ("counter", "Hits refused or dropped, by reason."),
        "footfall_ingest_batches_total": ("counter", "Group-commit batches written."),
        "footfall_http_requests_total": ("counter", "HTTP requests, by route group and status class."),
        "footfall_storage_bytes": ("gauge", "Approximate bytes stored per column family."),
        "footfall_retention_oldest_event_age_seconds": ("gauge", "Age of the oldest stored raw event, per site."),
        "footfall_retention_runs_total": ("counter", "Retention enforcement passes."),
        "footfall_segments_sealed_total": ("counter", "Site-days sealed into columnar event segments."),
        "footfall_segment_cache_bytes": ("gauge", "Memory held by decoded sealed days (--segment-cache-mb bounds it)."),
        "footfall_segment_cache_reads_total": ("counter", "Reads of sealed days by filtered reports, by whether the decoded day was in memory."),
        "footfall_hot_day_builds_total": ("counter", "Days not sealed read from their rows into memory for reports (a start, a day dropped for memory, retention or a deletion): each is a scan of the day's rows."),
        "footfall_hot_day_bytes": ("gauge", "Memory held by days not sealed read for reports (--hot-days-mb bounds it: past it days are dropped and read from their rows again)."),
        "footfall_erasures_total": ("counter", "Visitor erasures carried out."),
        "footfall_replication_writes_in_flight": ("gauge", "Client writes waiting on their replicas; at the coordinator's bound (10,000) further writes are refused with 503."),
        "footfall_certificate_expiry_seconds": ("gauge", "Time left before a certificate this node serves with expires (ca, node, https); a warning is logged a month ahead."),
    ]

    public init() {}

    public func increment(_ name: String, by amount: Double = 1, labels: [String: String] = [:]) {
        counters.withLock { $0[Series(name: name, labels: labels), default: 0] += amount }
    }

    public func set(_ name: String, to value: Double, labels: [String: String] = [:]) {
        gauges.withLock { $0[Series(name: name, labels: labels)] = value }
    }

    public func value(_ name: String, labels: [String: String] = [:]) -> Double {
        let series = Series(name: name, labels: labels)
        return counters.withLock { $0[series] } ?? gauges.withLock { $0[series] } ?? 0
    }

    public func render() -> String {
        let all = counters.withLock { $0 }.merging(gauges.withLock { $0 }) { a, _ in a }
        var out = ""
        var described = Set<String>()
        for series in all.keys.sorted() {
            if !described.contains(series.name), let info = help[series.name] {
                out += "# HELP \(series.name) \(info.text)\n# TYPE \(series.name) \(info.type)\n"
                described.insert(series.name)
            }
            let value = all[series]!
            out += "\(series.rendered) \(value == value.rounded() ? String(Int64(value)) : String(value))\n"
        }
        return out
    }
}
