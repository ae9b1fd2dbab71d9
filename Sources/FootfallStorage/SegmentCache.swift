import FootfallModel
import Synchronization

/// Sealed days decoded and indexed (`IndexedSegment`), kept in memory up to a byte budget and
/// evicted least recently used first: a dashboard asks many questions of the same days, and
/// decoding a day costs more than answering from it.
///
/// A day's entry holds the seal it was decoded at (`SegmentManifest.seal`), which every sealing
/// draws anew, and answers only a read of that seal, so a day sealed again is never answered from
/// its old entry (and the new one replaces it). Days whose segments are deleted
/// (erasure, retention, a deleted site) are forgotten at once, so erased events do not outlive
/// their rows in memory either; a reader that decoded a day before it was forgotten does not put
/// it back (`generation`).
final class SegmentCache: Sendable {
    struct Key: Hashable {
        let site: SiteID
        let day: Day
        let seal: UInt64
    }

    private struct Entry {
        let seal: UInt64
        let parts: [IndexedSegment]
        let bytes: Int
        var lastUse: UInt64
    }

    /// Changes whenever the site's entries are forgotten: an insert made with an older one is
    /// refused, as the reader may have decoded what was just deleted.
    struct Generation: Equatable {
        fileprivate let all: UInt64
        fileprivate let site: UInt64
    }

    private struct State {
        /// One entry per site-day, under the seal it was decoded at: sealing and erasure forget
        /// days of one site at a time, and of many sites in a pass, each by a lookup.
        var entries = [SealedDay: Entry]()
        var bytes = 0
        var clock: UInt64 = 0
        var forgotten = [SiteID: UInt64]()
        var removals: UInt64 = 0
    }

    let budgetBytes: Int
    private let state = Mutex(State())
    /// Reads answered from memory, and reads that decoded the day.
    let hits = Atomic<Int>(0), misses = Atomic<Int>(0)

    init(budgetBytes: Int) {
        self.budgetBytes = budgetBytes
    }

    /// The parts held under `key`; `counting`: a read that would decode the day on a miss (the
    /// hit and miss figures count only those).
    func parts(_ key: Key, counting: Bool = true) -> [IndexedSegment]? {
        state.withLock { state in
            let day = SealedDay(site: key.site, day: key.day)
            guard state.entries[day]?.seal == key.seal else {
                if counting { misses.add(1, ordering: .relaxed) }
                return nil
            }
            if counting { hits.add(1, ordering: .relaxed) }
            state.clock += 1
            state.entries[day]!.lastUse = state.clock
            return state.entries[day]!.parts
        }
    }

    func generation(of site: SiteID) -> Generation {
        state.withLock { Generation(all: $0.removals, site: $0.forgotten[site, default: 0]) }
    }

    /// Keeps `parts` unless the site was forgotten since `generation` was read.
    func insert(_ parts: [IndexedSegment], for key: Key, readAt generation: Generation) {
        let bytes = parts.reduce(0) { $0 + $1.estimatedBytes }
        guard bytes <= budgetBytes else { return }
        state.withLock { state in
            guard Generation(all: state.removals, site: state.forgotten[key.site, default: 0]) == generation else { return }
            state.clock += 1
            let entry = Entry(seal: key.seal, parts: parts, bytes: bytes, lastUse: state.clock)
            if let old = state.entries.updateValue(entry, forKey: SealedDay(site: key.site, day: key.day)) { state.bytes -= old.bytes }
            state.bytes += bytes
            while state.bytes > budgetBytes, let oldest = state.entries.min(by: { $0.value.lastUse < $1.value.lastUse }) {
                state.entries[oldest.key] = nil
                state.bytes -= oldest.value.bytes
            }
        }
    }

    /// Drops the site's entries: of `days` (each looked up), or all of them when nil.
    func forget(site: SiteID, days: Set<Day>? = nil) {
        state.withLock { state in
            state.forgotten[site, default: 0] &+= 1
            let keys = days.map { $0.map { SealedDay(site: site, day: $0) } } ?? state.entries.keys.filter { $0.site == site }
            for key in keys { state.bytes -= state.entries.removeValue(forKey: key)?.bytes ?? 0 }
        }
    }

    func removeAll() {
        state.withLock { state in
            state.entries = [:]
            state.bytes = 0
            state.removals &+= 1
        }
    }

    var heldBytes: Int { state.withLock { $0.bytes } }

    /// The site's days held, whichever seal.
    func days(of site: SiteID) -> Set<Day> {
        state.withLock { Set($0.entries.keys.filter { $0.site == site }.map(\.day)) }
    }
}
