import FootfallModel
import FootfallProtocols

/// A seeded, in-memory cluster of membership instances: simulated clock, a network with loss,
/// delay (and so reordering), duplication and partitions, and nodes that crash and restart.
/// Everything random comes from one seed, so a failing run replays exactly from it.
struct SimulatedCluster {
    struct NetworkConditions {
        var lossRate = 0.0
        var duplicateRate = 0.0
        var delayMin: Duration = .milliseconds(1)
        var delayMax: Duration = .milliseconds(5)

        /// How many copies of one message arrive: 0 (lost), 1, or 2 (duplicated).
        func copies(using random: inout SplitMix64) -> Int {
            if lossRate > 0, Double.random(in: 0..<1, using: &random) < lossRate { return 0 }
            return duplicateRate > 0 && Double.random(in: 0..<1, using: &random) < duplicateRate ? 2 : 1
        }

        /// One copy's time on the wire (random, so messages reorder).
        func delay(using random: inout SplitMix64) -> Duration {
            .nanoseconds(Int64.random(in: delayMin.nanoseconds...delayMax.nanoseconds, using: &random))
        }
    }

    /// What happened to the messages of one run.
    struct FaultStatistics: CustomStringConvertible {
        var sent = 0
        var delivered = 0
        var lost = 0
        var cutByPartition = 0
        var duplicated = 0
        var toCrashedNodes = 0
        var crashes = 0
        var restarts = 0
        var partitions = 0

        mutating func add(_ other: FaultStatistics) {
            sent += other.sent
            delivered += other.delivered
            lost += other.lost
            cutByPartition += other.cutByPartition
            duplicated += other.duplicated
            toCrashedNodes += other.toCrashedNodes
            crashes += other.crashes
            restarts += other.restarts
            partitions += other.partitions
        }

        var description: String {
            "sent \(sent), delivered \(delivered), lost \(lost), cut by partitions \(cutByPartition), "
                + "duplicated \(duplicated), to crashed nodes \(toCrashedNodes), crashes \(crashes), "
                + "restarts \(restarts), partitions \(partitions)"
        }
    }

    /// A member declared dead while its process was running (a false positive).
    struct FalseDeath: CustomStringConvertible {
        var at: MonotonicTime
        var by: String
        var about: String
        var description: String { "\(by) declared \(about) dead at \(at)" }
    }

    private enum Event {
        case deliver(Membership.Envelope, to: String)
        case tick(String)
        /// A joining node has streamed its ranges in (this cluster holds no data: a moment).
        case streamed(String)
    }

    /// What a node's shell hands its replication layer (`MembershipShell.views`): the other
    /// members held live, with their processes and addresses (a node always counts itself live),
    /// and the ownership map the rings are built from.
    struct FollowedView: Equatable {
        var live: Set<Membership.Member>
        var ownership: [Membership.OwnershipRecord]

        init(_ instance: Membership.Instance) {
            live = Set(instance.members.filter { $0.status.isLive && $0.member.name != instance.myself.name }.map(\.member))
            ownership = instance.ownershipRecords
        }
    }

    private struct Node {
        var instance: Membership.Instance?
        var generation: UInt64
        var persistedOwnership: [Membership.OwnershipRecord] = []
        var scheduledTick: MonotonicTime?
        var crashedAt: MonotonicTime?
        /// The view last handed on: at start, then after each batch of actions that changed it.
        var followedView: FollowedView?
    }

    let seed: UInt64
    let settings: Membership.Settings
    var network = NetworkConditions()
    private(set) var now = MonotonicTime(nanoseconds: 1_000_000_000)
    private(set) var statistics = FaultStatistics()
    private(set) var falseDeaths: [FalseDeath] = []
    /// Times a node's view changed in a step whose actions did not say so
    /// (`Membership.Action.changesView`): its replication layer would have gone on with the old one.
    private(set) var staleViews: [String] = []
    /// What an instance's own consistency check found after an input, with who and when.
    private(set) var brokenInvariants: [String] = []
    private var random: SplitMix64
    private var nodes: [String: Node] = [:]
    private var queue = EventQueue<Event>()
    private var blocked: Set<Pair> = []
    private var trace: [String] = []
    private(set) var traceHash = TraceHash()

    private struct Pair: Hashable {
        var from: String
        var to: String
    }

    init(seed: UInt64, settings: Membership.Settings = Membership.Settings()) {
        self.seed = seed
        self.settings = settings
        self.random = SplitMix64(seed: seed)
    }

    static func address(of name: String) -> String { "sim://\(name)" }

    var names: [String] { nodes.keys.sorted() }
    var runningNames: [String] { names.filter { nodes[$0]?.instance != nil } }

    func instance(_ name: String) -> Membership.Instance? { nodes[name]?.instance }

    // MARK: - Nodes

    /// Starts a node process; it joins through `seeds` (node names), or bootstraps when empty.
    mutating func start(_ name: String, seeds: [String]) {
        var node = nodes[name] ?? Node(instance: nil, generation: 0)
        precondition(node.instance == nil, "\(name) is already running")
        node.generation += 1
        let member = Membership.Member(name: name, uid: node.generation, address: SimulatedCluster.address(of: name))
        var instance = Membership.Instance(
            myself: member, settings: settings, seeds: seeds.map(SimulatedCluster.address(of:)),
            knownOwnership: node.persistedOwnership, randomSeed: random.next(), now: now
        )
        node.followedView = FollowedView(instance)
        let actions = instance.onStart(now: now)
        node.instance = instance
        node.crashedAt = nil
        nodes[name] = node
        if node.generation > 1 { statistics.restarts += 1 }
        record("start \(member)")
        perform(actions, by: name)
    }

    mutating func crash(_ name: String) {
        guard nodes[name]?.instance != nil else { return }
        nodes[name]?.instance = nil
        nodes[name]?.scheduledTick = nil
        nodes[name]?.crashedAt = now
        statistics.crashes += 1
        record("crash \(name)")
    }

    mutating func leave(_ name: String) {
        guard var instance = nodes[name]?.instance else { return }
        let actions = instance.onLeave(now: now)
        nodes[name]?.instance = instance
        record("leave \(name)")
        perform(actions, by: name)
    }

    /// An operator's removal of `name` through `operatorNode`; the core's refusal, if it refused.
    @discardableResult
    mutating func remove(_ name: String, by operatorNode: String) -> Membership.ChangeRefusal? {
        guard var instance = nodes[operatorNode]?.instance else { return nil }
        switch instance.onRemove(name: name, now: now) {
        case .success(let actions):
            nodes[operatorNode]?.instance = instance
            record("remove \(name) via \(operatorNode)")
            perform(actions, by: operatorNode)
            return nil
        case .failure(let refusal):
            record("remove \(name) via \(operatorNode) refused: \(refusal)")
            return refusal
        }
    }

    // MARK: - Network faults

    mutating func isolate(_ name: String) {
        for other in names where other != name {
            blocked.insert(Pair(from: name, to: other))
            blocked.insert(Pair(from: other, to: name))
        }
        statistics.partitions += 1
        record("isolate \(name)")
    }

    mutating func split(_ side: [String], _ otherSide: [String]) {
        for a in side {
            for b in otherSide {
                blocked.insert(Pair(from: a, to: b))
                blocked.insert(Pair(from: b, to: a))
            }
        }
        statistics.partitions += 1
        record("split \(side) | \(otherSide)")
    }

    mutating func cutOneWay(from: String, to: String) {
        blocked.insert(Pair(from: from, to: to))
        statistics.partitions += 1
        record("cut \(from) -> \(to)")
    }

    mutating func heal() {
        blocked.removeAll()
        record("heal")
    }

    // MARK: - Running

    mutating func run(for duration: Duration) {
        let end = now + duration
        while let (time, event) = queue.popFirst(notAfter: end) {
            now = time
            handle(event)
        }
        now = end
    }

    /// Runs until `condition` holds (checked after every event) or `limit` passes; returns how
    /// long it took, or nil.
    mutating func run(until limit: Duration, _ condition: (SimulatedCluster) -> Bool) -> Duration? {
        let start = now
        let end = now + limit
        if condition(self) { return .zero }
        while let (time, event) = queue.popFirst(notAfter: end) {
            now = time
            handle(event)
            if condition(self) { return now - start }
        }
        now = end
        return nil
    }

    // MARK: - Checks

    /// Every running node holds exactly the running nodes live, each at its current process.
    func liveViewsAgree() -> Bool {
        let running = runningNames
        let expected = Dictionary(uniqueKeysWithValues: running.compactMap { name in nodes[name].map { (name, $0.generation) } })
        for name in running {
            guard let instance = nodes[name]?.instance else { return false }
            let live = instance.members.filter { $0.status.isLive }
            if Set(live.map(\.member.name)) != Set(running) { return false }
            if live.contains(where: { expected[$0.member.name] != $0.member.uid }) { return false }
        }
        return true
    }

    /// Every running node holds `name`'s crashed process dead (or superseded by a newer one).
    func isSeenDeadByAll(_ name: String, generation: UInt64) -> Bool {
        for other in runningNames where other != name {
            guard let record = nodes[other]?.instance?.members.first(where: { $0.member.name == name }) else { return false }
            if record.member.uid == generation, record.status.isLive { return false }
        }
        return true
    }

    func generation(of name: String) -> UInt64 { nodes[name]?.generation ?? 0 }

    /// Rings of all running nodes, to check they agree.
    func rings() -> [Ring] { runningNames.compactMap { nodes[$0]?.instance?.ring(settings: Ring.Settings(virtualNodes: 8)) } }

    /// Every running node's ring holds exactly `owners`, at one epoch.
    func ringsAgree(on owners: Set<String>) -> Bool {
        let rings = rings()
        return rings.allSatisfy { $0 == rings[0] && Set($0.members) == owners }
    }

    /// The last events, for a failure report.
    func recentTrace(_ count: Int = 40) -> String { trace.suffix(count).joined(separator: "\n") }

    // MARK: - Internals

    private mutating func handle(_ event: Event) {
        traceHash.add(now)
        switch event {
        case .tick(let name):
            traceHash.add("tick \(name)")
            guard var node = nodes[name], var instance = node.instance, node.scheduledTick == now else { return }
            node.scheduledTick = nil
            let actions = instance.onTick(now: now)
            node.instance = instance
            nodes[name] = node
            perform(actions, by: name)
        case .streamed(let name):
            traceHash.add("streamed \(name)")
            guard var instance = nodes[name]?.instance else { return }
            let actions = instance.onOwnStateChange(to: .normal, now: now)
            nodes[name]?.instance = instance
            record("\(name) streamed its ranges in")
            perform(actions, by: name)
        case .deliver(let envelope, let name):
            traceHash.add("deliver \(envelope.from.name)#\(envelope.incarnation) -> \(name)")
            guard var instance = nodes[name]?.instance else {
                statistics.toCrashedNodes += 1
                return
            }
            statistics.delivered += 1
            let actions = instance.onMessage(envelope, now: now)
            nodes[name]?.instance = instance
            perform(actions, by: name)
        }
    }

    private mutating func perform(_ actions: [Membership.Action], by name: String) {
        if let problem = nodes[name]?.instance?.invariantViolation { brokenInvariants.append("\(name) at \(now): \(problem)") }
        for action in actions {
            switch action {
            case .send(let envelope, let destination):
                transmit(envelope, to: destination, from: name)
            case .memberChanged(let changed, let previous):
                record("\(name): \(changed) (was \(previous.map(\.rawValue) ?? "unknown"))")
                if changed.status == .dead {
                    let target = nodes[changed.member.name]
                    if target?.instance != nil, target?.generation == changed.member.uid {
                        falseDeaths.append(FalseDeath(at: now, by: name, about: changed.member.name))
                    }
                }
            case .ownershipChanged(let record):
                guard let instance = nodes[name]?.instance else { break }
                if record.name == name, record.state == .joining {
                    queue.insert(.streamed(name), at: now + .milliseconds(Int64.random(in: 200...2000, using: &random)))
                }
                nodes[name]?.persistedOwnership = instance.ownershipRecords
            case .superseded(let newer):
                record("\(name) superseded by \(newer)")
            case .nameHeld(let holder):
                record("\(name) refused: \(holder) holds the name")
            }
        }
        followView(of: name, announced: actions.contains(where: \.changesView))
        scheduleTick(for: name)
    }

    /// Hands on `name`'s view when its actions announced a change, and notes a change that came
    /// unannounced.
    private mutating func followView(of name: String, announced: Bool) {
        guard let instance = nodes[name]?.instance else { return }
        let view = FollowedView(instance)
        if !announced, view != nodes[name]?.followedView {
            staleViews.append("\(name) at \(now): its members or ring changed and no action said so")
        }
        nodes[name]?.followedView = view
    }

    private mutating func transmit(_ envelope: Membership.Envelope, to destination: Membership.Destination, from name: String) {
        let target: String
        switch destination {
        case .member(let member): target = String(member.address.dropFirst("sim://".count))
        case .address(let address): target = String(address.dropFirst("sim://".count))
        }
        statistics.sent += 1
        if blocked.contains(Pair(from: name, to: target)) {
            statistics.cutByPartition += 1
            return
        }
        let copies = network.copies(using: &random)
        if copies == 0 { statistics.lost += 1 }
        if copies == 2 { statistics.duplicated += 1 }
        for _ in 0..<copies { queue.insert(.deliver(envelope, to: target), at: now + network.delay(using: &random)) }
    }

    private mutating func scheduleTick(for name: String) {
        guard var node = nodes[name], let instance = node.instance else { return }
        let deadline = max(now, instance.nextDeadline)
        if let scheduled = node.scheduledTick, scheduled <= deadline { return }
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

/// A min-heap of events by time, first-in first-out among equal times.
struct EventQueue<Element> {
    private var heap: [(time: MonotonicTime, order: UInt64, element: Element)] = []
    private var nextOrder: UInt64 = 0

    mutating func insert(_ element: Element, at time: MonotonicTime) {
        nextOrder += 1
        heap.append((time, nextOrder, element))
        var child = heap.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard precedes(heap[child], heap[parent]) else { break }
            heap.swapAt(child, parent)
            child = parent
        }
    }

    mutating func popFirst(notAfter limit: MonotonicTime) -> (MonotonicTime, Element)? {
        guard let first = heap.first, first.time <= limit else { return nil }
        let last = heap.removeLast()
        if !heap.isEmpty {
            heap[0] = last
            var parent = 0
            while true {
                let left = 2 * parent + 1, right = left + 1
                var smallest = parent
                if left < heap.count, precedes(heap[left], heap[smallest]) { smallest = left }
                if right < heap.count, precedes(heap[right], heap[smallest]) { smallest = right }
                if smallest == parent { break }
                heap.swapAt(parent, smallest)
                parent = smallest
            }
        }
        return (first.time, first.element)
    }

    private func precedes(
        _ a: (time: MonotonicTime, order: UInt64, element: Element), _ b: (time: MonotonicTime, order: UInt64, element: Element)
    ) -> Bool {
        (a.time, a.order) < (b.time, b.order)
    }
}
