import FootfallModel
import Synchronization

/// The rollup packs of local dates not built yet (see `EventStore+Rollups.swift`), built from
/// their events when a report asks and kept while nothing they were built from changed.
///
/// What a date was built from is named by its *inputs*: a count of writes per UTC day it reads
/// (`EventStore.apply` notes the days of what it stores), a count of changes per site (an erasure,
/// retention, a deletion) and a count of wipes of everything. A date is served from memory only
/// while all of them are what they were when it was built, so a report never answers from before
/// a write it could see.
final class RecentRollups: Sendable {
    typealias Packs = [RollupBuild.PackID: [String: RollupCell]]

    /// Dates kept at most (a few per site that writes); past it all are dropped and built again
    /// when asked.
    static let datesMax = 20_000
    /// UTC days whose writes are counted at most; past it the counts start over, with the wipe
    /// count raised so no date built before is taken as current.
    static let daysMax = 200_000

    private struct Entry {
        let inputs: [UInt64]
        let packs: Packs
    }

    private struct State {
        var writes = [SealedDay: UInt64]()
        var siteChanges = [SiteID: UInt64]()
        var wipes: UInt64 = 0
        var dates = [SealedDay: Entry]()
    }

    private let state = Mutex(State())

    /// The inputs of a build that reads the site's UTC `days` (`EventStore.daysRead`).
    func inputs(of site: SiteID, days: ClosedRange<Day>) -> [UInt64] {
        state.withLock { state in
            [state.wipes, state.siteChanges[site, default: 0]] + days.map { state.writes[SealedDay(site: site, day: $0), default: 0] }
        }
    }

    /// The date's packs if they were built from `inputs`.
    func packs(of date: SealedDay, inputs: [UInt64]) -> Packs? {
        state.withLock { state in state.dates[date].flatMap { $0.inputs == inputs ? $0.packs : nil } }
    }

    func keep(_ packs: Packs, of date: SealedDay, inputs: [UInt64]) {
        state.withLock { state in
            if state.dates.count >= RecentRollups.datesMax { state.dates.removeAll() }
            state.dates[date] = Entry(inputs: inputs, packs: packs)
        }
    }

    /// Events were stored on these UTC days. Under the store's write lock, after the write.
    func noteWritten(_ days: some Sequence<SealedDay>) {
        state.withLock { state in
            if state.writes.count >= RecentRollups.daysMax {
                state.writes.removeAll()
                state.wipes &+= 1
            }
            for day in days { state.writes[day, default: 0] &+= 1 }
        }
    }

    /// Something of the site's events changed other than by a write (an erasure, retention, a
    /// deletion).
    func noteChanged(site: SiteID) {
        state.withLock { $0.siteChanges[site, default: 0] &+= 1 }
    }

    /// Every site's events changed (a wipe).
    func noteWiped() {
        state.withLock { state in
            state.wipes &+= 1
            state.dates.removeAll()
        }
    }
}
