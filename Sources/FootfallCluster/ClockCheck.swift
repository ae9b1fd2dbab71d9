import FootfallProtocols
import FootfallRuntime
import Synchronization

/// Whether this node's wall clock agrees with its peers', asked on every write (and for the bounds
/// on a peer's stamps). The clock watch records the peers' readings; each question is answered
/// from them and both of this node's clocks as they are at that moment, so a wall-clock step
/// counts from the first write after it (`ClockAgreement`).
package final class ClockCheck: Sendable {
    private struct State {
        var agreement: ClockAgreement
        var clusterSize = 1
        /// Nodes whose own process uid this node refused as from the future, by name, with when
        /// (monotonic ms) it last did.
        var refusedSenders: [String: (member: Membership.Member, atMonotonicMs: Int64)] = [:]
    }

    /// Refused senders remembered at most: enough for any formation, and a bound on what
    /// certified nodes can make this node remember.
    package static let refusedSendersMax = 16

    private let clock: any WallClock
    private let state: Mutex<State>

    package init(settings: ClockAgreement.Settings, clock: any WallClock) {
        self.clock = clock
        state = Mutex(State(agreement: ClockAgreement(settings: settings)))
    }

    /// A peer answered with `peerMs`; the call left at `sentMs` (this node's wall clock) and the
    /// answer arrives now.
    package func record(peer: String, sentMs: Int64, peerMs: Int64) {
        let (received, monotonic) = (clock.nowMs, clock.monotonicMs)
        state.withLock { $0.agreement.onReading(peer: peer, sentMs: sentMs, peerMs: peerMs, receivedMs: received, receivedMonotonicMs: monotonic) }
    }

    /// Forgets readings of all but `members`, out of a cluster of `clusterSize` nodes.
    package func keep(only members: Set<String>, clusterSize: Int) {
        state.withLock {
            $0.agreement.onMembers(only: members)
            $0.clusterSize = max(clusterSize, 1)
        }
    }

    /// This node refused `sender`'s gossip because the sender's own uid (its start time) is beyond
    /// this node's clock plus the skew allowed. Either clock may be the wrong one: the clock watch
    /// reads the sender's too, so a founder whose clock is behind learns it from the nodes that
    /// try to join it (with no members, it has no one else to read).
    /// Returns whether the sender is new to the list.
    @discardableResult
    package func refusedStamp(of sender: Membership.Member) -> Bool {
        let monotonic = clock.monotonicMs
        return state.withLock { state in
            let isNew = state.refusedSenders[sender.name] == nil
            if isNew, state.refusedSenders.count >= ClockCheck.refusedSendersMax,
               let oldest = state.refusedSenders.min(by: { $0.value.atMonotonicMs < $1.value.atMonotonicMs }) {
                state.refusedSenders[oldest.key] = nil
            }
            state.refusedSenders[sender.name] = (sender, monotonic)
            return isNew
        }
    }

    /// The senders refused within the readings' freshness window.
    package var recentlyRefusedSenders: [Membership.Member] {
        let monotonic = clock.monotonicMs
        return state.withLock { state in
            let fresh = state.agreement.settings.freshForMs
            state.refusedSenders = state.refusedSenders.filter { monotonic - $0.value.atMonotonicMs <= fresh }
            return state.refusedSenders.values.map(\.member).sorted { $0.name < $1.name }
        }
    }

    /// How far the peers' clocks are ahead of this one (their median, ms; negative when behind)
    /// while it is off theirs, 0 while it agrees.
    package var disagreementMs: Int64 {
        let (now, monotonic) = (clock.nowMs, clock.monotonicMs)
        return state.withLock { $0.agreement.disagreementMs(clusterSize: $0.clusterSize, nowMs: now, monotonicMs: monotonic) } ?? 0
    }
}
