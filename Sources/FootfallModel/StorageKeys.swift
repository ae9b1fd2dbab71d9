/// Key layouts of the column families. Keys are big-endian and start with the length-prefixed site
/// id, so each site's data is one contiguous, self-describing range, and a whole day of a site's
/// raw events or visitor index is one range that retention can delete at once.
///
/// | family   | key                                      | value                          |
/// |----------|------------------------------------------|--------------------------------|
/// | events   | site · day · event id                    | StoredEvent (protobuf)         |
/// | visitors | site · day · visitor · event id          | kind · path (a visitor's hits) |
/// | visits   | none: earlier versions' visit records, deleted when a store is opened |       |
/// | rollups  | site · (metric | 0x80) · local date    | RollupPack: a cell per dimension (merge operator) |
/// |          | site · (metric | 0x40) · local week    | the same per 7 local dates (date index / 7) |
/// |          | site · metric · quarter hour             | the same, for `keepsQuarterHours` |
/// | segments | site · day                               | SegmentManifest: the day's parts (a sealed day keeps no other rows but late writes) |
/// |          | site · day · part (UInt16)               | EventSegment (SegmentCodec)    |
/// |          | site · day · 0xffff                      | VisitorFilter of the day       |
/// | erasures | site · visitor                           | ErasureRecord (protobuf)       |
/// | crm      | site · visitor                           | VisitorRecord (protobuf)       |
public enum StorageKeys {
    public static func sitePrefix(_ site: SiteID) -> [UInt8] {
        let bytes = Array(site.rawValue.utf8)
        return [UInt8(bytes.count)] + bytes
    }

    /// The first key after every key that starts with `prefix`.
    public static func prefixEnd(_ prefix: [UInt8]) -> [UInt8] {
        var end = prefix
        while let last = end.last {
            if last < 0xff {
                end[end.count - 1] = last + 1
                return end
            }
            end.removeLast()
        }
        return [0xff, 0xff, 0xff, 0xff]
    }

    // MARK: events

    public static func eventDay(_ site: SiteID, _ day: Day) -> [UInt8] {
        sitePrefix(site) + day.index.bigEndianBytes
    }

    public static func event(_ site: SiteID, _ id: EventID) -> [UInt8] {
        eventDay(site, Day(containing: id.timestampMs)) + id.bytes
    }

    /// The first 6 bytes of every event id whose timestamp is `ms`: appended to a day prefix, it
    /// bounds a scan to a time slice of that day.
    public static func millisecondPrefix(_ ms: Int64) -> [UInt8] {
        Array(UInt64(max(0, ms)).bigEndianBytes.suffix(6))
    }

    /// The event id at the end of an events key.
    public static func eventID(fromEventKey key: [UInt8]) -> EventID? {
        guard key.count >= 16 else { return nil }
        return EventID(bytes: Array(key.suffix(16)))
    }

    // MARK: segments

    /// A sealed day's manifest; its parts' keys follow it, so the day is one range with its events'.
    public static func segmentManifest(_ site: SiteID, _ day: Day) -> [UInt8] { eventDay(site, day) }

    public static func segmentPart(_ site: SiteID, _ day: Day, _ part: Int) -> [UInt8] {
        eventDay(site, day) + UInt16(part).bigEndianBytes
    }

    /// A sealed day's `VisitorFilter`, after its parts (a day has at most 4,096 of them).
    public static func segmentVisitorFilter(_ site: SiteID, _ day: Day) -> [UInt8] {
        eventDay(site, day) + [0xff, 0xff]
    }

    // MARK: visitors

    public static func visitorDay(_ site: SiteID, _ day: Day) -> [UInt8] { eventDay(site, day) }

    public static func visitorDay(_ site: SiteID, _ day: Day, _ visitor: VisitorID) -> [UInt8] {
        eventDay(site, day) + visitor.rawValue.bigEndianBytes
    }

    public static func visitorEvent(_ site: SiteID, _ visitor: VisitorID, _ id: EventID) -> [UInt8] {
        visitorDay(site, Day(containing: id.timestampMs), visitor) + id.bytes
    }

    /// The visitor of a visitor-index key under the site-day prefix `visitorDay(site, day)`.
    public static func visitor(fromVisitorKey key: [UInt8], dayPrefixCount: Int) -> VisitorID? {
        guard key.count >= dayPrefixCount + 8 else { return nil }
        return VisitorID(rawValue: UInt64(bigEndianBytes: key[dayPrefixCount..<dayPrefixCount + 8]))
    }

    public static func visitorHitValue(kind: Event.Kind, path: String) -> [UInt8] {
        [kind.rawValue] + Array(path.utf8)
    }

    public static func visitorHit(key: [UInt8], value: [UInt8]) -> Visits.Hit? {
        guard let id = eventID(fromEventKey: key), let first = value.first, let kind = Event.Kind(rawValue: first) else { return nil }
        return Visits.Hit(id: id, timestampMs: id.timestampMs, kind: kind, path: String(decoding: value.dropFirst(), as: UTF8.self))
    }

    // MARK: rollups

    public static func rollupMetric(_ site: SiteID, _ metric: RollupMetric) -> [UInt8] {
        sitePrefix(site) + [metric.rawValue]
    }

    public static func rollupBucket(_ site: SiteID, _ metric: RollupMetric, _ bucket: QuarterHour) -> [UInt8] {
        rollupMetric(site, metric) + bucket.index.bigEndianBytes
    }

    /// The daily tier holds each cell summed over a local date of the site (`SiteCalendar`), so a
    /// report reads one cell per day and dimension. It sits under the metric's code with the top
    /// bit set (metric codes stay below 0x80).
    public static func rollupDayMetric(_ site: SiteID, _ metric: RollupMetric) -> [UInt8] {
        sitePrefix(site) + [metric.rawValue | 0x80]
    }

    public static func rollupDay(_ site: SiteID, _ metric: RollupMetric, _ day: Day) -> [UInt8] {
        rollupDayMetric(site, metric) + day.index.bigEndianBytes
    }

    /// The weekly tier holds each site week's days summed (local date index / 7), so a month-long
    /// report reads four weeks and a few days. It sits under the metric's code with bit 0x40 set
    /// (metric codes stay below 0x40).
    public static func rollupWeek(_ site: SiteID, _ metric: RollupMetric, _ week: UInt32) -> [UInt8] {
        sitePrefix(site) + [metric.rawValue | 0x40] + week.bigEndianBytes
    }

    /// The last local date whose rollups a site has built (`EventStore.buildRollups`), a day
    /// index. It sits under code 0, which no metric has, so the site's rollup keys still delete
    /// (and wipe) as one range.
    public static func rollupsBuiltThrough(_ site: SiteID) -> [UInt8] {
        sitePrefix(site) + [0x00]
    }

    /// The bucket (or local date) index of a rollup key whose site and metric prefix is
    /// `prefixCount` bytes.
    public static func rollupIndex(key: [UInt8], prefixCount: Int) -> UInt32? {
        guard key.count == prefixCount + 4 else { return nil }
        return UInt32(bigEndianBytes: key[prefixCount...])
    }

    // MARK: erasures and CRM

    public static func visitor(_ site: SiteID, _ visitor: VisitorID) -> [UInt8] {
        sitePrefix(site) + visitor.rawValue.bigEndianBytes
    }
}
