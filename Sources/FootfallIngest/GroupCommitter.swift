import Dispatch
import FootfallModel
import FootfallRuntime
import FootfallStorage

/// Group commit: concurrent ingest requests are gathered into one storage batch, written with one
/// WAL sync, and each request is answered only after that sync. While a batch is being written the
/// next one fills up, so throughput grows with load instead of being capped at one fsync per hit.
///
/// Two batches are in flight at most: the store prepares one (encoding, key order) while the
/// other holds its write lock, so the lock's one thread is not left waiting for that work. With
/// one batch at a time, the node used 1.4 of its 2 cores at full ingest. The second batch starts
/// only once enough events wait for it to be worth a commit of its own: single hits (what the
/// tracker sends) otherwise went out in batches of about four, each with its own WAL sync.
public actor GroupCommitter {
    private struct Pending {
        let events: [Event]
        let continuation: CheckedContinuation<[EventStore.Outcome], any Error>
    }

    /// Writes one batch at `nowMs` and returns one outcome per event (the store's `apply`).
    public typealias Write = @Sendable (_ events: [Event], _ nowMs: Int64) throws -> [EventStore.Outcome]

    private let writeBatch: Write
    private let clock: any WallClock
    /// Writes run here, off the cooperative thread pool, since they block on fsync.
    private let writer = DispatchQueue(label: "footfall.group-commit", attributes: .concurrent)
    private var pending: [Pending] = []
    /// Events in `pending` (tests wait on it).
    public private(set) var pendingEvents = 0
    /// Batches being written.
    private var writing = 0
    static let batchesInFlightMax = 2
    /// Events that must be waiting before a batch starts beside one being written.
    static let secondBatchEventsMin = 64
    /// Bound on events per storage batch, so one batch cannot grow without limit under load.
    public let batchEventsMax: Int

    public init(clock: any WallClock, batchEventsMax: Int = 5_000, write: @escaping Write) {
        self.clock = clock
        self.batchEventsMax = batchEventsMax
        writeBatch = write
    }

    /// Stores the events durably (as the store is configured) and returns one outcome per event.
    public func submit(_ events: [Event]) async throws -> [EventStore.Outcome] {
        guard !events.isEmpty else { return [] }
        return try await withCheckedThrowingContinuation { continuation in
            pending.append(Pending(events: events, continuation: continuation))
            pendingEvents += events.count
            startBatches()
        }
    }

    /// Starts a batch of what is pending while fewer than `batchesInFlightMax` are being written.
    private func startBatches() {
        while !pending.isEmpty, writing < GroupCommitter.batchesInFlightMax,
              writing == 0 || pendingEvents >= GroupCommitter.secondBatchEventsMin {
            var group = [Pending]()
            var count = 0
            while let next = pending.first, group.isEmpty || count + next.events.count <= batchEventsMax {
                group.append(pending.removeFirst())
                count += next.events.count
            }
            pendingEvents -= count
            writing += 1
            let batch = group
            Task { await commit(batch) }
        }
    }

    private func commit(_ group: [Pending]) async {
        let result = await write(group.flatMap(\.events))
        var offset = 0
        for request in group {
            switch result {
            case .success(let outcomes):
                request.continuation.resume(returning: Array(outcomes[offset..<offset + request.events.count]))
            case .failure(let error):
                request.continuation.resume(throwing: error)
            }
            offset += request.events.count
        }
        writing -= 1
        startBatches()
    }

    private func write(_ events: [Event]) async -> Result<[EventStore.Outcome], any Error> {
        let writeBatch = writeBatch, now = clock.nowMs
        return await withCheckedContinuation { continuation in
            writer.async {
                continuation.resume(returning: Result { try writeBatch(events, now) })
            }
        }
    }
}
