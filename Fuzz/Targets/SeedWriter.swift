import Foundation

/// Writes each target's seeds as Fuzz/Corpus/<target>/seed-N (what `make fuzz-seeds` commits).
public enum SeedWriter {
    public static func write(to folder: String) throws {
        for target in FuzzTargets.all {
            let directory = URL(fileURLWithPath: folder).appendingPathComponent(target.name)
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            for (index, seed) in target.seeds().enumerated() {
                try Data(seed).write(to: directory.appendingPathComponent(String(format: "seed-%02d", index)))
            }
        }
    }
}
