import Dispatch

/// The visitors from `lower` up to `upper` (nil: through the last id). A segment's rows are sorted
/// by visitor, so a range's rows are one stretch of each segment.
public struct VisitorRange: Sendable, Equatable {
    public let lower: VisitorID
    public let upper: VisitorID?

    public static let all = VisitorRange(lower: VisitorID(rawValue: 0), upper: nil)

    /// The runs of `segment` whose visitors are in the range.
    func runs(in segment: EventSegment) -> Range<Int> {
        let first = lower.rawValue == 0 ? 0 : segment.firstRun(from: lower)
        return first..<max(first, upper.map(segment.firstRun(from:)) ?? segment.visitors.count)
    }

    /// At most `count` ranges that split `visitors` (sorted) evenly and together hold every id,
    /// each once.
    static func split(_ count: Int, like visitors: [VisitorID]) -> [VisitorRange] {
        // Each range starts at the visitor a count-th of the way along; equal starts are one range.
        var lowers = [VisitorID(rawValue: 0)]
        for k in 1..<max(1, count) where !visitors.isEmpty {
            let lower = visitors[k * visitors.count / count]
            if lower > lowers[lowers.count - 1] { lowers.append(lower) }
        }
        return lowers.indices.map { VisitorRange(lower: lowers[$0], upper: $0 + 1 < lowers.count ? lowers[$0 + 1] : nil) }
    }
}

/// A filtered report on several cores: the visitors split into ranges, one `SegmentAnalysis` and
/// one tally per range, segments handed to all of them a batch at a time, each scanning only its own
/// stretch of the segment. A visitor's rows, visits and distinct count all fall in one range, so
/// the shards never need each other's rows and their tallies add up (`ReportTally.merge`) to what
/// one analysis of every visitor would count.
///
/// The ranges split the first segment's visitors evenly, and hold for the whole report (a
/// visitor must stay in one range): a site's ids spread alike from day to day, and an uneven
/// split costs time, never a wrong count.
public final class ShardedAnalysis<Tally: ReportTally> {
    /// Each shard's analysis in its own box: threads then write to distinct objects, never to
    /// one shared array.
    private final class Shard {
        var analysis: SegmentAnalysis
        let tally: Tally

        init(_ analysis: SegmentAnalysis, _ tally: Tally) {
            self.analysis = analysis
            self.tally = tally
        }
    }

    private let range: Range<Int64>
    private let filters: [ReportFilter]
    private let shardCount: Int
    /// Segments are handed to the shards' threads together once they hold this many rows: a
    /// hand-off per segment (a thread woken and waited for) was a seventh of a filtered report over
    /// 30 days, and fewer rows than this cost less on the calling thread than on another.
    private let parallelRowsMin: Int
    private let makeTally: () -> Tally
    /// Made when the first segment with rows comes.
    private var shards = [Shard]()
    /// Segments added and not yet handed to the shards, in order, and their rows.
    private var pending = [IndexedSegment]()
    private var pendingRows = 0

    /// - Parameters:
    ///   - shards: how many ranges of visitors, counted at once (the cores to use).
    ///   - parallelRowsMin: the rows of segments handed to the shards' threads at once.
    ///   - tally: a new, empty tally (one is made per shard).
    public init(range: Range<Int64>, filters: [ReportFilter], shards: Int, parallelRowsMin: Int = 32_768, tally: @escaping () -> Tally) {
        self.range = range
        self.filters = filters
        shardCount = shards
        self.parallelRowsMin = parallelRowsMin
        makeTally = tally
    }

    /// Adds the next segment, in the order `SegmentAnalysis.add` needs.
    public func add(_ indexed: IndexedSegment) {
        if shards.isEmpty {
            // A segment without rows adds nothing; the ranges wait for one with visitors.
            guard !indexed.segment.visitors.isEmpty else { return }
            shards = VisitorRange.split(shardCount, like: indexed.segment.visitors).map { visitors in
                let tally = makeTally()
                return Shard(SegmentAnalysis(range: range, filters: filters, tally: tally, visitors: visitors), tally)
            }
        }
        pending.append(indexed)
        pendingRows += indexed.segment.count
        if pendingRows >= parallelRowsMin {
            let segments = takePending()
            inEveryShard(parallel: true) { shard in
                for indexed in segments { shard.analysis.add(indexed) }
            }
        }
    }

    /// The answer, once every segment of the range has been added.
    public func finish() -> Tally.Answer {
        guard let first = shards.first else { return makeTally().answer }
        // The last segments and the runs kept across midnight, in one hand-off to every shard.
        let segments = takePending()
        inEveryShard(parallel: true) { shard in
            for indexed in segments { shard.analysis.add(indexed) }
            shard.analysis.finish()
        }
        for shard in shards.dropFirst() { first.tally.merge(shard.tally) }
        return first.tally.answer
    }

    /// The segments pending, which are then none.
    private func takePending() -> [IndexedSegment] {
        defer {
            pending.removeAll(keepingCapacity: true)
            pendingRows = 0
        }
        return pending
    }

    /// Runs `body` for every shard: on as many threads as shards when `parallel`, each thread
    /// touching only its own shard (a `Shard` and the tally it alone holds).
    private func inEveryShard(parallel: Bool, _ body: (Shard) -> Void) {
        guard parallel, shards.count > 1 else { return shards.forEach(body) }
        let shards = shards
        withoutActuallyEscaping({ (index: Int) in body(shards[index]) }) { run in
            let work = ShardWork(run: run)
            DispatchQueue.concurrentPerform(iterations: shards.count) { work.run($0) }
        }
    }
}

/// What the threads of one `ShardedAnalysis.inEveryShard` share. Unchecked: the thread given an
/// index uses that shard only, whose analysis and tally no other thread touches, and
/// `concurrentPerform` returns only once every thread is done.
private struct ShardWork: @unchecked Sendable {
    let run: (Int) -> Void
}
