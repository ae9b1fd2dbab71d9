import FootfallFuzzTargets
import Foundation

// libFuzzer's driver for `make fuzz` (`-sanitize=fuzzer` links libFuzzer into this binary; its
// arguments are libFuzzer's). The target is chosen by FOOTFALL_FUZZ_TARGET; `Fuzz/run.py` runs each
// in turn. With FOOTFALL_FUZZ_WRITE_SEEDS set to a folder, the binary writes every target's seed
// inputs there instead and exits.

@_silgen_name("LLVMFuzzerRunDriver")
func runFuzzerDriver(
    _ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
) -> CInt

private nonisolated(unsafe) var selected: FuzzTarget?

let environment = ProcessInfo.processInfo.environment
if let folder = environment["FOOTFALL_FUZZ_WRITE_SEEDS"] {
    do {
        try SeedWriter.write(to: folder)
        exit(0)
    } catch {
        FileHandle.standardError.write(Data("cannot write the seeds: \(error)\n".utf8))
        exit(1)
    }
}
guard let name = environment["FOOTFALL_FUZZ_TARGET"], let target = FuzzTargets.named(name) else {
    let list = FuzzTargets.all.map { "  \($0.name): \($0.summary)" }.joined(separator: "\n")
    FileHandle.standardError.write(Data("set FOOTFALL_FUZZ_TARGET to one of:\n\(list)\n".utf8))
    exit(2)
}
selected = target
var argc = CommandLine.argc
var argv = CommandLine.unsafeArgv
exit(runFuzzerDriver(&argc, &argv) { data, size in
    selected?.run(data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? [])
    return 0
})
