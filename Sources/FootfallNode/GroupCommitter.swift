import Dispatch
import FootfallModel
import FootfallStorage

/// Group commit: concurrent ingest requests are gathered into one storage batch, written with one
/// WAL sync, and each request is answered only after that sync. While a batch is being written the
/// next one fills up, so throughput grows with load instead of being capped at one fsync per hit.
actor GroupCommitter {
    private struct Pending {
        let events: [Event]
        let continuation: CheckedContinuation<[EventStore.Outcome], any Error>
    }

    private let store: EventStore
    private let retention: @Sendable (SiteID) -> RetentionPlan
    private let clock: any WallClock
    /// Writes run here, off the cooperative thread pool, since they block on fsync.
    private let writer = DispatchQueue(label: "footfall.group-commit")
    private var pending: [Pending] = []
    private var writing = false
    /// Bound on events per storage batch, so one batch cannot grow without limit under load.
    let batchEventsMax: Int

    init(store: EventStore, clock: any WallClock, batchEventsMax: Int = 5_000, retention: @escaping @Sendable (SiteID) -> RetentionPlan) {
        self.store = store
        self.clock = clock
        self.batchEventsMax = batchEventsMax
        self.retention = retention
    }

    /// Stores the events durably (as the store is configured) and returns one outcome per event.
    func submit(_ events: [Event]) async throws -> [EventStore.Outcome] {
        guard !events.isEmpty else { return [] }
        return try await withCheckedThrowingContinuation { continuation in
            pending.append(Pending(events: events, continuation: continuation))
            if !writing {
                writing = true
                Task { await drain() }
            }
        }
    }

    private func drain() async {
        while !pending.isEmpty {
            var group = [Pending]()
            var count = 0
            while let next = pending.first, group.isEmpty || count + next.events.count <= batchEventsMax {
                group.append(pending.removeFirst())
                count += next.events.count
            }
            let events = group.flatMap(\.events)
            let result = await write(events)
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
        }
        writing = false
    }

    private func write(_ events: [Event]) async -> Result<[EventStore.Outcome], any Error> {
        let store = store, retention = retention, now = clock.nowMs
        return await withCheckedContinuation { continuation in
            writer.async {
                continuation.resume(returning: Result { try store.apply(events, nowMs: now, retention: retention) })
            }
        }
    }
}
