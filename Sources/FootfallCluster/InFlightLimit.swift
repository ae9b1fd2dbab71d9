/// Calls in flight per peer, at most `limit` each. A call beyond the limit is not made: its
/// sender relies on what comes later (the next probe, sync or push) rather than queueing work
/// behind a peer that does not answer. Counts are kept per key, not per connection, so calls
/// still in flight on a replaced connection go on counting until they finish.
package struct InFlightLimit<Key: Hashable> {
    package let limit: Int
    private var counts: [Key: Int] = [:]

    package init(limit: Int) {
        precondition(limit > 0, "a limit of calls in flight must allow one")
        self.limit = limit
    }

    /// Counts one more call towards `key`; false, counting nothing, when `limit` are in flight.
    package mutating func start(_ key: Key) -> Bool {
        let count = counts[key, default: 0]
        guard count < limit else { return false }
        counts[key] = count + 1
        return true
    }

    /// Ends one call counted by `start`. A key with none in flight is forgotten, so the map holds
    /// only peers with calls in flight.
    package mutating func finish(_ key: Key) {
        guard let count = counts[key] else {
            assertionFailure("finish without start")
            return
        }
        counts[key] = count > 1 ? count - 1 : nil
    }

    package func inFlight(_ key: Key) -> Int { counts[key, default: 0] }
    package var keysInFlight: Int { counts.count }
}
