import Foundation
import Synchronization

/// Wall-clock time for the node runtime, injected so tests (and chaos runs with a skewed node)
/// can move it. Pure code never reads it: it receives `nowMs` as an argument.
public protocol WallClock: Sendable {
    var nowMs: Int64 { get }
}

public struct SystemClock: WallClock {
    /// Added to the system time; lets a chaos test skew one node's clock.
    public var offsetMs: Int64
    public init(offsetMs: Int64 = 0) { self.offsetMs = offsetMs }
    public var nowMs: Int64 { Int64(Date().timeIntervalSince1970 * 1000) + offsetMs }
}

/// A clock tests set and advance by hand.
public final class ManualClock: WallClock {
    private let value: Mutex<Int64>
    public init(nowMs: Int64) { value = Mutex(nowMs) }
    public var nowMs: Int64 { value.withLock { $0 } }
    public func advance(byMs delta: Int64) { value.withLock { $0 += delta } }
    public func set(_ ms: Int64) { value.withLock { $0 = ms } }
}
