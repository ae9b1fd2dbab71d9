import Dispatch

/// One libFuzzer target: a function from bytes to nothing that must never trap, and the inputs
/// its corpus starts from. A broken invariant is a crash (`FuzzCheck.require`), which libFuzzer
/// saves as a reproducer.
public struct FuzzTarget: Sendable {
    public let name: String
    /// What the target drives (the fuzz binary lists them when no target is chosen).
    public let summary: String
    public let run: @Sendable ([UInt8]) -> Void
    /// Valid inputs built from the fixture's own data (written to Fuzz/Corpus by `make fuzz-seeds`).
    public let seeds: @Sendable () -> [[UInt8]]
}

public enum FuzzTargets {
    public static let all: [FuzzTarget] = [
        CollectTargets.json, CollectTargets.pixel, CollectTargets.reportQuery, HTTPRouteTarget.routes,
        PeerTargets.replicate, PeerTargets.gossip, PeerTargets.systemRecords, PeerTargets.repairRequests,
        PublicServiceTarget.requests,
        StoredValueTargets.values,
    ]

    public static func named(_ name: String) -> FuzzTarget? { all.first { $0.name == name } }
}

enum FuzzCheck {
    /// A property every input must keep; its failure is a finding, reported as a crash.
    static func require(_ condition: Bool, _ message: @autoclosure () -> String) {
        if !condition { fatalError("fuzz invariant broken: \(message())") }
    }
}

/// Runs async node code from libFuzzer's synchronous callback. The callback's thread is not one of
/// the cooperative pool's, so waiting on it cannot starve the task it waits for.
func blocking<T>(_ work: @escaping @Sendable () async throws -> T) -> Result<T, any Error> {
    let outcome = Outcome<T>()
    let done = DispatchSemaphore(value: 0)
    Task {
        do {
            outcome.result = .success(try await work())
        } catch {
            outcome.result = .failure(error)
        }
        done.signal()
    }
    done.wait()
    return outcome.result!
}

private final class Outcome<T>: @unchecked Sendable {
    var result: Result<T, any Error>?
}

/// Splits an input into parts at a separator byte sequence, so one input can carry several fields
/// (a query and a user agent; a stored value and two merge operands). libFuzzer mutates across them.
func fields(_ input: [UInt8], count: Int) -> [[UInt8]] {
    let separator: [UInt8] = [0xff, 0x00]
    var parts = [[UInt8]]()
    var current = [UInt8]()
    var index = 0
    while index < input.count {
        if parts.count < count - 1, index + 1 < input.count, input[index] == separator[0], input[index + 1] == separator[1] {
            parts.append(current)
            current = []
            index += 2
        } else {
            current.append(input[index])
            index += 1
        }
    }
    parts.append(current)
    while parts.count < count { parts.append([]) }
    return parts
}

func joined(_ parts: [[UInt8]]) -> [UInt8] {
    Array(parts.joined(separator: [0xff, 0x00]))
}
