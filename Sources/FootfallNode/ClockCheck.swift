import FootfallProtocols
import Synchronization

/// Whether this node's wall clock agrees with its peers', asked on every write (and for the bounds
/// on a peer's stamps). The clock watch records the peers' readings; each question is answered
/// from them and both of this node's clocks as they are at that moment, so a wall-clock step
/// counts from the first write after it (`ClockAgreement`).
final class ClockCheck: Sendable {
    private struct State {
        var agreement: ClockAgreement
        var clusterSize = 1
    }

    private let clock: any WallClock
    private let state: Mutex<State>

    init(settings: ClockAgreement.Settings, clock: any WallClock) {
        self.clock = clock
        state = Mutex(State(agreement: ClockAgreement(settings: settings)))
    }

    /// A peer answered with `peerMs`; the call left at `sentMs` (this node's wall clock) and the
    /// answer arrives now.
    func record(peer: String, sentMs: Int64, peerMs: Int64) {
        let (received, monotonic) = (clock.nowMs, clock.monotonicMs)
        state.withLock { $0.agreement.record(peer: peer, sentMs: sentMs, peerMs: peerMs, receivedMs: received, receivedMonotonicMs: monotonic) }
    }

    /// Forgets readings of all but `members`, out of a cluster of `clusterSize` nodes.
    func keep(only members: Set<String>, clusterSize: Int) {
        state.withLock {
            $0.agreement.keep(only: members)
            $0.clusterSize = max(clusterSize, 1)
        }
    }

    /// How far the peers' clocks are ahead of this one (their median, ms; negative when behind)
    /// while it is off theirs, 0 while it agrees.
    var disagreementMs: Int64 {
        let (now, monotonic) = (clock.nowMs, clock.monotonicMs)
        return state.withLock { $0.agreement.disagreementMs(clusterSize: $0.clusterSize, nowMs: now, monotonicMs: monotonic) } ?? 0
    }
}
