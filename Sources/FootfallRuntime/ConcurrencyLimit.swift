import Synchronization

/// How many pieces of one kind of work may run (or wait) at once, per key: password hashing for
/// the whole node, live streams per credential. Work over the limit is refused at once instead of
/// queued, so a flood cannot make real requests wait behind it or hold memory without bound. The
/// number of keys is bounded too: with `keysMax` keys busy, new keys are refused.
public final class ConcurrencyLimit<Key: Hashable & Sendable>: Sendable {
    public let perKeyMax: Int
    public let keysMax: Int
    private let running = Mutex([Key: Int]())

    public init(perKeyMax: Int, keysMax: Int = 10_000) {
        precondition(perKeyMax > 0 && keysMax > 0, "per key \(perKeyMax), keys \(keysMax)")
        self.perKeyMax = perKeyMax
        self.keysMax = keysMax
    }

    /// Takes a slot for `key`; false when its slots (or the table) are full. A true answer must
    /// be matched by one `release(key)`.
    public func acquire(_ key: Key) -> Bool {
        running.withLock { running in
            let current = running[key] ?? 0
            guard current < perKeyMax, current > 0 || running.count < keysMax else { return false }
            running[key] = current + 1
            return true
        }
    }

    public func release(_ key: Key) {
        running.withLock { running in
            guard let current = running[key] else { preconditionFailure("released a slot of a key that holds none") }
            running[key] = current > 1 ? current - 1 : nil
        }
    }

    /// Runs `work` in a slot of `key`, or throws `refusal` when none is free.
    public func run<T>(_ key: Key, refusal: @autoclosure () -> some Error, _ work: () async throws -> T) async throws -> T {
        guard acquire(key) else { throw refusal() }
        defer { release(key) }
        return try await work()
    }

    public func inUse(_ key: Key) -> Int { running.withLock { $0[key] ?? 0 } }
}
