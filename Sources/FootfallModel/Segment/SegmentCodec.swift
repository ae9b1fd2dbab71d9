/// The stored form of an `EventSegment`. Version byte; the site and day it holds (so a value under
/// another key is refused, not read as other events); row and visitor counts; visitors
/// (ascending, delta-varint) and their run lengths; times (varint delta from the day's start for a
/// run's first row, from the previous row after); id tails (10 bytes a row: an id leads with its
/// event's time, see `EventCodec`); kinds (3 bits); each text column as a sorted dictionary and
/// bit-packed codes; device class (3 bits), browser major and engagement (varints), consent (1 bit);
/// properties over two dictionaries; the sparse previous-day visitors and personal data; CRC-32C.
///
/// Decoding checks everything it reads — counts, lengths, codes, order, times within the day —
/// and returns nil for anything else: a stored value may come from a bad disk or a peer.
public enum SegmentCodec {
    static let version: UInt8 = 2
    /// Bytes of one stored text at most (the ingest pipeline keeps them far shorter).
    static let textBytesMax = 64 * 1024
    static let propsPerRowMax = 64
    private static let idTailBytes = 10

    public static func encode(_ segment: EventSegment) -> [UInt8] {
        var out = ByteWriter()
        out.byte(version)
        out.string(segment.site.rawValue)
        out.varint(UInt64(segment.day.index))
        out.varint(segment.count)
        out.varint(segment.visitors.count)
        var previous: UInt64 = 0
        for visitor in segment.visitors {
            out.varint(visitor.rawValue &- previous)
            previous = visitor.rawValue
        }
        for run in segment.visitorRuns { out.varint(run) }
        var row = 0
        for run in segment.visitorRuns {
            var last = segment.day.startMs
            for _ in 0..<run {
                out.varint(UInt64(segment.timestamps[row] - last))
                last = segment.timestamps[row]
                row += 1
            }
        }
        for id in segment.ids { out.raw(id.bytes.suffix(idTailBytes)) }
        out.packed(segment.kinds.map { UInt32($0.rawValue) }, width: 3)
        for strings in segment.texts { dictionary(strings.dictionary, codes: strings.codes.map(UInt32.init), into: &out) }
        out.packed(segment.deviceClasses.map { UInt32($0.rawValue) }, width: 3)
        for major in segment.browserMajors { out.varint(UInt64(major)) }
        for engagement in segment.engagementMs { out.varint(UInt64(engagement)) }
        out.packed(segment.consented.map { $0 ? 1 : 0 }, width: 1)
        for list in [segment.propKeys, segment.propValues] {
            out.varint(list.count)
            for text in list { out.string(text) }
        }
        for pairs in segment.props {
            out.varint(pairs.count)
            for pair in pairs {
                out.varint(UInt64(pair.key))
                out.varint(UInt64(pair.value))
            }
        }
        out.varint(segment.previousDayVisitors.count)
        for (row, visitor) in segment.previousDayVisitors.sorted(by: { $0.key < $1.key }) {
            out.varint(row)
            out.raw(visitor.rawValue.bigEndianBytes)
        }
        out.varint(segment.pii.count)
        for (row, pii) in segment.pii.sorted(by: { $0.key < $1.key }) {
            out.varint(row)
            for field in [pii.name, pii.email, pii.phone] { out.string(field) }
        }
        let checksum = CRC32C.checksum(out.bytes)
        out.raw(checksum.bigEndianBytes)
        return out.bytes
    }

    private static func dictionary(_ dictionary: [String], codes: [UInt32], into out: inout ByteWriter) {
        out.varint(dictionary.count)
        for text in dictionary { out.string(text) }
        out.packed(codes, width: ByteWriter.width(for: dictionary.count))
    }

    /// A reader over the bytes before the checksum, if the checksum holds.
    private static func checkedBody(_ bytes: [UInt8]) -> ByteReader? {
        guard bytes.count >= 5 else { return nil }
        let body = bytes.prefix(bytes.count - 4)
        guard CRC32C.checksum(body) == UInt32(bigEndianBytes: bytes.suffix(4)) else { return nil }
        return ByteReader(Array(body))
    }

    /// Version, site, day, row count and visitors.
    private static func header(_ reader: inout ByteReader, site: SiteID, day: Day) -> (rows: Int, visitors: [VisitorID])? {
        guard reader.byte() == version, reader.string(lengthMax: textBytesMax) == site.rawValue,
              reader.varint() == UInt64(day.index), let rows = reader.count(atMost: EventSegment.rowsMax),
              let visitorCount = reader.count(atMost: rows) else { return nil }
        var visitors = [VisitorID]()
        var previous: UInt64 = 0
        for index in 0..<visitorCount {
            guard let delta = reader.varint(), index == 0 || delta > 0 else { return nil }
            let (value, overflow) = previous.addingReportingOverflow(delta)
            guard !overflow else { return nil }
            visitors.append(VisitorID(rawValue: value))
            previous = value
        }
        return (rows, visitors)
    }

    /// The segment of `site` and `day` stored as `bytes`, or nil when the bytes are not a whole,
    /// well-formed segment of that day.
    public static func decode(_ bytes: [UInt8], site: SiteID, day: Day) -> EventSegment? {
        guard var reader = checkedBody(bytes), let (rows, visitors) = header(&reader, site: site, day: day) else { return nil }
        let visitorCount = visitors.count
        var runs = [Int]()
        for _ in 0..<visitorCount {
            guard let run = reader.count(atMost: rows), run > 0 else { return nil }
            runs.append(run)
        }
        guard runs.reduce(0, +) == rows, let timestamps = times(&reader, runs: runs, day: day) else { return nil }
        var ids = [EventID]()
        ids.reserveCapacity(rows)
        for row in 0..<rows {
            guard let tail = reader.take(idTailBytes) else { return nil }
            ids.append(EventID(bytes: Array(UInt64(timestamps[row]).bigEndianBytes.suffix(6)) + tail)!)
        }
        guard let kindCodes = reader.packed(count: rows, width: 3, bound: 8) else { return nil }
        let kinds = kindCodes.compactMap { Event.Kind(rawValue: UInt8($0)) }
        guard kinds.count == rows else { return nil }
        var texts = [EventSegment.Strings]()
        for _ in EventSegment.Text.allCases {
            guard let strings = strings(&reader, rows: rows) else { return nil }
            texts.append(strings)
        }
        guard let classCodes = reader.packed(count: rows, width: 3, bound: 8) else { return nil }
        let deviceClasses = classCodes.compactMap { Device.Class(rawValue: UInt8($0)) }
        guard deviceClasses.count == rows else { return nil }
        var browserMajors = [UInt32](), engagementMs = [UInt32]()
        for _ in 0..<rows {
            guard let major = reader.count(atMost: Int(UInt32.max)) else { return nil }
            browserMajors.append(UInt32(major))
        }
        for _ in 0..<rows {
            guard let engagement = reader.count(atMost: Int(UInt32.max)) else { return nil }
            engagementMs.append(UInt32(engagement))
        }
        guard let consentBits = reader.packed(count: rows, width: 1, bound: 2),
              let propKeys = sortedList(&reader, countMax: rows * propsPerRowMax),
              let propValues = sortedList(&reader, countMax: rows * propsPerRowMax),
              let props = properties(&reader, rows: rows, keys: propKeys.count, values: propValues.count) else { return nil }
        guard let previousDayVisitors = sparse(&reader, rows: rows, { reader -> VisitorID? in
            reader.take(8).map { VisitorID(rawValue: UInt64(bigEndianBytes: $0)) }
        }), let pii = sparse(&reader, rows: rows, { reader -> PII? in
            guard let name = reader.string(lengthMax: textBytesMax), let email = reader.string(lengthMax: textBytesMax),
                  let phone = reader.string(lengthMax: textBytesMax) else { return nil }
            return PII(name: name, email: email, phone: phone)
        }), reader.isAtEnd else { return nil }
        let segment = EventSegment(
            site: site, day: day, visitors: visitors, visitorRuns: runs, timestamps: timestamps, ids: ids, kinds: kinds, texts: texts,
            deviceClasses: deviceClasses, browserMajors: browserMajors, engagementMs: engagementMs, consented: consentBits.map { $0 == 1 },
            props: props, propKeys: propKeys, propValues: propValues, previousDayVisitors: previousDayVisitors, pii: pii)
        return isOrdered(segment) ? segment : nil
    }

    /// Each row's time, within `day`: runs start from the day's start, each row after from the
    /// row before.
    private static func times(_ reader: inout ByteReader, runs: [Int], day: Day) -> [Int64]? {
        let dayEnd = day.advanced(by: 1).startMs
        var timestamps = [Int64]()
        timestamps.reserveCapacity(runs.reduce(0, +))
        for run in runs {
            var last = day.startMs
            for _ in 0..<run {
                guard let delta = reader.count(atMost: Int(TimeUnits.dayMs)), last + Int64(delta) < dayEnd else { return nil }
                last += Int64(delta)
                timestamps.append(last)
            }
        }
        return timestamps
    }

    /// Each row's properties as codes below `keys` and `values`, keys strictly ascending within a
    /// row: one value per key, as in the event's dictionary.
    private static func properties(_ reader: inout ByteReader, rows: Int, keys: Int, values: Int) -> RowProperties? {
        var props = [[RowProperties.Pair]]()
        props.reserveCapacity(rows)
        for _ in 0..<rows {
            guard let count = reader.count(atMost: propsPerRowMax) else { return nil }
            var pairs = [RowProperties.Pair]()
            for _ in 0..<count {
                guard let key = reader.count(atMost: keys - 1), pairs.last.map({ Int($0.key) < key }) ?? true,
                      let value = reader.count(atMost: values - 1) else { return nil }
                pairs.append((UInt32(key), UInt32(value)))
            }
            props.append(pairs)
        }
        return RowProperties(props)
    }

    private static func strings(_ reader: inout ByteReader, rows: Int) -> EventSegment.Strings? {
        guard let dictionary = sortedList(&reader, countMax: max(rows, 1)),
              let codes = reader.packed(count: rows, width: ByteWriter.width(for: dictionary.count), bound: dictionary.count)
        else { return nil }
        // Codes are below the dictionary's count, at most `rowsMax`: they fit a `Code`.
        return EventSegment.Strings(dictionary: dictionary, codes: codes.map { EventSegment.Strings.Code(truncatingIfNeeded: $0) })
    }

    /// A strictly ascending list of strings, as the dictionaries are written.
    private static func sortedList(_ reader: inout ByteReader, countMax: Int) -> [String]? {
        guard let count = reader.count(atMost: countMax) else { return nil }
        var list = [String]()
        for _ in 0..<count {
            guard let text = reader.string(lengthMax: textBytesMax), list.last.map({ $0 < text }) ?? true else { return nil }
            list.append(text)
        }
        return list
    }

    private static func sparse<Value>(_ reader: inout ByteReader, rows: Int, _ value: (inout ByteReader) -> Value?) -> [Int: Value]? {
        guard let count = reader.count(atMost: rows) else { return nil }
        var out = [Int: Value]()
        var last = -1
        for _ in 0..<count {
            guard let row = reader.count(atMost: rows - 1), row > last, let decoded = value(&reader) else { return nil }
            out[row] = decoded
            last = row
        }
        return out
    }

    /// Rows ordered by time, then id, within each visitor's run (what the builder writes and the
    /// query engine relies on).
    private static func isOrdered(_ segment: EventSegment) -> Bool {
        var row = 0
        for run in segment.visitorRuns {
            for next in row + 1..<row + run where (segment.timestamps[next - 1], segment.ids[next - 1]) >= (segment.timestamps[next], segment.ids[next]) {
                return false
            }
            row += run
        }
        return true
    }
}
