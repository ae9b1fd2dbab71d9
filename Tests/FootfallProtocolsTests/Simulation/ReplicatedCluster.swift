import FootfallModel
import FootfallProtocols
import FootfallStorage

/// A seeded cluster of replication coordinators, each over a real `EventStore` on an in-memory
/// disk, with a tracker-like client, a checker's log, and a network with loss, delay,
/// duplication, partitions, crashes, restarts and disk loss. Everything random comes from one
/// seed, so a failing run replays exactly from it.
///
/// A node's "disk" (its key-value store, persisted hints and gaps) survives a crash and is lost by
/// `wipe`. Membership is an oracle here — every 500 ms each node learns which nodes it can reach —
/// since `SimulatedCluster` proves membership itself; the ring is fixed.
///
/// Each node runs background repair passes as its `AntiEntropyRunner` does: every site it holds
/// with each other replica in turn, one `AntiEntropy.Session` at a time, whose steps go through
/// the network between writes, erasures, crashes and partitions, and stop part way when a call
/// times out.
struct ReplicatedCluster {
    static let startWallMs: Int64 = 1_781_524_800_000
    /// Every event of a run falls in this span (runs last minutes).
    static let span = TimeRange(startMs: startWallMs - TimeUnits.dayMs, endMs: startWallMs + TimeUnits.dayMs)

    final class Disk: @unchecked Sendable {
        let kv = InMemoryStore()
        var hints: [UInt64: Replication.Hint] = [:]
        var gaps: Set<String> = []
        /// "Repair before serving reads", as the node's shell persists it.
        var repairPending = false
        /// When the node last ran (nil for a disk that never ran one): stamped when it crashes,
        /// where a node stamps it every minute while it runs.
        var lastAliveMs: Int64?
    }

    struct Node {
        var disk = Disk()
        var store: EventStore
        var coordinator: Replication.Coordinator?
        var scheduledTick: MonotonicTime?
        /// Whether its copy may answer reads, driven as the node's shell drives it (nil while down).
        var lifecycle: Replication.DataLifecycle?
        /// When its next repair pass is due (nil while down or while one runs).
        var passDue: MonotonicTime?
        /// The repair pass under way (nil while down or between passes).
        var pass: RepairPass?
        /// When the last pass that compared every site with every other replica began.
        var completePassStartedAt: MonotonicTime?
    }

    /// A node's repair pass: every site it holds with each other replica, in turn.
    struct RepairPass {
        let id: UInt64
        let startedAt: MonotonicTime
        /// What the pass compares, over which windows, and what it covered.
        var plan: Replication.AntiEntropy.Pass
        /// Site and peer pairs not compared yet, the next one last.
        var pairs: [(site: SiteID, peer: String)]
        var peer = ""
        var window: Replication.AntiEntropy.Window?
        /// This node's summary of the window, to set against the peer's.
        var ourSummary: UInt64 = 0
        var session: Replication.AntiEntropy.Session?
        /// The request waiting for its answer, and its number: any other answer is stale.
        var outstanding: RepairRequest?
        var number: UInt64 = 0
    }

    /// What a repair pass asks of a replica: the summary that may settle a pair at once, or a
    /// session's step.
    enum RepairRequest {
        case summary(Replication.AntiEntropy.Window)
        case step(Replication.AntiEntropy.Step)
    }

    enum RepairResponse {
        case summary(UInt64)
        case answer(Replication.AntiEntropy.Answer)
        case applied
    }

    private enum Step {
        case deliver(Replication.Message, from: String, to: String)
        case tick(String)
        case membership(String)
        case clientTimeout(request: UInt64)
        case clientRetry(request: UInt64)
        case erasureTimeout(Int, requestID: String)
        case erasureRetry(Int)
        case repairPass(String)
        /// A pass's request to its own node's store, or a peer's.
        case repairCall(RepairRequest, pass: UInt64, number: UInt64, from: String, to: String)
        case repairReply(RepairResponse, pass: UInt64, number: UInt64, to: String)
        case repairTimeout(String, pass: UInt64, number: UInt64)
    }

    /// A write the client has not yet seen succeed.
    private struct ClientWrite {
        var events: [Event]
        var node: String
        /// When this attempt was sent.
        var sentAt: MonotonicTime
    }

    /// An erasure the client has not yet seen succeed; `node` is empty while it waits to be sent
    /// again (each try is a new order, with its own request id and a later fence).
    private struct ClientErasure {
        var site: SiteID
        var visitor: VisitorID
        var order: Replication.ErasureOrder?
        var node: String
        /// When this try was sent.
        var sentAt = MonotonicTime(nanoseconds: 0)
    }

    struct Statistics: CustomStringConvertible {
        var writes = 0, retries = 0, acknowledgedEvents = 0, erasures = 0, erasureRetries = 0, edits = 0
        var hintsStored = 0, gapsRecorded = 0, lost = 0, duplicated = 0, cut = 0
        var crashes = 0, wipes = 0, partitions = 0, overlaps = 0, diskFailures = 0, persistsRefused = 0
        var repair = Replication.AntiEntropy.Outcome()
        /// Replica pairs of a site that anti-entropy found alike by their summaries alone.
        var summariesAlike = 0
        /// Repair passes finished, those that compared everything, and sessions cut short.
        var passes = 0, completePasses = 0, sessionsCut = 0
        /// Passes of a repairing node that compared everything up to now and still left it
        /// repairing: missed writes were reported while they ran.
        var passesOutrunByGaps = 0
        /// Client reads answered by the node asked, by another replica, or by none.
        var localReads = 0, forwardedReads = 0, unansweredReads = 0

        mutating func add(_ o: Statistics) {
            writes += o.writes; retries += o.retries; acknowledgedEvents += o.acknowledgedEvents; erasures += o.erasures; edits += o.edits
            erasureRetries += o.erasureRetries; overlaps += o.overlaps
            hintsStored += o.hintsStored; gapsRecorded += o.gapsRecorded; lost += o.lost; duplicated += o.duplicated; cut += o.cut
            crashes += o.crashes; wipes += o.wipes; partitions += o.partitions
            diskFailures += o.diskFailures; persistsRefused += o.persistsRefused
            repair.add(o.repair)
            summariesAlike += o.summariesAlike
            passes += o.passes; completePasses += o.completePasses; sessionsCut += o.sessionsCut
            passesOutrunByGaps += o.passesOutrunByGaps
            localReads += o.localReads; forwardedReads += o.forwardedReads; unansweredReads += o.unansweredReads
        }

        var description: String {
            "writes \(writes) (retried \(retries)), acknowledged events \(acknowledgedEvents), erasures \(erasures) "
                + "(retried \(erasureRetries)), CRM edits \(edits), "
                + "hints \(hintsStored), gaps \(gapsRecorded), messages lost \(lost) / duplicated \(duplicated) / cut \(cut), "
                + "crashes \(crashes), disk losses \(wipes), disks refusing writes \(diskFailures) (hint writes refused \(persistsRefused)), partitions \(partitions), two nodes away at once \(overlaps), repaired slices \(repair.slicesDiffering), "
                + "events streamed \(repair.eventsPulled + repair.eventsPushed), erasures streamed \(repair.erasuresPulled + repair.erasuresPushed), "
                + "CRM records repaired \(repair.visitorRecordsRepaired), pairs alike by summary \(summariesAlike), "
                + "repair passes \(passes) (complete \(completePasses), outrun by gaps \(passesOutrunByGaps)), sessions cut short \(sessionsCut), "
                + "reads answered where asked \(localReads) / by another replica \(forwardedReads) / by none \(unansweredReads)"
        }
    }

    let seed: UInt64
    let settings: Replication.Settings
    let ring: Ring
    let sites: [SiteID]
    var network = SimulatedCluster.NetworkConditions(delayMin: .milliseconds(1), delayMax: .milliseconds(20))
    private(set) var now = MonotonicTime(nanoseconds: 0)
    private(set) var statistics = Statistics()
    /// Broken promises found while running (the durability check at acknowledgement time).
    private(set) var violations: [String] = []
    private(set) var nodes: [String: Node] = [:]
    private var random: SplitMix64
    private var queue = EventQueue<Step>()
    /// Nodes cut off from every other node.
    private var isolated: Set<String> = []
    /// Replication messages toward a node lost at this rate besides the background loss (a lossy
    /// link into it, as chaos's one-way-loss); repair calls ride a stream of their own and are not.
    private var lossToward: [String: Double] = [:]
    /// Nodes whose disk refuses writes (full, or failing): hints, gap marks and flags are not
    /// written, and what a replica would store there is refused.
    private var failingDisks: Set<String> = []
    private var pending: [UInt64: ClientWrite] = [:]
    /// When each node last lost its disk.
    private var wipedAt: [String: MonotonicTime] = [:]
    /// Acknowledged events each node is known to lack: those it held when it lost its disk, and
    /// every one acknowledged before it was told it missed writes no hint holds. A read it
    /// answers must hold them (its `DataLifecycle` sends its reads elsewhere until it is repaired).
    private var mustHold: [String: Set<EventID>] = [:]
    private var pendingErasures: [Int: ClientErasure] = [:]
    private var clientErasures = 0
    private var nextRequest: UInt64 = 0
    private var nextHit = 0
    private var trace: [String] = []
    private(set) var traceHash = TraceHash()
    private var passes: UInt64 = 0
    /// When the client last sent anything (a write, an erasure, an edit, or a retry).
    private(set) var lastClientSend = MonotonicTime(nanoseconds: 0)
    /// Whether every node completed a repair pass after healing (set by the run).
    var repairedAtTheEnd = false

    /// The checker's own log: every event the client sent, those acknowledged, and the erasures.
    private(set) var sent: [EventID: Event] = [:]
    private(set) var acknowledged: [EventID: Event] = [:]
    private(set) var erasures: [Replication.ErasureOrder] = []
    private(set) var acknowledgedEdits: [VisitorEdit] = []
    /// CRM edits in flight, by request (not retried: an owner sees the error and edits again).
    private var edits: [UInt64: VisitorEdit] = [:]

    var wallMs: Int64 { ReplicatedCluster.startWallMs + now.nanoseconds / 1_000_000 }
    /// What a coordinator is handed: both clocks in whole milliseconds, as a node's clocks read
    /// (no node's wall clock is stepped here; `CoordinatorTests` step one).
    var instant: Replication.Instant {
        Replication.Instant(wallMs: wallMs, monotonic: MonotonicTime(nanoseconds: now.nanoseconds / 1_000_000 * 1_000_000))
    }
    var names: [String] { nodes.keys.sorted() }
    var runningNames: [String] { names.filter { nodes[$0]?.coordinator != nil } }
    var unfinishedWrites: Int { pending.count }
    var unfinishedErasures: Int { pendingErasures.count }
    /// Whether a disk may be lost without losing what the client was told is stored: no node
    /// still waits for repair from an earlier loss (or a gap), so a quorum's copies are never
    /// down to one disk that then goes too.
    var mayWipe: Bool {
        !nodes.values.contains { $0.lifecycle?.phase == .repairing || $0.disk.repairPending || $0.disk.lastAliveMs == nil && $0.coordinator == nil }
    }

    init(seed: UInt64, nodeCount: Int, siteCount: Int, settings: Replication.Settings) {
        self.seed = seed
        self.settings = settings
        random = SplitMix64(seed: seed)
        let names = (1...nodeCount).map { "node-\($0)" }
        ring = Ring(epoch: 1, members: Set(names), settings: Ring.Settings(virtualNodes: 16))
        sites = (1...siteCount).map { SiteID("site\($0).example")! }
        for name in names {
            let disk = Disk()
            nodes[name] = Node(disk: disk, store: try! EventStore(kv: disk.kv))
            start(name, joinsCluster: false)
        }
    }

    func replicas(of site: SiteID) -> [String] { ring.preferenceList(for: site, replicationFactor: settings.replicationFactor) }

    // MARK: Nodes and faults

    /// Starts a node on its disk; `joinsCluster` false for the nodes that found the cluster.
    mutating func start(_ name: String, joinsCluster: Bool = true) {
        guard var node = nodes[name], node.coordinator == nil else { return }
        node.store = try! EventStore(kv: node.disk.kv)
        let (lifecycle, effects) = Replication.DataLifecycle.onStart(
            repairPending: node.disk.repairPending, lastAliveMs: node.disk.lastAliveMs, joinsCluster: joinsCluster, nowMs: wallMs,
            hintWindowMs: settings.hintWindowMs, horizonMs: Int64(RetentionPlan.daysMax) * TimeUnits.dayMs)
        node.lifecycle = lifecycle
        for effect in effects { ReplicatedCluster.carryOut(effect, on: &node) }
        node.coordinator = Replication.Coordinator(
            myself: name, settings: settings, ring: ring, alive: [name],
            hints: Array(node.disk.hints.values), gaps: node.disk.gaps, idSeed: random.next())
        node.scheduledTick = nil
        nodes[name] = node
        record("start \(name)")
        queue.insert(.membership(name), at: now)
        // A node that must repair starts a pass at once; others at a random point of the interval.
        let repairing = node.lifecycle?.phase == .repairing
        scheduleRepairPass(name, after: repairing ? .zero : .milliseconds(Int64.random(in: 0...5_000, using: &random)))
    }

    mutating func crash(_ name: String) {
        guard nodes[name]?.coordinator != nil else { return }
        nodes[name]?.coordinator = nil
        nodes[name]?.scheduledTick = nil
        nodes[name]?.lifecycle = nil
        nodes[name]?.pass = nil
        nodes[name]?.passDue = nil
        nodes[name]?.disk.lastAliveMs = wallMs
        statistics.crashes += 1
        record("crash \(name)")
    }

    /// Crashes the node and loses its disk: it comes back empty and must repair before reads.
    mutating func wipe(_ name: String) {
        for site in sites where replicas(of: site).contains(name) {
            mustHold[name, default: []].formUnion(try! storedIDs(name, site: site).filter { acknowledged[$0] != nil })
        }
        crash(name)
        let disk = Disk()
        nodes[name]?.disk = disk
        nodes[name]?.store = try! EventStore(kv: disk.kv)
        wipedAt[name] = now
        statistics.wipes += 1
        record("wipe \(name)")
    }

    mutating func isolate(_ name: String) {
        isolated.insert(name)
        statistics.partitions += 1
        record("isolate \(name)")
    }

    /// The node's disk refuses writes until it heals.
    mutating func failDisk(_ name: String) {
        failingDisks.insert(name)
        statistics.diskFailures += 1
        record("disk of \(name) refuses writes")
    }

    /// Replication messages sent to `name` are lost at `rate` until it heals.
    mutating func loseMessages(toward name: String, rate: Double) {
        lossToward[name] = rate
        record("messages to \(name) lost at \(rate)")
    }

    /// Ends every node's isolation, lossy link and disk failure.
    mutating func heal() {
        isolated.removeAll()
        lossToward.removeAll()
        failingDisks.removeAll()
        record("heal")
    }

    /// Ends one node's isolation, lossy link and disk failure; another isolated node stays cut
    /// off (from this one too).
    mutating func heal(_ name: String) {
        isolated.remove(name)
        lossToward[name] = nil
        failingDisks.remove(name)
        record("heal \(name)")
    }

    /// Counts a fault that begins while another node is still away.
    mutating func noteOverlap() { statistics.overlaps += 1 }

    private func isCut(_ from: String, _ to: String) -> Bool {
        from != to && (isolated.contains(from) || isolated.contains(to))
    }

    func canReach(_ from: String, _ to: String) -> Bool {
        from == to || (!isCut(from, to) && nodes[to]?.coordinator != nil)
    }

    // MARK: Client

    /// The client writes `count` pageviews for one site through a random running node.
    mutating func clientWrite(count: Int) {
        let site = sites.randomElement(using: &random)!
        let events = (0..<count).map { _ -> Event in
            nextHit += 1
            let visitor = UInt64.random(in: 1...12, using: &random)
            let id = EventID.forHit(site: site, hitID: "hit-\(nextHit)", timestampMs: wallMs)
            let event = Event(id: id, site: site, visitor: VisitorID(rawValue: visitor), timestampMs: wallMs, kind: .pageview,
                              path: ReplicatedCluster.path(of: VisitorID(rawValue: visitor)))
            sent[id] = event
            return event
        }
        statistics.writes += 1
        send(events)
    }

    /// One path per visitor, so the checker can recount page rollups per visitor.
    static func path(of visitor: VisitorID) -> String { "/visitor/\(visitor.rawValue)" }

    /// An erasure of a random visitor of a random site, through a random running node, sent
    /// again (through another) until a quorum of the site's replicas confirmed it.
    mutating func clientErase() {
        clientErasures += 1
        pendingErasures[clientErasures] = ClientErasure(site: sites.randomElement(using: &random)!,
                                                        visitor: VisitorID(rawValue: UInt64.random(in: 1...12, using: &random)), node: "")
        sendErasure(clientErasures)
    }

    private mutating func sendErasure(_ number: Int) {
        guard var erasure = pendingErasures[number], erasure.node.isEmpty else { return }
        guard let name = runningNames.randomElement(using: &random) else {
            queue.insert(.erasureRetry(number), at: now + .milliseconds(500))
            return
        }
        lastClientSend = now
        let order = Replication.ErasureOrder(requestID: "er-\(erasures.count + 1)", site: erasure.site, visitor: erasure.visitor, fenceMs: wallMs)
        erasures.append(order)
        statistics.erasures += 1
        (erasure.order, erasure.node, erasure.sentAt) = (order, name, now)
        pendingErasures[number] = erasure
        queue.insert(.erasureTimeout(number, requestID: order.requestID), at: now + .seconds(5))
        record("erase \(order.visitor) of \(order.site) through \(name) as \(order.requestID)")
        perform(nodes[name]!.coordinator!.onErase(order, now: instant), by: name)
    }

    /// How many of `replicas` hold what a client request sent at `sentAt` wrote. A replica that
    /// lost its disk since may have confirmed it first and taken the copy with it: no protocol
    /// keeps that (the end of the run allows for lost disks, and repair brings the copy back), so
    /// it counts. Found for erasures by 24 of make simulate's 10,000 seeds (seed 735: node-3
    /// confirmed er-1, its disk was lost 30 ms before the round's deadline, which then answered
    /// with node-3's and node-1's confirmations).
    private func copies(on replicas: [String], since sentAt: MonotonicTime, holding: (String) -> Bool) -> Int {
        replicas.filter { replica in holding(replica) || wipedAt[replica].map { $0 >= sentAt } == true }.count
    }

    private mutating func erasureFinished(_ requestID: String, _ outcome: Replication.WriteOutcome, by name: String) {
        guard let (number, erasure) = pendingErasures.first(where: { $0.value.order?.requestID == requestID && $0.value.node == name }),
              let order = erasure.order else { return }
        guard outcome == .succeeded else {
            pendingErasures[number]!.node = ""
            statistics.erasureRetries += 1
            queue.insert(.erasureRetry(number), at: now + .seconds(1))
            return
        }
        pendingErasures[number] = nil
        // The promise behind the erasure's success: a quorum of the site's replicas hold it.
        let replicas = replicas(of: order.site)
        let holding = copies(on: replicas, since: erasure.sentAt) { replica in
            (try? nodes[replica]!.store.erasureRecord(site: order.site, visitor: order.visitor)).flatMap { $0 }.map { $0.erasedAtMs >= order.fenceMs } == true
        }
        if holding < Replication.Consistency.quorum.required(replicas: replicas.count) {
            violations.append("erasure \(requestID) succeeded through \(name) with \(holding) of \(replicas.count) replicas holding it at \(now)")
        }
    }

    /// The client reads a random site through a random running node, which answers as a node's
    /// `answer(_ query:)` does: from its own copy when its `DataLifecycle.readRoute` says so,
    /// otherwise from the first live replica whose own route lets it answer. (Reads change
    /// nothing, so they are answered at once rather than through the network.) The answer must
    /// hold every acknowledged event its replica is known to lack (`mustHold`), unless erased.
    mutating func clientRead() {
        guard let name = runningNames.randomElement(using: &random) else { return }
        let site = sites.randomElement(using: &random)!
        let replicas = replicas(of: site)
        func route(at node: String) -> (local: Bool, remote: [String]) {
            nodes[node]!.lifecycle!.readRoute(replicas: replicas, myself: node, alive: Set(names.filter { canReach(node, $0) && canReach($0, node) }))
        }
        let asked = route(at: name)
        let answering = asked.local ? name : asked.remote.first { peer in route(at: peer).local }
        guard let answering else {
            statistics.unansweredReads += 1
            return
        }
        if answering == name { statistics.localReads += 1 } else { statistics.forwardedReads += 1 }
        var answer = Set<EventID>()
        try! nodes[answering]!.store.events(site: site, in: ReplicatedCluster.span, nowMs: wallMs, retention: .default) { event in
            answer.insert(event.id)
            return true
        }
        let missing = (mustHold[answering] ?? []).filter { id in
            let event = acknowledged[id]!
            return event.site == site && !answer.contains(id) && !erasures.contains { $0.covers(event) }
        }
        if !missing.isEmpty {
            violations.append("\(answering) answered a read of \(site) through \(name) without \(missing.count) acknowledged events "
                              + "it had lost or been told it missed, at \(now)")
        }
        traceHash.add("read \(site) through \(name) from \(answering): \(answer.count)")
    }

    /// A CRM edit of a random visitor of a random site — a note, or new tags — through a random
    /// running node.
    mutating func clientEdit() {
        guard let name = runningNames.randomElement(using: &random) else { return }
        statistics.edits += 1
        let change: VisitorEdit.Change = Bool.random(using: &random)
            ? .addNote(id: "note-\(statistics.edits)", text: "note \(statistics.edits)")
            : .setTags(["tag-\(Int.random(in: 1...5, using: &random))"])
        let edit = VisitorEdit(site: sites.randomElement(using: &random)!, visitor: VisitorID(rawValue: UInt64.random(in: 1...12, using: &random)),
                               atMs: wallMs, change: change)
        nextRequest += 1
        lastClientSend = now
        edits[nextRequest] = edit
        record("edit \(edit.visitor) of \(edit.site) through \(name)")
        perform(nodes[name]!.coordinator!.onEdit(request: nextRequest, edit, consistency: .quorum, now: instant), by: name)
    }

    private mutating func send(_ events: [Event]) {
        lastClientSend = now
        guard let name = runningNames.randomElement(using: &random) else {
            nextRequest += 1
            pending[nextRequest] = ClientWrite(events: events, node: "", sentAt: now)
            queue.insert(.clientRetry(request: nextRequest), at: now + .milliseconds(500))
            return
        }
        nextRequest += 1
        let request = nextRequest
        pending[request] = ClientWrite(events: events, node: name, sentAt: now)
        queue.insert(.clientTimeout(request: request), at: now + .seconds(5))
        perform(nodes[name]!.coordinator!.onWrite(request: request, events: events, consistency: .quorum, now: instant), by: name)
    }

    private mutating func finished(_ request: UInt64, _ outcome: Replication.WriteOutcome, by name: String) {
        if let edit = edits.removeValue(forKey: request) {
            if outcome == .succeeded { acknowledgedEdits.append(edit) }
            return
        }
        guard let write = pending[request], write.node == name else { return }
        pending[request] = nil
        guard outcome == .succeeded else {
            pending[request] = write
            pending[request]!.node = ""
            queue.insert(.clientRetry(request: request), at: now + .milliseconds(200))
            return
        }
        // The promise behind QUORUM: when the client hears "stored", a quorum of the site's
        // replicas hold the event durably (a hint is not a copy).
        for event in write.events where !erasures.contains(where: { $0.covers(event) }) {
            let replicas = replicas(of: event.site)
            let copies = copies(on: replicas, since: write.sentAt) { nodes[$0]!.holds(event) }
            if copies < Replication.Consistency.quorum.required(replicas: replicas.count) {
                violations.append("event \(event.id) acknowledged by \(name) with \(copies) of \(replicas.count) replicas holding it at \(now)")
            }
            acknowledged[event.id] = event
        }
        statistics.acknowledgedEvents += write.events.count
    }

    // MARK: Running

    mutating func run(for duration: Duration) {
        let end = now + duration
        while let (time, step) = queue.popFirst(notAfter: end) {
            now = time
            handle(step)
        }
        now = end
    }

    /// Carries out a running node's `DataLifecycle` effects; false when its disk refused one
    /// (handed back to the lifecycle, as the shell does).
    @discardableResult
    private mutating func carryOut(_ effects: [Replication.DataLifecycle.Effect], on name: String) -> Bool {
        defer { checkRepairCores(name) }
        guard !failingDisks.contains(name) else {
            for effect in effects { nodes[name]!.lifecycle!.onPersistFailed(effect) }
            return effects.isEmpty
        }
        for effect in effects { ReplicatedCluster.carryOut(effect, on: &nodes[name]!) }
        return true
    }

    /// Fails the seed on a lifecycle or repair session whose state is inconsistent.
    private mutating func checkRepairCores(_ name: String) {
        if let problem = nodes[name]?.lifecycle?.invariantViolation { violations.append("\(name)'s data lifecycle: \(problem)") }
        if let problem = nodes[name]?.pass?.session?.invariantViolation { violations.append("\(name)'s repair session: \(problem)") }
    }

    /// What a node's shell does for its `DataLifecycle`.
    private static func carryOut(_ effect: Replication.DataLifecycle.Effect, on node: inout Node) {
        switch effect {
        case .wipeRawData:
            try! node.store.wipeRawData()
            node.disk.hints.removeAll()
            node.disk.gaps.removeAll()
        case .persistRepairNeeded: node.disk.repairPending = true
        case .clearRepairNeeded: node.disk.repairPending = false
        }
    }

    // MARK: Checks

    /// Events of `site` on `name`'s disk, by id.
    func storedIDs(_ name: String, site: SiteID) throws -> Set<EventID> {
        var out = Set<EventID>()
        let span = ReplicatedCluster.span
        let tree = try nodes[name]!.store.digests(site: site, fromMs: span.startMs, untilMs: span.endMs)
        for day in tree.keys {
            out.formUnion(try nodes[name]!.store.eventIDs(site: site, day: day, slices: Array(0..<EventSetDigest.slicesPerDay), after: nil,
                                                          limit: .max, fromMs: span.startMs, untilMs: span.endMs).elements)
        }
        return out
    }

    func recentTrace(_ count: Int = 30) -> String { trace.suffix(count).joined(separator: "\n") }

    // MARK: Internals

    private mutating func handle(_ step: Step) {
        traceHash.add(now)
        switch step {
        case .tick(let name):
            traceHash.add("tick \(name)")
            guard var node = nodes[name], var coordinator = node.coordinator, node.scheduledTick == now else { return }
            node.scheduledTick = nil
            let actions = coordinator.onTick(now: instant)
            node.coordinator = coordinator
            nodes[name] = node
            perform(actions, by: name)
        case .membership(let name):
            traceHash.add("membership \(name)")
            guard var coordinator = nodes[name]?.coordinator else { return }
            let alive = Set(names.filter { canReach(name, $0) && canReach($0, name) })
            let actions = coordinator.onMembershipChange(ring: ring, alive: alive, now: instant)
            nodes[name]?.coordinator = coordinator
            perform(actions, by: name)
            queue.insert(.membership(name), at: now + .milliseconds(500))
        case .deliver(let message, let from, let to):
            traceHash.add("deliver \(message.traceLabel) \(from) -> \(to)")
            guard nodes[to]?.coordinator != nil else { return }
            receive(message, from: from, at: to)
        case .clientTimeout(let request):
            traceHash.add("timeout \(request)")
            guard let write = pending[request], !write.node.isEmpty else { return }
            pending[request]!.node = ""
            queue.insert(.clientRetry(request: request), at: now)
        case .clientRetry(let request):
            traceHash.add("retry \(request)")
            guard let write = pending.removeValue(forKey: request), write.node.isEmpty else { return }
            statistics.retries += 1
            send(write.events)
        case .erasureTimeout(let number, let requestID):
            traceHash.add("erasure timeout \(number) \(requestID)")
            guard let erasure = pendingErasures[number], erasure.order?.requestID == requestID, !erasure.node.isEmpty else { return }
            pendingErasures[number]!.node = ""
            statistics.erasureRetries += 1
            queue.insert(.erasureRetry(number), at: now)
        case .erasureRetry(let number):
            traceHash.add("erasure retry \(number)")
            sendErasure(number)
        case .repairPass(let name):
            traceHash.add("repair pass \(name)")
            guard nodes[name]?.passDue == now, nodes[name]?.coordinator != nil else { return }
            nodes[name]!.passDue = nil
            beginPass(name)
        case .repairCall(let request, let pass, let number, let from, let to):
            traceHash.add("repair call \(pass).\(number) \(from) -> \(to)")
            guard nodes[to]?.coordinator != nil else { return }
            if case .step(.apply) = request, failingDisks.contains(to) {
                // Refused: the caller's session stops (a peer's when its call times out).
                if from == to { cutShort(from, pass: pass, number: number, "its disk refused a repair's write") }
                return
            }
            let response = answer(request, at: to)
            if from == to {
                received(response, pass: pass, number: number, at: from)
            } else if !isCut(to, from) {
                queue.insert(.repairReply(response, pass: pass, number: number, to: from), at: now + network.delay(using: &random))
            }
        case .repairReply(let response, let pass, let number, let to):
            traceHash.add("repair reply \(pass).\(number) -> \(to)")
            received(response, pass: pass, number: number, at: to)
        case .repairTimeout(let name, let pass, let number):
            traceHash.add("repair timeout \(pass).\(number)")
            cutShort(name, pass: pass, number: number, "timed out")
        }
    }

    /// Ends the pass's current pair where it is, if `number` is still its outstanding request.
    private mutating func cutShort(_ name: String, pass id: UInt64, number: UInt64, _ reason: String) {
        guard let pass = nodes[name]?.pass, pass.id == id, pass.number == number, pass.outstanding != nil else { return }
        record("\(name)'s repair of \(pass.window.map { "\($0.site)" } ?? "?") with \(pass.peer): \(reason)")
        statistics.sessionsCut += 1
        nodes[name]!.pass!.plan.onMissed(pass.peer)
        nextPair(name)
    }

    // MARK: Repair passes

    /// A background pass leaves out writes younger than this (they are still arriving).
    static let repairSettleMs: Int64 = 2_000
    /// Entries a session lists at once: small, so a day's ids come in many pages.
    static let repairPageLimit = 8
    /// As long as a node's repair call waits for its answer.
    static let repairCallTimeout = Duration.seconds(2)

    /// Schedules the node's next pass, unless one is due sooner.
    private mutating func scheduleRepairPass(_ name: String, after delay: Duration) {
        let due = now + delay
        if let scheduled = nodes[name]!.passDue, scheduled <= due { return }
        nodes[name]!.passDue = due
        queue.insert(.repairPass(name), at: due)
    }

    private mutating func beginPass(_ name: String) {
        guard let lifecycle = nodes[name]?.lifecycle, nodes[name]?.pass == nil else { return }
        passes += 1
        let ticket = lifecycle.onPassStarted(byOperator: false)
        let pairs = sites.flatMap { site in
            Replication.AntiEntropy.Pass.peers(of: site, ring: ring, replicationFactor: settings.replicationFactor, myself: name).map { (site: site, peer: $0) }
        }
        let plan = Replication.AntiEntropy.Pass(ticket: ticket, settleMs: ReplicatedCluster.repairSettleMs, everySite: true)
        nodes[name]!.pass = RepairPass(id: passes, startedAt: now, plan: plan, pairs: pairs.reversed())
        record("\(name) begins repair pass \(passes)\(ticket.comparesUpToNow ? " up to now" : "")")
        nextPair(name)
    }

    /// Compares the pass's next pair: the peer's summary first, a session when it differs.
    private mutating func nextPair(_ name: String) {
        guard var pass = nodes[name]?.pass else { return }
        pass.session = nil
        pass.outstanding = nil
        guard let (site, peer) = pass.pairs.popLast() else {
            nodes[name]!.pass = pass
            return finishPass(name)
        }
        pass.peer = peer
        // As a node's pass does with its membership's view: a peer it cannot reach is skipped.
        guard canReach(name, peer), canReach(peer, name) else {
            pass.plan.onMissed(peer)
            nodes[name]!.pass = pass
            return nextPair(name)
        }
        let window = pass.plan.window(of: site, cutoffMs: RetentionPlan.default.cutoffMs(nowMs: wallMs), nowMs: wallMs)
        pass.window = window
        pass.ourSummary = try! LocalReplica(name: name, store: nodes[name]!.store, nowMs: wallMs).summaries([window])![0]
        nodes[name]!.pass = pass
        call(.summary(window), by: name)
    }

    /// Sends a pass's request: to this node's own store at once, to the peer through the network
    /// (calls ride a TCP stream: delayed, never lost or doubled, but cut by a partition or a
    /// crash, when the caller times out).
    private mutating func call(_ request: RepairRequest, by name: String) {
        guard var pass = nodes[name]?.pass else { return }
        pass.number += 1
        pass.outstanding = request
        nodes[name]!.pass = pass
        let target: String
        switch request {
        case .summary, .step(.ask(.remote, _)), .step(.apply(.remote, _)): target = pass.peer
        case .step: target = name
        }
        if target == name {
            queue.insert(.repairCall(request, pass: pass.id, number: pass.number, from: name, to: name), at: now)
            return
        }
        queue.insert(.repairTimeout(name, pass: pass.id, number: pass.number), at: now + ReplicatedCluster.repairCallTimeout)
        guard !isCut(name, target) else { return }
        queue.insert(.repairCall(request, pass: pass.id, number: pass.number, from: name, to: target), at: now + network.delay(using: &random))
    }

    /// What a replica answers a repair request with, from its own store.
    private func answer(_ request: RepairRequest, at name: String) -> RepairResponse {
        let replica = LocalReplica(name: name, store: nodes[name]!.store, nowMs: wallMs)
        switch request {
        case .summary(let window): return .summary(try! replica.summaries([window])![0])
        case .step(.ask(_, let query)): return .answer(try! replica.answer(query))
        case .step(.apply(_, let payload)):
            try! replica.apply(payload)
            return .applied
        case .step(.finished): fatalError("a finished session sends nothing")
        }
    }

    private mutating func received(_ response: RepairResponse, pass id: UInt64, number: UInt64, at name: String) {
        guard var pass = nodes[name]?.pass, pass.id == id, pass.number == number, pass.outstanding != nil else { return }
        pass.outstanding = nil
        let step: Replication.AntiEntropy.Step
        do {
            switch response {
            case .summary(let theirs):
                guard theirs != pass.ourSummary else {
                    statistics.summariesAlike += 1
                    traceHash.add("alike \(pass.window!.site) \(name) \(pass.peer)")
                    nodes[name]!.pass = pass
                    return nextPair(name)
                }
                pass.session = Replication.AntiEntropy.Session(window: pass.window!, local: name, remote: pass.peer,
                                                               pageLimit: ReplicatedCluster.repairPageLimit)
                step = pass.session!.start()
            case .answer(let answer): step = try pass.session!.onAnswer(answer)
            case .applied: step = try pass.session!.onApplied()
            }
        } catch {
            violations.append("\(name)'s repair session with \(pass.peer) failed: \(error)")
            pass.plan.onMissed(pass.peer)
            nodes[name]!.pass = pass
            return nextPair(name)
        }
        nodes[name]!.pass = pass
        checkRepairCores(name)
        guard case .finished(let outcome) = step else { return call(.step(step), by: name) }
        statistics.repair.add(outcome)
        traceHash.add("repair \(pass.window!.site) \(name) \(pass.peer): pulled \(outcome.eventsPulled), pushed \(outcome.eventsPushed), "
                      + "erasures \(outcome.erasuresPulled)/\(outcome.erasuresPushed), records \(outcome.visitorRecordsRepaired)")
        nextPair(name)
    }

    /// Ends the pass through the node's `DataLifecycle` and schedules the next: at once while the
    /// node still repairs (after 2 s, as a node's runner waits), otherwise after the interval.
    private mutating func finishPass(_ name: String) {
        guard let pass = nodes[name]?.pass else { return }
        nodes[name]!.pass = nil
        statistics.passes += 1
        let complete = pass.plan.missed.isEmpty
        if complete {
            statistics.completePasses += 1
            nodes[name]!.completePassStartedAt = pass.startedAt
        }
        carryOut(nodes[name]!.lifecycle!.onPassFinished(pass.plan.ticket, coverage: pass.plan.coverage(knewTheSites: true)), on: name)
        if complete, pass.plan.ticket.comparesUpToNow, nodes[name]!.lifecycle!.phase == .repairing { statistics.passesOutrunByGaps += 1 }
        record("\(name) ends repair pass \(pass.id)\(complete ? "" : ", incomplete")")
        scheduleRepairPass(name, after: nodes[name]!.lifecycle!.phase == .repairing ? .seconds(2) : .seconds(5))
    }

    /// Runs until every node finished a pass that compared everything and began after the client
    /// last sent anything had settled; false when `limit` passes first.
    mutating func runUntilRepaired(limit: Duration) -> Bool {
        let end = now + limit
        let settled = lastClientSend + .milliseconds(ReplicatedCluster.repairSettleMs)
        while now < end {
            if nodes.values.allSatisfy({ node in node.completePassStartedAt.map { $0 >= settled } == true }) { return true }
            run(for: .milliseconds(500))
        }
        return false
    }

    private mutating func receive(_ message: Replication.Message, from: String, at name: String) {
        switch message {
        case .apply(let id, let payload):
            // A disk that refuses writes stores nothing: the replica answers with an error, which
            // the coordinator takes as a timeout.
            guard !failingDisks.contains(name) else { return }
            let applied = try! LocalReplica(name: name, store: nodes[name]!.store, nowMs: wallMs).applied(payload)
            transmit(.ack(id: id, atMs: wallMs, applied), from: name, to: from)
        case .repairNeeded(let id):
            // Acknowledged only once "repair before serving reads" is on disk.
            guard carryOut(nodes[name]!.lifecycle!.onRepairNeeded(), on: name) else { return }
            // A node's runner looks every 2 s whether its node needs repair, and then starts a pass.
            if nodes[name]!.pass == nil { scheduleRepairPass(name, after: .milliseconds(Int64.random(in: 0...2_000, using: &random))) }
            let sites = Set(sites.filter { replicas(of: $0).contains(name) })
            mustHold[name, default: []].formUnion(acknowledged.values.lazy.filter { sites.contains($0.site) }.map(\.id))
            transmit(.ack(id: id, atMs: wallMs, Replication.Applied()), from: name, to: from)
        case .ack:
            var coordinator = nodes[name]!.coordinator!
            let actions = coordinator.onMessage(message, from: from, now: instant)
            nodes[name]?.coordinator = coordinator
            perform(actions, by: name)
        }
    }

    /// Carries out a coordinator's effects as its shell does: persist, then send, then complete.
    private mutating func perform(_ effects: Replication.Effects, by name: String) {
        if let problem = nodes[name]?.coordinator?.invariantViolation { violations.append("\(name)'s coordinator: \(problem)") }
        if failingDisks.contains(name), !effects.persist.isEmpty {
            nodes[name]!.coordinator!.onPersistFailed(effects.persist, now: instant)
            statistics.persistsRefused += 1
        }
        for write in effects.persist where !failingDisks.contains(name) {
            switch write {
            case .hint(let hint):
                nodes[name]!.disk.hints[hint.id] = hint
                statistics.hintsStored += 1
            case .deleteHint(let id):
                nodes[name]!.disk.hints[id] = nil
            case .scrubHints:
                break  // in-memory disks keep no deleted values
            case .recordGap(let target):
                nodes[name]!.disk.gaps.insert(target)
                statistics.gapsRecorded += 1
            case .clearGap(let target):
                nodes[name]!.disk.gaps.remove(target)
            }
        }
        for outgoing in effects.send { transmit(outgoing.message, from: name, to: outgoing.to) }
        for completion in effects.complete {
            switch completion {
            case .writeFinished(let request, let outcome, _):
                finished(request, outcome, by: name)
            case .erasureConfirmed(let requestID, let replica, _):
                record("\(requestID) confirmed by \(replica)")
            case .erasureFinished(let requestID, let outcome, let waiting):
                record("\(requestID) finished \(outcome), waiting for \(waiting)")
                erasureFinished(requestID, outcome, by: name)
            }
        }
        scheduleTick(for: name)
    }

    private mutating func transmit(_ message: Replication.Message, from: String, to: String) {
        if from == to {
            queue.insert(.deliver(message, from: from, to: to), at: now)
            return
        }
        if isCut(from, to) {
            statistics.cut += 1
            return
        }
        if let rate = lossToward[to], Double.random(in: 0..<1, using: &random) < rate {
            statistics.lost += 1
            return
        }
        let copies = network.copies(using: &random)
        if copies == 0 { statistics.lost += 1 }
        if copies == 2 { statistics.duplicated += 1 }
        for _ in 0..<copies { queue.insert(.deliver(message, from: from, to: to), at: now + network.delay(using: &random)) }
    }

    private mutating func scheduleTick(for name: String) {
        guard var node = nodes[name], let coordinator = node.coordinator, let next = coordinator.nextDeadline(now: instant) else { return }
        let deadline = max(now + .milliseconds(1), next)
        if let scheduled = node.scheduledTick, scheduled <= deadline, scheduled > now { return }
        node.scheduledTick = deadline
        nodes[name] = node
        queue.insert(.tick(name), at: deadline)
    }

    private mutating func record(_ line: String) {
        traceHash.add(line)
        trace.append("\(now) \(line)")
        if trace.count > 400 { trace.removeFirst(200) }
    }
}

extension Replication.Message {
    /// The message's kind and request id, for the trace hash (its payload follows from the run).
    var traceLabel: String {
        switch self {
        case .apply(let id, _): "apply \(id)"
        case .repairNeeded(let id): "repair-needed \(id)"
        case .ack(let id, let atMs, let applied): "ack \(id) at \(atMs) stored \(applied.stored)"
        }
    }
}

extension ReplicatedCluster.Node {
    func holds(_ event: Event) -> Bool {
        (try? store.storedEvents(site: event.site, ids: [event.id]).isEmpty == false) ?? false
    }
}
