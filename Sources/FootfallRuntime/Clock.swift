import Foundation
import Synchronization

/// Wall-clock time for the node runtime, injected so tests (and chaos runs with a skewed node)
/// can move it. Pure code never reads it: it receives `nowMs` as an argument.
public protocol WallClock: Sendable {
    var nowMs: Int64 { get }
    /// A clock that only moves forward at the pace of time, whatever happens to the wall clock
    /// (an NTP step, `date -s`): the two drifting apart by more than a second is a step.
    var monotonicMs: Int64 { get }
}

public struct SystemClock: WallClock {
    /// Added to the system time; lets a chaos test skew one node's clock.
    public var offsetMs: Int64
    public init(offsetMs: Int64 = 0) { self.offsetMs = offsetMs }
    public var nowMs: Int64 { Int64(Date().timeIntervalSince1970 * 1000) + offsetMs }
    /// CLOCK_MONOTONIC, which a step of the wall clock leaves alone.
    public var monotonicMs: Int64 {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return Int64(time.tv_sec) * 1000 + Int64(time.tv_nsec) / 1_000_000
    }
}

/// A clock tests set and advance by hand: advancing or setting it is time passing (both clocks
/// move), `step` moves the wall clock alone.
public final class ManualClock: WallClock {
    private let value: Mutex<(wall: Int64, monotonic: Int64)>
    public init(nowMs: Int64) { value = Mutex((nowMs, 0)) }
    public var nowMs: Int64 { value.withLock { $0.wall } }
    public var monotonicMs: Int64 { value.withLock { $0.monotonic } }
    public func advance(byMs delta: Int64) {
        value.withLock {
            $0.wall += delta
            $0.monotonic += delta
        }
    }
    public func set(_ ms: Int64) { value.withLock { $0.monotonic += ms - $0.wall; $0.wall = ms } }
    public func step(byMs delta: Int64) { value.withLock { $0.wall += delta } }
}
