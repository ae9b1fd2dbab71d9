/// What visit derivation keeps of one visitor's hits on one UTC day of a site: how many hits the
/// store holds (for `hitsMax`) and the day's pieces of the visitor's runs (`Visits.Run`), in time
/// order. A day holds at most 48 runs (they are 30 minutes apart), so the record stays small
/// however many hits the visitor sends, and applying a hit reads and writes this record instead of
/// the visitor's hits. A run that goes on over midnight is a piece on each day.
public struct VisitorDay: Hashable, Sendable {
    /// Hits stored per visitor and day of a site, at most. A person never sends this many in a day;
    /// a script that does has the rest dropped, so it cannot grow one visitor without limit. Every
    /// replica drops past the same count.
    public static let hitsMax = 10_000

    public private(set) var hits: Int
    public private(set) var runs: [Visits.Run]

    public init() {
        hits = 0
        runs = []
    }

    /// The record of hits already stored (an older version stored them without a limit, so a
    /// day may hold more than `hitsMax`: it counts as full).
    public init(rebuildingFrom stored: some Sequence<Visits.Hit>) {
        self.init()
        for hit in stored {
            hits += 1
            join(hit)
        }
    }

    public var isFull: Bool { hits >= VisitorDay.hitsMax }

    /// Counts a stored hit and joins it to the runs it reaches.
    public mutating func insert(_ hit: Visits.Hit) {
        precondition(!isFull, "a hit past the \(VisitorDay.hitsMax) a visitor may have in a day")
        hits += 1
        join(hit)
    }

    /// Joins the hit to the runs it reaches (it may bridge several), or makes it a run of its own.
    private mutating func join(_ hit: Visits.Hit) {
        guard var run = Visits.Run(hit) else { return }
        let reached = runs.indices.filter { runs[$0].reaches(run) }
        for index in reached { run.join(runs[index]) }
        runs.removeSubrange((reached.first ?? 0)..<(reached.last.map { $0 + 1 } ?? 0))
        runs.insert(run, at: runs.firstIndex { $0.firstMs > run.firstMs } ?? runs.endIndex)
        assert(isOrdered && runs.count <= VisitorDay.runsMax, "runs out of order or over a day after inserting a hit at \(hit.timestampMs)")
    }

    /// Runs in time order, each beyond a gap of the next.
    private var isOrdered: Bool {
        zip(runs, runs.dropFirst()).allSatisfy { $1.firstMs - $0.lastMs >= Visits.gapMs }
    }

    // MARK: Encoding

    /// Runs a day holds at most: each starts 30 minutes or more after the one before.
    static let runsMax = Int(TimeUnits.dayMs / Visits.gapMs)

    /// Encoding: a version byte, the hit count (4 bytes), the run count (1 byte), then per run its
    /// first and last times (8 bytes each), pageviews and interactions (4 bytes each), a byte
    /// saying which marks follow (start, first pageview, last pageview), and each mark as time (8),
    /// event id (16) and path (2-byte length, UTF-8). Big-endian throughout.
    static let version: UInt8 = 1

    public var encoded: [UInt8] {
        // Written on every batch of the visitor: appended in place, no intermediate arrays.
        var out = [UInt8]()
        out.reserveCapacity(6 + runs.count * 128)
        out.append(VisitorDay.version)
        Self.append(UInt32(clamping: hits), to: &out)
        out.append(UInt8(runs.count))
        for run in runs {
            Self.append(run.firstMs, to: &out)
            Self.append(run.lastMs, to: &out)
            Self.append(UInt32(run.pageviews), to: &out)
            Self.append(UInt32(run.interactions), to: &out)
            let marks = [run.start, run.firstPageview, run.lastPageview]
            out.append(marks.enumerated().reduce(0) { $0 | ($1.element == nil ? 0 : 1 << $1.offset) })
            for mark in marks.compactMap({ $0 }) {
                let path = mark.path.utf8.prefix(Int(UInt16.max))
                Self.append(mark.timestampMs, to: &out)
                out.append(contentsOf: mark.id.bytes)
                Self.append(UInt16(path.count), to: &out)
                out.append(contentsOf: path)
            }
        }
        return out
    }

    private static func append(_ value: some FixedWidthInteger, to out: inout [UInt8]) {
        withUnsafeBytes(of: value.bigEndian) { out.append(contentsOf: $0) }
    }

    /// Decodes `encoded`; nil for bytes that are not a whole, well-formed record.
    public init?(encoded bytes: [UInt8]) {
        var reader = Reader(bytes: bytes)
        guard reader.byte() == VisitorDay.version, let hits = reader.integer(UInt32.self),
              let runCount = reader.byte(), runCount <= VisitorDay.runsMax else { return nil }
        self.hits = Int(hits)
        runs = []
        var counted = 0
        for _ in 0..<runCount {
            // Times before 1970 are no event's (and keep the differences below from overflowing).
            guard let firstMs = reader.integer(Int64.self), let lastMs = reader.integer(Int64.self), 0 <= firstMs, firstMs <= lastMs,
                  let pageviews = reader.integer(UInt32.self), let interactions = reader.integer(UInt32.self),
                  let present = reader.byte(), present < 8 else { return nil }
            var marks = [Visits.Run.Mark?]()
            for bit in 0..<3 {
                guard present & (1 << bit) != 0 else {
                    marks.append(nil)
                    continue
                }
                guard let mark = reader.mark(), (firstMs...lastMs).contains(mark.timestampMs) else { return nil }
                marks.append(mark)
            }
            let run = Visits.Run(firstMs: firstMs, lastMs: lastMs, start: marks[0], firstPageview: marks[1], lastPageview: marks[2],
                                 pageviews: Int(pageviews), interactions: Int(interactions))
            // The runs hold no more pageviews and interactions than the day's hits, and each run's
            // marks agree with its counts.
            counted += run.pageviews + run.interactions
            guard counted <= self.hits, (run.pageviews > 0) == (run.firstPageview != nil),
                  (run.firstPageview == nil) == (run.lastPageview == nil), run.start != nil || run.pageviews + run.interactions == 0,
                  runs.last.map({ run.firstMs - $0.lastMs >= Visits.gapMs }) ?? true else { return nil }
            runs.append(run)
        }
        guard reader.isAtEnd else { return nil }
    }

    private struct Reader {
        let bytes: [UInt8]
        var offset = 0

        var isAtEnd: Bool { offset == bytes.count }

        mutating func take(_ count: Int) -> ArraySlice<UInt8>? {
            guard count <= bytes.count - offset else { return nil }
            defer { offset += count }
            return bytes[offset..<offset + count]
        }

        mutating func byte() -> UInt8? { take(1)?.first }

        mutating func integer<T: FixedWidthInteger>(_: T.Type) -> T? {
            take(MemoryLayout<T>.size).map { T(bigEndianBytes: $0) }
        }

        mutating func mark() -> Visits.Run.Mark? {
            guard let timestampMs = integer(Int64.self), let id = take(16).flatMap({ EventID(bytes: Array($0)) }),
                  let pathCount = integer(UInt16.self), let path = take(Int(pathCount)) else { return nil }
            return Visits.Run.Mark(timestampMs: timestampMs, id: id, path: String(decoding: path, as: UTF8.self))
        }
    }
}
