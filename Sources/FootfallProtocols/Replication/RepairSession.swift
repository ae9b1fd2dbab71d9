import FootfallModel

extension Replication.AntiEntropy {
    /// Which of a session's two replicas a step goes to.
    public enum Side: Hashable, Sendable {
        /// The replica on the node that runs the session.
        case local
        case remote

        public var other: Side { self == .local ? .remote : .local }
    }

    /// What a session asks a replica. Each carries all the replica needs to answer it alone, so a
    /// peer (or a simulated one) answers it from the message.
    public enum Query: Hashable, Sendable {
        /// The site's erasure orders.
        case erasures(SiteID)
        /// Per-day slice digests of the ids in the window (`EventStore.digests`).
        case digests(Window)
        /// A page of the ids of `slices` of one day in the window, in id order: at most `limit`
        /// of those after `after` (nil: from the first), and whether more follow.
        case eventIDs(Window, day: Day, slices: [Int], after: EventID?, limit: Int)
        /// The events of these ids the replica holds.
        case events(SiteID, ids: [EventID])
        /// A page of the digests of the visitors whose CRM record holds owner edits or given
        /// personal data (`VisitorEdit.digest` of the edits that rebuild it), in visitor order: at
        /// most `limit` after `after` (nil: from the first), and whether more follow.
        case visitorEditDigests(SiteID, after: VisitorID?, limit: Int)
        /// The edits that rebuild these visitors' CRM records.
        case rebuildingEdits(SiteID, visitors: [VisitorID])
    }

    /// A replica's answer to a `Query`, of the same case.
    public enum Answer: Hashable, Sendable {
        case erasures([Replication.ErasureOrder])
        case digests([Day: [EventSetDigest]])
        case eventIDs(Page<EventID>)
        case events([Event])
        case visitorEditDigests(Page<VisitorEditDigest>)
        case rebuildingEdits([VisitorEdit])
    }

    /// What a session wants done next. One at a time: the shell (or the simulation) carries it
    /// out and reports back with `onAnswer` or `onApplied`; a step that failed ends the session
    /// (nothing it applied needs undoing: every apply is idempotent and goes through the
    /// replica's own rules).
    public enum Step: Hashable, Sendable {
        case ask(Side, Query)
        case apply(Side, Replication.Payload)
        case finished(Outcome)
    }

    /// An answer that is not to the question the session asked (a shell's bug, a late reply the
    /// simulation failed to drop, or a peer sending what was not asked for: another site's
    /// erasures, events or edits, or events of ids not asked for). Nothing of it is applied.
    public struct UnexpectedAnswer: Error, CustomStringConvertible {
        public var description: String { "a repair session got an answer to a question it had not asked" }
    }

    /// A replica's digest tree whose day does not hold one digest per slice: comparing it slice by
    /// slice would read past its end.
    public struct MalformedTree: Error, CustomStringConvertible {
        public let replica: String
        public var description: String { "\(replica) sent a digest tree with a day of the wrong slice count" }
    }

    /// Anti-entropy for one site between two replicas, as a state machine: it decides every
    /// question and every apply, and does no I/O, so a node's shell drives it over gRPC
    /// (`repair(site:…)`) and the simulation drives it through its faulty network, interleaved
    /// with writes, erasures and crashes, and stopped part way.
    ///
    /// The order: erasure records first, both ways, so a fence is in place before any event
    /// streams; then the digest trees, and for each day that differs its differing slices' ids,
    /// listed a page at a time from each side and compared as far as both have listed, the
    /// events each side lacks streamed in batches; then the CRM records, whose digests are
    /// listed the same way and whose differing records each side rebuilds from the other's
    /// edits (they merge in any order, so both end alike). CRM records go last: a failure there
    /// (a reply too large, say) leaves the events repaired.
    public struct Session: Sendable {
        public let window: Window
        /// Entries a listing asks a replica for at once.
        let pageLimit: Int
        private let names: (local: String, remote: String)
        /// What has been moved so far.
        public private(set) var outcome = Outcome()
        private var stage = Stage.erasures
        /// Steps decided and not yet handed out, the next one last.
        private var plan: [Step] = []
        /// The step handed out and not yet reported on.
        private var outstanding: Step?
        private var heldErasures: [Side: [Replication.ErasureOrder]] = [:]
        private var trees: [Side: [Day: [EventSetDigest]]] = [:]
        /// Days whose trees differ and are not walked yet, the next one last, with their
        /// differing slices.
        private var days: [(day: Day, slices: [Int])] = []

        private enum Stage: Sendable {
            case erasures
            case trees
            case day(Day, slices: [Int], ListingPair<EventID>)
            case visitorRecords(ListingPair<VisitorEditDigest>)
            case finished
        }

        public init(window: Window, local: String, remote: String, pageLimit: Int = pageMax) {
            precondition(pageLimit > 0, "a listing asks for at least one entry a page")
            self.window = window
            self.pageLimit = pageLimit
            names = (local, remote)
        }

        /// The first step.
        public mutating func start() -> Step {
            precondition(outstanding == nil && plan.isEmpty, "a session starts once")
            plan = [.ask(.remote, .erasures(window.site)), .ask(.local, .erasures(window.site))]
            return next()
        }

        /// `answer` came back for the outstanding `.ask`.
        public mutating func onAnswer(_ answer: Answer) throws -> Step {
            guard case .ask(let side, let query) = outstanding else { throw UnexpectedAnswer() }
            outstanding = nil
            switch (query, answer) {
            case (.erasures(let site), .erasures(let orders)):
                guard orders.allSatisfy({ $0.site == site }) else { throw UnexpectedAnswer() }
                heldErasures[side] = orders
                if let mine = heldErasures[.local], let theirs = heldErasures[.remote] {
                    let pulls = Replication.AntiEntropy.erasuresToApply(have: mine, other: theirs).map { Step.apply(.local, .erasure($0)) }
                    let pushes = Replication.AntiEntropy.erasuresToApply(have: theirs, other: mine).map { Step.apply(.remote, .erasure($0)) }
                    schedule(pulls + pushes)
                }
            case (.digests, .digests(let tree)):
                guard tree.values.allSatisfy({ $0.count == EventSetDigest.slicesPerDay }) else {
                    throw MalformedTree(replica: side == .local ? names.local : names.remote)
                }
                trees[side] = tree
                if let mine = trees[.local], let theirs = trees[.remote] { days = Session.differingDays(mine, theirs).reversed() }
            case (.eventIDs, .eventIDs(let page)):
                guard case .day(let day, let slices, var listings) = stage else { throw UnexpectedAnswer() }
                try listings.receive(page, from: side)
                stage = .day(day, slices: slices, listings)
            case (.events(let site, let ids), .events(let events)):
                let asked = Set(ids)
                guard events.allSatisfy({ $0.site == site && asked.contains($0.id) }) else { throw UnexpectedAnswer() }
                if !events.isEmpty { schedule([.apply(side.other, .events(events))]) }
            case (.visitorEditDigests, .visitorEditDigests(let page)):
                guard case .visitorRecords(var listings) = stage else { throw UnexpectedAnswer() }
                try listings.receive(page, from: side)
                stage = .visitorRecords(listings)
            case (.rebuildingEdits(let site, let visitors), .rebuildingEdits(let edits)):
                let asked = Set(visitors)
                guard edits.allSatisfy({ $0.site == site && asked.contains($0.visitor) }) else { throw UnexpectedAnswer() }
                schedule(edits.map { .apply(side.other, .visitorEdit($0)) })
            default:
                throw UnexpectedAnswer()
            }
            return next()
        }

        /// The outstanding `.apply` was carried out.
        public mutating func onApplied() throws -> Step {
            guard case .apply(let side, let payload) = outstanding else { throw UnexpectedAnswer() }
            outstanding = nil
            switch payload {
            case .erasure:
                if side == .local { outcome.erasuresPulled += 1 } else { outcome.erasuresPushed += 1 }
            case .events(let events):
                if side == .local { outcome.eventsPulled += events.count } else { outcome.eventsPushed += events.count }
            case .visitorEdit:
                break
            }
            return next()
        }

        /// What is inconsistent in this session, or nil: each step it plans or waits on is for its
        /// own site (and its listings for the day being walked), a finished session waits on
        /// nothing, the days left to walk are in order and each has differing slices within the
        /// day, and it never counts more slices differing than compared. The replication simulation
        /// asks after every step.
        public var invariantViolation: String? {
            let waiting = plan + (outstanding.map { [$0] } ?? [])
            if case .finished = stage, !waiting.isEmpty { return "finished with \(waiting.count) steps still planned or outstanding" }
            if let stray = waiting.first(where: { !isForThisSession($0) }) { return "a step for another site or day: \(stray)" }
            if zip(days, days.dropFirst()).contains(where: { $0.day <= $1.day }) { return "days to walk out of order" }
            if let day = days.first(where: { $0.slices.isEmpty || !$0.slices.allSatisfy((0..<EventSetDigest.slicesPerDay).contains) }) {
                return "day \(day.day) to walk with slices \(day.slices)"
            }
            return outcome.slicesDiffering > outcome.slicesCompared ? "\(outcome.slicesDiffering) slices differing of \(outcome.slicesCompared) compared" : nil
        }

        private func isForThisSession(_ step: Step) -> Bool {
            switch step {
            case .ask(_, .erasures(let site)), .ask(_, .events(let site, _)), .ask(_, .visitorEditDigests(let site, _, _)),
                 .ask(_, .rebuildingEdits(let site, _)):
                return site == window.site
            case .ask(_, .digests(let window)):
                return window == self.window
            case .ask(_, .eventIDs(let window, let day, let slices, _, _)):
                guard case .day(let walked, let walkedSlices, _) = stage else { return false }
                return window == self.window && day == walked && slices == walkedSlices
            case .apply(_, .erasure(let order)):
                return order.site == window.site
            case .apply(_, .events(let events)):
                return events.allSatisfy { $0.site == window.site }
            case .apply(_, .visitorEdit(let edit)):
                return edit.site == window.site
            case .finished:
                return false
            }
        }

        /// Steps to hand out before anything decided earlier.
        private mutating func schedule(_ steps: [Step]) { plan.append(contentsOf: steps.reversed()) }

        /// Hands out the next planned step, or moves the session on when none is left.
        private mutating func next() -> Step {
            if let step = plan.popLast() {
                outstanding = step
                return step
            }
            switch stage {
            case .erasures:
                guard window.fromMs < window.untilMs else { return startVisitorRecords() }
                stage = .trees
                schedule([.ask(.local, .digests(window)), .ask(.remote, .digests(window))])
                return next()
            case .trees:
                return nextDay()
            case .day(let day, let slices, var listings):
                let step = listings.next()
                stage = .day(day, slices: slices, listings)
                switch step {
                case .page(let side, let after):
                    schedule([.ask(side, .eventIDs(window, day: day, slices: slices, after: after, limit: pageLimit))])
                case .stretch(let mine, let theirs):
                    let (localLacks, remoteLacks) = Replication.AntiEntropy.missing(have: mine, other: theirs)
                    schedule(batches(of: localLacks, streamBatch).map { .ask(.remote, .events(window.site, ids: $0)) }
                        + batches(of: remoteLacks, streamBatch).map { .ask(.local, .events(window.site, ids: $0)) })
                case .finished:
                    return nextDay()
                }
                return next()
            case .visitorRecords(var listings):
                let step = listings.next()
                stage = .visitorRecords(listings)
                switch step {
                case .page(let side, let after):
                    schedule([.ask(side, .visitorEditDigests(window.site, after: after, limit: pageLimit))])
                case .stretch(let mine, let theirs):
                    let visitors = Set(Set(mine).symmetricDifference(theirs).map(\.visitor)).sorted()
                    outcome.visitorRecordsRepaired += visitors.count
                    // Each side's edits rebuild the other's records: the remote's first, as the
                    // events' pulls go first.
                    let asks = [Side.remote, .local].flatMap { source in
                        batches(of: visitors, visitorBatch).map { Step.ask(source, .rebuildingEdits(window.site, visitors: $0)) }
                    }
                    schedule(asks)
                case .finished:
                    stage = .finished
                    return .finished(outcome)
                }
                return next()
            case .finished:
                return .finished(outcome)
            }
        }

        private mutating func nextDay() -> Step {
            guard let (day, slices) = days.popLast() else { return startVisitorRecords() }
            outcome.slicesCompared += EventSetDigest.slicesPerDay
            outcome.slicesDiffering += slices.count
            stage = .day(day, slices: slices, ListingPair(local: names.local, remote: names.remote))
            return next()
        }

        private mutating func startVisitorRecords() -> Step {
            stage = .visitorRecords(ListingPair(local: names.local, remote: names.remote))
            return next()
        }

        /// The days whose trees differ, in order, each with the slices that differ (a day one side
        /// lacks differs wherever the other holds events).
        static func differingDays(_ mine: [Day: [EventSetDigest]], _ theirs: [Day: [EventSetDigest]]) -> [(day: Day, slices: [Int])] {
            guard root(mine) != root(theirs) else { return [] }
            let empty = Array(repeating: EventSetDigest(), count: EventSetDigest.slicesPerDay)
            return differing(dayRoots(mine), dayRoots(theirs)).map { day in
                let a = mine[day] ?? empty, b = theirs[day] ?? empty
                return (day, (0..<EventSetDigest.slicesPerDay).filter { a[$0] != b[$0] })
            }
        }
    }

    static func batches<Element>(of elements: [Element], _ size: Int) -> [[Element]] {
        stride(from: 0, to: elements.count, by: size).map { Array(elements[$0..<min(elements.count, $0 + size)]) }
    }
}
