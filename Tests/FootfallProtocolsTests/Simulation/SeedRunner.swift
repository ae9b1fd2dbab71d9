import Foundation

/// Runs a simulation's seeds on every core. Seeds are independent runs, so they need not wait for
/// one another; their outcomes come back in seed order, so a report and the trace hash over all
/// seeds do not depend on which run finished first.
///
/// A seed's run is seconds of computation that never suspends, so the runs go to threads of their
/// own, not to the cooperative pool the caller awaits on: that pool has as many threads as cores,
/// and two scenarios' runs held all of them for minutes while the suite's HTTP tests, whose tasks
/// need those threads, waited until their requests timed out (a `make test` run: 12 tests failed
/// with readTimeout after 526 s, each passing alone in seconds).
enum SeedRunner {
    static func outcomes<Outcome: Sendable>(of seeds: [UInt64], _ run: @escaping @Sendable (UInt64) throws -> Outcome) async throws -> [Outcome] {
        let work = Work<Outcome>(seeds.count)
        let width = min(seeds.count, max(1, ProcessInfo.processInfo.activeProcessorCount))
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            guard width > 0 else { return continuation.resume() }
            for _ in 0..<width {
                // As many runs at once as cores: each holds a whole simulated cluster in memory.
                Thread {
                    while let index = work.take() {
                        do { work.finish(index, with: try run(seeds[index])) } catch { work.fail(error) }
                    }
                    if let result = work.threadDone(of: width) { continuation.resume(with: result) }
                }.start()
            }
        }
        return work.outcomes()
    }

    /// The seeds' outcomes as the threads hand them in; after a failure no further seed starts.
    private final class Work<Outcome>: @unchecked Sendable {
        private let lock = NSLock()
        private var next = 0
        private var results: [Outcome?]
        private var failure: (any Error)?
        private var threadsDone = 0

        init(_ count: Int) { results = Array(repeating: nil, count: count) }

        /// The next seed's index to run, or nil when none is left or one failed.
        func take() -> Int? {
            lock.withLock {
                guard failure == nil, next < results.count else { return nil }
                defer { next += 1 }
                return next
            }
        }

        func finish(_ index: Int, with outcome: Outcome) { lock.withLock { results[index] = outcome } }

        func fail(_ error: any Error) { lock.withLock { failure = failure ?? error } }

        /// One thread ran out of seeds; the last of `width` gets what the caller resumes with.
        func threadDone(of width: Int) -> Result<Void, any Error>? {
            lock.withLock {
                threadsDone += 1
                guard threadsDone == width else { return nil }
                return failure.map { .failure($0) } ?? .success(())
            }
        }

        func outcomes() -> [Outcome] { lock.withLock { results.map { $0! } } }
    }
}
