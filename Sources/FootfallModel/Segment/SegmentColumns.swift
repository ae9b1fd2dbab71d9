/// A column of unsigned integers kept as narrow as its values allow: no bytes a row when every row
/// holds the same value, one byte below 256, two below 65,536, else four. A segment held in memory
/// (the hot tier, the segment cache) spent most of its bytes on columns of few values — a site's
/// countries and browsers, an empty UTM tag or title on every row, engagement on none — at two or
/// four bytes a row each; narrowed, the soak's busy days take under half the memory.
///
/// Reading a row switches on the width: the same branch for every row of a loop, which the
/// processor predicts. The widths are plain stored arrays, one of them filled (empty arrays share
/// one empty buffer): a read of an enum's payload array retained and released it, twice per
/// visitor run in a filtered report's loops (`RunLengths`), and that was two thirds of a
/// summary's samples.
public struct NarrowColumn<Element: FixedWidthInteger & UnsignedInteger & Sendable>: RandomAccessCollection, Hashable, Sendable {
    /// Bytes a row: 0 (every row holds `same`), 1, 2 or 4.
    private let width: Int
    private let same: Element
    private let rowCount: Int
    private let ones: [UInt8]
    private let twos: [UInt16]
    private let fours: [UInt32]

    /// `values`, each at most `UInt32.max` (an `Element` of more than four bytes is refused).
    public init(_ values: some Collection<Element>) {
        precondition(Element.bitWidth <= 32, "a narrow column holds at most four bytes a row")
        var largest: Element = 0, allSame = true
        let first = values.first ?? 0
        for value in values {
            largest = Swift.max(largest, value)
            allSame = allSame && value == first
        }
        rowCount = values.count
        same = first
        width = allSame ? 0 : largest <= UInt8.max ? 1 : largest <= UInt16.max ? 2 : 4
        ones = width == 1 ? values.map { UInt8(truncatingIfNeeded: $0) } : []
        twos = width == 2 ? values.map { UInt16(truncatingIfNeeded: $0) } : []
        fours = width == 4 ? values.map { UInt32(truncatingIfNeeded: $0) } : []
    }

    public var startIndex: Int { 0 }
    public var endIndex: Int { rowCount }

    @inline(__always)
    public subscript(row: Int) -> Element {
        switch width {
        case 0:
            precondition(row >= 0 && row < rowCount, "row \(row) of a column of \(rowCount)")
            return same
        case 1: return Element(truncatingIfNeeded: ones[row])
        case 2: return Element(truncatingIfNeeded: twos[row])
        default: return Element(truncatingIfNeeded: fours[row])
        }
    }

    /// Bytes the rows take (a column of one value takes none).
    public var bytes: Int { width * rowCount }
}

/// A segment's times: every row's falls on the segment's day, so each is kept as its distance from
/// the earliest (a `NarrowColumn`: two bytes a row for a fold of a few seconds' hits, four for a
/// whole day), not as eight bytes of epoch milliseconds.
public struct DayTimes: RandomAccessCollection, Hashable, Sendable {
    let earliestMs: Int64
    /// The latest time (the earliest when there is none): a reader of the times after some
    /// moment skips a segment that ends before it.
    public let latestMs: Int64
    let offsets: NarrowColumn<UInt32>

    /// `timestamps`, each within one day of the earliest.
    public init(_ timestamps: some Collection<Int64>) {
        let earliest = timestamps.min() ?? 0
        precondition(timestamps.allSatisfy { $0 - earliest < TimeUnits.dayMs }, "times of one segment span more than a day")
        earliestMs = earliest
        latestMs = timestamps.max() ?? earliest
        offsets = NarrowColumn(timestamps.map { UInt32(truncatingIfNeeded: $0 - earliest) })
    }

    public var startIndex: Int { 0 }
    public var endIndex: Int { offsets.endIndex }

    public subscript(row: Int) -> Int64 { earliestMs + Int64(offsets[row]) }

    public var bytes: Int { offsets.bytes }
}

/// Each row's properties as (key, value) codes: the rows' pairs one after another, and where each
/// row's pairs end. Most rows have none, and an empty array a row still took eight bytes.
public struct RowProperties: RandomAccessCollection, Sendable {
    public typealias Pair = (key: UInt32, value: UInt32)

    private let pairs: [Pair]
    /// Per row, the end of its pairs in `pairs` (all zero, so no bytes, when no row has any).
    private let ends: NarrowColumn<UInt32>

    public init(_ rows: some Collection<some Collection<Pair>>) {
        pairs = rows.flatMap { $0 }
        var end: UInt32 = 0
        ends = NarrowColumn(rows.map { row in
            end += UInt32(row.count)
            return end
        })
    }

    public var startIndex: Int { 0 }
    public var endIndex: Int { ends.endIndex }

    public subscript(row: Int) -> ArraySlice<Pair> {
        pairs[Int(row == 0 ? 0 : ends[row - 1])..<Int(ends[row])]
    }

    public var bytes: Int { ends.bytes + pairs.count * MemoryLayout<Pair>.stride }
}

/// A segment's event ids. An id leads with its event's time, which the time column holds already:
/// a row keeps the id's last ten bytes (sixteen a row were a sixth of a held day's memory), and an
/// id stamped with another time than its row's is kept whole, by row.
public struct SegmentIDs: RandomAccessCollection, Hashable, Sendable {
    let times: DayTimes
    let firsts: [UInt16]
    let lasts: [UInt64]
    let otherwise: [Int: EventID]

    /// `ids`, one for each of `times`.
    init(_ ids: some Collection<EventID>, times: DayTimes) {
        precondition(ids.count == times.count, "\(ids.count) ids for \(times.count) rows")
        self.times = times
        var firsts = [UInt16](), lasts = [UInt64](), otherwise = [Int: EventID]()
        firsts.reserveCapacity(ids.count)
        lasts.reserveCapacity(ids.count)
        for (row, id) in ids.enumerated() {
            let tail = id.tail
            firsts.append(tail.first)
            lasts.append(tail.last)
            if EventID(timestampMs: times[row], tail: tail) != id { otherwise[row] = id }
        }
        (self.firsts, self.lasts, self.otherwise) = (firsts, lasts, otherwise)
    }

    public var startIndex: Int { 0 }
    public var endIndex: Int { lasts.count }

    public subscript(row: Int) -> EventID {
        otherwise.isEmpty ? EventID(timestampMs: times[row], tail: (firsts[row], lasts[row]))
            : otherwise[row] ?? EventID(timestampMs: times[row], tail: (firsts[row], lasts[row]))
    }

    /// Bytes the ids take beyond the time column.
    public var bytes: Int { lasts.count * 10 + otherwise.count * 48 }
}

/// The length of each visitor's run of rows, read from where the runs start (kept once: the
/// lengths beside the starts were eight more bytes a visitor).
public struct RunLengths: RandomAccessCollection, Equatable, Sendable {
    let starts: NarrowColumn<UInt32>

    public var startIndex: Int { 0 }
    public var endIndex: Int { starts.count - 1 }

    public subscript(run: Int) -> Int { Int(starts[run + 1]) - Int(starts[run]) }
}
