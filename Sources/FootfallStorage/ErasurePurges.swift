import FootfallModel

/// When each site's erased data is compacted out of the files. An erasure deletes a visitor's
/// keys at once, but their bytes stay in RocksDB's files until those are rewritten, and
/// compacting a site's erased days rewrites every file that holds them: ten thousand erasure
/// calls must not mean ten thousand compactions of a site whose nodes other tenants share. So a
/// site is purged at most once per `intervalMs`: the first erasure in a while purges at once (in
/// the background, so the erasure's answer does not wait for the compaction), the
/// ones after it within the interval together when it ends.
///
/// A purge's cost grows with the day, not with the erasure: the unsealed day's rows of every site
/// share the files a flush writes, so compacting one site's erased days rewrites most of them (in
/// a ten-minute soak, 17 purges rewrote 1.4 GB of the events family and 1.0 GB of the visitor
/// index, a sixth of each node's CPU, growing as the day did). So after a purge that took `d`, no
/// other starts for `busyShare` × `d` (at most `quietMaxMs`): purging takes at most a tenth of
/// the time however busy the day, and erased rows leave the files within `intervalMs` on a quiet
/// node, within ten times a purge's length on a busy one.
///
/// Which sites wait for a purge, with the span of days to compact, is stored beside the erasure
/// records (`key(site)`, written in the erasure's own batch), so a restart finishes what a crash
/// left. When each site was last purged is kept in memory only, for the sites purged within one
/// interval.
struct ErasurePurges {
    /// Erasure records are keyed by a site prefix, which starts with its non-zero length byte.
    static let keyPrefix: [UInt8] = [0]

    let intervalMs: Int64
    private var lastStartedMs = [SiteID: Int64]()
    /// Whether a purge is compacting: an erasure meanwhile does not queue another behind it.
    private var running = false
    /// When the last purge started and until when none starts.
    private var quiet: (sinceMs: Int64, untilMs: Int64)?
    static let busyShare: Int64 = 9
    static let quietMaxMs: Int64 = 30 * 60_000

    init(intervalMs: Int64) {
        precondition(intervalMs >= 0, "purge interval \(intervalMs) ms")
        self.intervalMs = intervalMs
    }

    func mayPurge(_ site: SiteID, nowMs: Int64) -> Bool {
        // All are this node's clock readings; one that stepped back does not hold a purge up.
        if running { return false }
        if let quiet, nowMs >= quiet.sinceMs, nowMs < quiet.untilMs { return false }
        guard let last = lastStartedMs[site] else { return true }
        return nowMs < last || nowMs - last >= intervalMs
    }

    /// A purge started at `startedMs` (wall clock) finished after `tookMs` of compaction. The
    /// quiet counts from its start, so an erasure stamped while it ran waits too.
    mutating func finished(tookMs: Int64, startedMs: Int64) {
        running = false
        let took = max(0, tookMs)
        let (wait, overflow) = took.multipliedReportingOverflow(by: ErasurePurges.busyShare)
        let (end, endOverflow) = startedMs.addingReportingOverflow(took)
        let until = end.addingReportingOverflow(overflow ? ErasurePurges.quietMaxMs : min(wait, ErasurePurges.quietMaxMs))
        quiet = endOverflow || until.overflow ? nil : (startedMs, until.partialValue)
    }

    /// A purge of `site` is about to compact; `finished` must follow.
    mutating func started(_ site: SiteID, nowMs: Int64) {
        running = true
        lastStartedMs = lastStartedMs.filter { nowMs >= $0.value && nowMs - $0.value < intervalMs }
        lastStartedMs[site] = nowMs
    }

    static func key(_ site: SiteID) -> [UInt8] { keyPrefix + StorageKeys.sitePrefix(site) }

    static func site(fromKey key: [UInt8]) -> SiteID? {
        guard key.count > 2, key[0] == keyPrefix[0], key.count == 2 + Int(key[1]) else { return nil }
        return SiteID(String(decoding: key[2...], as: UTF8.self))
    }

    /// A site's pending purge: the days to compact, and a number that changes with every erasure
    /// that marks it, so a purge clears the mark only if no erasure came during its compaction.
    struct Pending: Equatable {
        var days: ClosedRange<Day>
        var revision: UInt64

        var encoded: [UInt8] { days.lowerBound.index.bigEndianBytes + days.upperBound.index.bigEndianBytes + revision.bigEndianBytes }

        init(days: ClosedRange<Day>, revision: UInt64) {
            self.days = days
            self.revision = revision
        }

        init?(encoded value: [UInt8]) {
            guard value.count == 16 else { return nil }
            let lower = Day(index: UInt32(bigEndianBytes: value[0..<4])), upper = Day(index: UInt32(bigEndianBytes: value[4..<8]))
            guard lower <= upper else { return nil }
            self.init(days: lower...upper, revision: UInt64(bigEndianBytes: value[8..<16]))
        }
    }

    /// Both spans, and the days between them.
    static func covering(_ a: ClosedRange<Day>, _ b: ClosedRange<Day>) -> ClosedRange<Day> {
        min(a.lowerBound, b.lowerBound)...max(a.upperBound, b.upperBound)
    }
}
