/// The events of one site and one UTC day, column by column (docs/columnar-store.md): the form a
/// settled day is stored and queried in. Lossless — `events` gives back every field of every event
/// — so repair, export and the visitor profile read segments too.
///
/// Rows are ordered by visitor, then time, then id. That order makes each visitor one run (its
/// dictionary code repeats), visits one linear pass, distinct visitors a count of run changes, and
/// the time column small (deltas within a visitor's run).
public struct EventSegment: Hashable, Sendable {
    /// Rows one segment holds at most: a larger day is split into parts.
    public static let rowsMax = 65_536

    /// The string dimensions, each dictionary-encoded per segment.
    public enum Text: Int, CaseIterable, Sendable {
        case path, title, referrerHost, utmSource, utmMedium, utmCampaign, utmTerm, utmContent,
             country, region, browser, os, name, target

        func value(of event: Event) -> String {
            switch self {
            case .path: event.path
            case .title: event.title
            case .referrerHost: event.referrerHost
            case .utmSource: event.utm.source
            case .utmMedium: event.utm.medium
            case .utmCampaign: event.utm.campaign
            case .utmTerm: event.utm.term
            case .utmContent: event.utm.content
            case .country: event.geo.country
            case .region: event.geo.region
            case .browser: event.device.browser
            case .os: event.device.os
            case .name: event.name
            case .target: event.target
            }
        }

        func set(_ value: String, in event: inout Event) {
            switch self {
            case .path: event.path = value
            case .title: event.title = value
            case .referrerHost: event.referrerHost = value
            case .utmSource: event.utm.source = value
            case .utmMedium: event.utm.medium = value
            case .utmCampaign: event.utm.campaign = value
            case .utmTerm: event.utm.term = value
            case .utmContent: event.utm.content = value
            case .country: event.geo.country = value
            case .region: event.geo.region = value
            case .browser: event.device.browser = value
            case .os: event.device.os = value
            case .name: event.name = value
            case .target: event.target = value
            }
        }
    }

    /// A dictionary-encoded string column: each row's value is `dictionary[codes[row]]`. The
    /// dictionary is sorted, so a filter value is found by binary search, once per segment.
    public struct Strings: Hashable, Sendable {
        /// A segment holds at most `rowsMax` (65,536) rows, so at most that many distinct values:
        /// two bytes a row, where a segment kept in memory spends most of its bytes.
        public typealias Code = UInt16

        public let dictionary: [String]
        public let codes: NarrowColumn<Code>

        public func code(of value: String) -> Code? {
            var low = 0, high = dictionary.count
            while low < high {
                let middle = (low + high) / 2
                if dictionary[middle] < value { low = middle + 1 } else { high = middle }
            }
            return low < dictionary.count && dictionary[low] == value ? Code(low) : nil
        }

        init(dictionary: [String], codes: some Collection<Code>) {
            self.dictionary = dictionary
            self.codes = NarrowColumn(codes)
        }

        init(_ values: [String]) {
            let dictionary = Array(Set(values)).sorted()
            let index = Dictionary(uniqueKeysWithValues: dictionary.enumerated().map { ($0.element, Code($0.offset)) })
            self.init(dictionary: dictionary, codes: values.map { index[$0]! })
        }

        subscript(row: Int) -> String { dictionary[Int(codes[row])] }
    }

    public let site: SiteID
    public let day: Day
    /// Distinct visitors, ascending; `visitorRuns[i]` rows of visitor i follow each other.
    public let visitors: [VisitorID]
    public var visitorRuns: RunLengths { RunLengths(starts: runStarts) }
    /// The first row of each run, and the row count last (`visitors.count + 1` of them).
    private let runStarts: NarrowColumn<UInt32>
    public let timestamps: DayTimes
    public let ids: SegmentIDs
    public let kinds: [Event.Kind]
    public let texts: [Strings]
    public let deviceClasses: [Device.Class]
    public let browserMajors: NarrowColumn<UInt32>
    public let engagementMs: NarrowColumn<UInt32>
    public let consented: [Bool]
    /// Each row's properties, as (key, value) codes into `propKeys` and `propValues`.
    public let props: RowProperties
    public let propKeys: [String]
    public let propValues: [String]
    /// Rare fields, by row.
    public let previousDayVisitors: [Int: VisitorID]
    public let pii: [Int: PII]

    public var count: Int { timestamps.count }

    /// The segment of `events`, which must all be of `site` and fall on `day`, at most `rowsMax`.
    public init(site: SiteID, day: Day, events: [Event]) {
        precondition(events.count <= EventSegment.rowsMax, "\(events.count) events in one segment")
        precondition(events.allSatisfy { $0.site == site && $0.day == day }, "an event of another site or day in a segment")
        let rows = EventSegment.inRowOrder(events)
        self.site = site
        self.day = day
        var visitors = [VisitorID](), runs = [Int]()
        for event in rows {
            if visitors.last == event.visitor { runs[runs.count - 1] += 1 } else { visitors.append(event.visitor); runs.append(1) }
        }
        self.visitors = visitors
        runStarts = EventSegment.starts(of: runs)
        timestamps = DayTimes(rows.map(\.timestampMs))
        ids = SegmentIDs(rows.map(\.id), times: timestamps)
        kinds = rows.map(\.kind)
        texts = Text.allCases.map { text in Strings(rows.map { text.value(of: $0) }) }
        deviceClasses = rows.map(\.device.deviceClass)
        browserMajors = NarrowColumn(rows.map(\.device.browserMajor))
        engagementMs = NarrowColumn(rows.map(\.engagementMs))
        consented = rows.map(\.consented)
        propKeys = Array(Set(rows.flatMap(\.props.keys))).sorted()
        propValues = Array(Set(rows.flatMap(\.props.values))).sorted()
        let keyCodes = Dictionary(uniqueKeysWithValues: propKeys.enumerated().map { ($0.element, UInt32($0.offset)) })
        let valueCodes = Dictionary(uniqueKeysWithValues: propValues.enumerated().map { ($0.element, UInt32($0.offset)) })
        props = RowProperties(rows.map { event in event.props.sorted { $0.key < $1.key }.map { (keyCodes[$0.key]!, valueCodes[$0.value]!) } })
        previousDayVisitors = Dictionary(uniqueKeysWithValues: rows.enumerated().compactMap { row, event in event.previousDayVisitor.map { (row, $0) } })
        pii = Dictionary(uniqueKeysWithValues: rows.enumerated().compactMap { row, event in event.pii.map { (row, $0) } })
    }

    /// A segment of its columns; `timestamps` must fall on `day`.
    init(site: SiteID, day: Day, visitors: [VisitorID], visitorRuns: some Collection<Int>, timestamps: some Collection<Int64>, ids: some Collection<EventID>,
         kinds: [Event.Kind], texts: [Strings], deviceClasses: [Device.Class], browserMajors: some Collection<UInt32>,
         engagementMs: some Collection<UInt32>, consented: [Bool], props: RowProperties, propKeys: [String], propValues: [String],
         previousDayVisitors: [Int: VisitorID], pii: [Int: PII]) {
        (self.site, self.day, self.visitors, self.kinds) = (site, day, visitors, kinds)
        self.timestamps = DayTimes(timestamps)
        self.ids = SegmentIDs(ids, times: self.timestamps)
        runStarts = EventSegment.starts(of: visitorRuns)
        (self.texts, self.deviceClasses, self.consented) = (texts, deviceClasses, consented)
        (self.browserMajors, self.engagementMs) = (NarrowColumn(browserMajors), NarrowColumn(engagementMs))
        (self.props, self.propKeys, self.propValues, self.previousDayVisitors, self.pii) = (props, propKeys, propValues, previousDayVisitors, pii)
    }

    /// The visitor of each row (expanded from the runs).
    public var rowVisitors: [VisitorID] {
        zip(visitors, visitorRuns).flatMap { visitor, run in repeatElement(visitor, count: run) }
    }

    /// Every event, in row order: exactly the events the segment was built from.
    public var events: [Event] {
        rowVisitors.enumerated().map { row, visitor in event(row: row, visitor: visitor) }
    }

    /// Where each of `runs` starts, and the row count last: at most `rowsMax`, so four bytes each.
    private static func starts(of runs: some Collection<Int>) -> NarrowColumn<UInt32> {
        NarrowColumn(runs.reduce(into: [UInt32(0)]) { starts, run in starts.append(starts[starts.count - 1] + UInt32(run)) })
    }

    /// The rows of the `run`-th visitor.
    private func rows(ofRun run: Int) -> Range<Int> { Int(runStarts[run])..<Int(runStarts[run + 1]) }

    /// The order of a segment's rows: by visitor, then time, then id.
    public static func rowOrder(_ first: Event, _ second: Event) -> Bool {
        (first.visitor.rawValue, first.timestampMs, first.id) < (second.visitor.rawValue, second.timestampMs, second.id)
    }

    /// `events` in row order, equal ones in the order given (as a stable sort by `rowOrder`).
    /// Events already in order (a day's parts come sorted, `EventStore.parts(of:)`) are returned
    /// as they are, after one pass of comparisons. Otherwise small keys are sorted and each event
    /// is copied once into its place: sorting the events themselves moved each one, twenty-odd
    /// reference-counted fields, at every merge, which was half the time a restarted node spent
    /// reading its days back into memory.
    public static func inRowOrder(_ events: [Event]) -> [Event] {
        guard !events.indices.dropFirst().allSatisfy({ !rowOrder(events[$0], events[$0 - 1]) }) else { return events }
        let keys = events.enumerated().map { index, event in (event.visitor.rawValue, event.timestampMs, event.id, index) }
        return keys.sorted(by: <).map { events[$0.3] }
    }

    /// The rows of `visitor` (its run), or nil when it has none here (visitors are sorted).
    public func rows(of visitor: VisitorID) -> Range<Int>? {
        let run = firstRun(from: visitor)
        guard run < visitors.count, visitors[run] == visitor else { return nil }
        return rows(ofRun: run)
    }

    /// The first run whose visitor is `visitor` or after it (`visitors.count` if none is).
    func firstRun(from visitor: VisitorID) -> Int {
        var low = 0, high = visitors.count
        while low < high {
            let middle = (low + high) / 2
            if visitors[middle] < visitor { low = middle + 1 } else { high = middle }
        }
        return low
    }

    /// The rows of consecutive runs.
    func rows(ofRuns runs: Range<Int>) -> Range<Int> { Int(runStarts[runs.lowerBound])..<Int(runStarts[runs.upperBound]) }

    /// Calls `body` with each row whose time is in `span`, and its visitor, run by run.
    public func forEachRow(in span: Range<Int64>, _ body: (_ row: Int, _ visitor: VisitorID) -> Void) {
        for (run, visitor) in visitors.enumerated() {
            for row in rows(ofRun: run) where span.contains(timestamps[row]) { body(row, visitor) }
        }
    }

    /// One row's value of a text column.
    public func text(_ text: Text, row: Int) -> String {
        let column = texts[text.rawValue]
        return column.dictionary[Int(column.codes[row])]
    }

    /// The event of one row (`row` within `0..<count`).
    public func event(at row: Int) -> Event {
        // The run holding the row: the last whose start is at or before it.
        var low = 0, high = visitors.count - 1
        while low < high {
            let middle = (low + high + 1) / 2
            if Int(runStarts[middle]) <= row { low = middle } else { high = middle - 1 }
        }
        return event(row: row, visitor: visitors[low])
    }

    /// The events of `visitor`, in time order.
    public func events(of visitor: VisitorID) -> [Event] {
        rows(of: visitor).map { $0.map { event(row: $0, visitor: visitor) } } ?? []
    }

    private func event(row: Int, visitor: VisitorID) -> Event {
        var event = Event(id: ids[row], site: site, visitor: visitor, timestampMs: timestamps[row], kind: kinds[row], path: "")
        for text in Text.allCases { text.set(texts[text.rawValue][row], in: &event) }
        event.device.deviceClass = deviceClasses[row]
        event.device.browserMajor = browserMajors[row]
        event.engagementMs = engagementMs[row]
        event.consented = consented[row]
        event.props = Dictionary(uniqueKeysWithValues: props[row].map { (propKeys[Int($0.key)], propValues[Int($0.value)]) })
        event.previousDayVisitor = previousDayVisitors[row]
        event.pii = pii[row]
        return event
    }

    public static func == (a: EventSegment, b: EventSegment) -> Bool { a.site == b.site && a.day == b.day && a.events == b.events }
    public func hash(into hasher: inout Hasher) {
        hasher.combine(site)
        hasher.combine(day)
        hasher.combine(ids)
    }
}

extension EventSegment {
    /// The segment without the rows `removed` (an erased visitor's), or nil when none is left: each
    /// column cut, not the segment built again from its events, which for a visitor with rows in
    /// every part of a busy day cost seconds under the store's write lock. Dictionaries keep only
    /// the values rows still use, so nothing of the removed rows stays.
    public func removing(rows removed: Range<Int>) -> EventSegment? {
        let removed = removed.clamped(to: 0..<count)
        guard !removed.isEmpty else { return self }
        guard removed.count < count else { return nil }
        func cut<Column: RandomAccessCollection>(_ column: Column) -> [Column.Element] where Column.Index == Int {
            Array(column[..<removed.lowerBound]) + column[removed.upperBound...]
        }
        var visitors = [VisitorID](), runs = [Int]()
        for (run, visitor) in self.visitors.enumerated() {
            let rows = self.rows(ofRun: run)
            let left = rows.count - rows.clamped(to: removed).count
            if left > 0 {
                visitors.append(visitor)
                runs.append(left)
            }
        }
        /// Maps the codes rows still use onto a dictionary of only those values, in their order.
        func compacted(_ dictionary: [String], used codes: some Sequence<Int>) -> (dictionary: [String], code: [Int]) {
            var used = [Bool](repeating: false, count: dictionary.count)
            for code in codes { used[code] = true }
            var kept = [String](), code = [Int](repeating: -1, count: dictionary.count)
            for (old, value) in dictionary.enumerated() where used[old] {
                code[old] = kept.count
                kept.append(value)
            }
            return (kept, code)
        }
        let texts = self.texts.map { column in
            let codes = cut(column.codes)
            let (dictionary, code) = compacted(column.dictionary, used: codes.lazy.map(Int.init))
            return Strings(dictionary: dictionary, codes: codes.map { Strings.Code(code[Int($0)]) })
        }
        let props = cut(self.props)
        let keys = compacted(propKeys, used: props.lazy.flatMap { $0 }.map { Int($0.key) })
        let values = compacted(propValues, used: props.lazy.flatMap { $0 }.map { Int($0.value) })
        func shifted<Value>(_ byRow: [Int: Value]) -> [Int: Value] {
            Dictionary(uniqueKeysWithValues: byRow.compactMap { row, value in
                row < removed.lowerBound ? (row, value) : row >= removed.upperBound ? (row - removed.count, value) : nil
            })
        }
        return EventSegment(
            site: site, day: day, visitors: visitors, visitorRuns: runs, timestamps: cut(timestamps), ids: cut(ids), kinds: cut(kinds),
            texts: texts, deviceClasses: cut(deviceClasses), browserMajors: cut(browserMajors), engagementMs: cut(engagementMs),
            consented: cut(consented),
            props: RowProperties(props.map { row in row.map { (UInt32(keys.code[Int($0.key)]), UInt32(values.code[Int($0.value)])) } }),
            propKeys: keys.dictionary, propValues: values.dictionary,
            previousDayVisitors: shifted(previousDayVisitors), pii: shifted(pii))
    }
}
