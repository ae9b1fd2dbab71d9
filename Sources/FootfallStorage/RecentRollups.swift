import Dispatch
import Foundation
import FootfallModel
import Synchronization

/// The rollup packs of local dates not built yet (see `EventStore+Rollups.swift`), built from
/// their events when a report asks and kept while nothing they were built from changed.
///
/// What a date was built from is named by its *inputs*: a count of writes per UTC day it reads
/// (`EventStore.apply` notes the days of what it stores, an erasure the days it erased from), a
/// count of changes per site (retention, a deletion) and a count of wipes of everything. A date is served from memory while
/// all of them are what they were when it was built, so a report never answers from before a
/// write it could see; with one exception, for dates that are costly to build.
///
/// A date whose last build read `lateFromEvents` events or more (today's, on a busy site: a build
/// of tens to hundreds of milliseconds) is answered from that build when only writes changed since, while
/// a newer build is made in the background. A report of recent days then waits for no build, and
/// its counts trail the site's writes by about one build. An erasure counts as a write: rollups
/// hold no personal data and built dates keep an erased visitor's hits for good (DESIGN.md), and
/// building a busy site's recent dates again before the next answer, after every erasure, kept
/// its dashboard waiting for seconds. Retention, a deletion or a wipe is never answered late: the
/// date is built again before the answer. Counted in events, not timed,
/// so whether a site is answered late does not depend on how busy the machine is.
///
/// Background builds take at most a share of one core (`restAfterBuild`): each reads the whole
/// date again, so under a steady stream of reports of busy todays their cost grew with the day
/// (12 % of a node's CPU in the second half of session 26's soak, and growing), and ingest fell
/// with it. The answers then trail the writes by a few builds instead of one.
final class RecentRollups: Sendable {
    typealias Packs = [RollupBuild.PackID: [String: RollupCell]]

    struct Inputs: Equatable, Sendable {
        let wipes: UInt64
        let siteChanges: UInt64
        /// Per UTC day read, in day order.
        let writes: [UInt64]

        /// Whether only writes tell the two apart.
        func differsOnlyInWrites(from other: Inputs) -> Bool { wipes == other.wipes && siteChanges == other.siteChanges }
    }

    /// What a report finds of a date.
    enum Lookup {
        /// Built from the inputs asked about.
        case current(Packs)
        /// Built before some writes, from `lateFromEvents` or more: answer with it, and build it
        /// again off the report's thread.
        case late(Packs)
        /// Nothing to answer with: build it.
        case missing
    }

    /// Dates kept at most (a few per site that writes); past it all are dropped and built again
    /// when asked.
    static let datesMax = 20_000
    /// UTC days whose writes are counted at most; past it the counts start over, with the wipe
    /// count raised so no date built before is taken as current.
    static let daysMax = 200_000

    let lateFromEvents: Int

    private struct Entry {
        let inputs: Inputs
        let packs: Packs
        /// The events its build read.
        let events: Int
    }

    private struct State {
        var writes = [SealedDay: UInt64]()
        var siteChanges = [SiteID: UInt64]()
        var wipes: UInt64 = 0
        var dates = [SealedDay: Entry]()
        /// Dates being built in the background.
        var building = Set<SealedDay>()
    }

    private let state = Mutex(State())
    /// Background builds, one at a time, below the work reports and writes do.
    private let builder = DispatchQueue(label: "footfall.recent-rollups", qos: .utility)
    /// How long the builder rests after a build, as a multiple of the build's time: 4 keeps
    /// background builds to a fifth of a core at most, whatever the days' sizes.
    static let restAfterBuild = 4

    /// Waits out the builder's rest (a sleep; a test records it).
    private let rest: @Sendable (Duration) -> Void

    init(lateFromEvents: Int, rest: @escaping @Sendable (Duration) -> Void = RecentRollups.sleep) {
        self.lateFromEvents = lateFromEvents
        self.rest = rest
    }

    @Sendable static func sleep(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        Thread.sleep(forTimeInterval: Double(seconds) + Double(attoseconds) / 1e18)
    }

    /// The inputs of a build that reads the site's UTC `days` (`EventStore.daysRead`).
    func inputs(of site: SiteID, days: ClosedRange<Day>) -> Inputs {
        state.withLock { state in
            Inputs(wipes: state.wipes, siteChanges: state.siteChanges[site, default: 0],
                   writes: days.map { state.writes[SealedDay(site: site, day: $0), default: 0] })
        }
    }

    func lookup(_ date: SealedDay, inputs: Inputs) -> Lookup {
        state.withLock { state in
            guard let entry = state.dates[date] else { return .missing }
            if entry.inputs == inputs { return .current(entry.packs) }
            if entry.inputs.differsOnlyInWrites(from: inputs), entry.events >= lateFromEvents { return .late(entry.packs) }
            return .missing
        }
    }

    func keep(_ packs: Packs, of date: SealedDay, inputs: Inputs, events: Int) {
        state.withLock { state in
            if state.dates.count >= RecentRollups.datesMax { state.dates.removeAll() }
            state.dates[date] = Entry(inputs: inputs, packs: packs, events: events)
        }
    }

    /// Runs `build` (which keeps what it builds) in the background, unless the date is being
    /// built there already. A build that fails drops the date, so the next report builds it and
    /// meets the error itself.
    func buildInBackground(_ date: SealedDay, _ build: @escaping @Sendable () throws -> Void) {
        guard state.withLock({ $0.building.insert(date).inserted }) else { return }
        builder.async { [self] in
            let clock = ContinuousClock()
            let started = clock.now
            let built: Void? = try? build()
            state.withLock { state in
                if built == nil { state.dates[date] = nil }
                state.building.remove(date)
            }
            // Reports asking meanwhile are answered from this build; what they ask for is built
            // after the rest.
            rest((clock.now - started) * RecentRollups.restAfterBuild)
        }
    }

    /// Waits for the background builds asked for so far.
    func waitForBackgroundBuilds() {
        builder.sync {}
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
