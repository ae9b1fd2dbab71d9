import Foundation

/// Runs a simulation's seeds on every core. Seeds are independent runs, so they need not wait for
/// one another; their outcomes come back in seed order, so a report and the trace hash over all
/// seeds do not depend on which run finished first.
enum SeedRunner {
    static func outcomes<Outcome: Sendable>(of seeds: [UInt64], _ run: @escaping @Sendable (UInt64) async throws -> Outcome) async throws -> [Outcome] {
        let width = max(1, ProcessInfo.processInfo.activeProcessorCount)
        return try await withThrowingTaskGroup(of: (Int, Outcome).self) { group in
            var outcomes = [Outcome?](repeating: nil, count: seeds.count)
            var started = 0
            // As many runs in flight as cores: each holds a whole simulated cluster in memory.
            while started < seeds.count, started < width {
                let index = started
                group.addTask { (index, try await run(seeds[index])) }
                started += 1
            }
            while let (index, outcome) = try await group.next() {
                outcomes[index] = outcome
                if started < seeds.count {
                    let next = started
                    group.addTask { (next, try await run(seeds[next])) }
                    started += 1
                }
            }
            return outcomes.map { $0! }
        }
    }
}
