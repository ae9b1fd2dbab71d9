#if canImport(Glibc)
import Glibc
#endif
import FootfallModel

/// The free space a store keeps on its disk. Below it, a batch that only adds visitors' data (hits,
/// a replica's writes, hints, notes) is refused as unavailable, to be retried once space is freed.
/// A batch that deletes anything (erasure, retention, sealing days into segments, purges) goes
/// through, since that is how space comes back and an erasure must not wait for it; so do system
/// records (accounts, sessions, a node's liveness), which are small and keep the node usable.
struct DiskReserve: Sendable {
    let path: String
    let bytes: Int64

    func admit(_ batch: WriteBatch) throws {
        guard bytes > 0, Self.onlyAdds(batch), let free = freeBytes(), free < bytes else { return }
        throw FootfallError(.unavailable, "the data disk has \(free >> 20) MiB free, under the \(bytes >> 20) MiB this node keeps: new data waits until space is freed",
                            retryAfterSeconds: 60)
    }

    /// Whether the batch adds visitors' data without deleting anything.
    static func onlyAdds(_ batch: WriteBatch) -> Bool {
        var addsData = false
        for operation in batch.operations {
            switch operation {
            case .put(let family, _, _), .merge(let family, _, _):
                if family != .system { addsData = true }
            case .delete, .deleteRange:
                return false
            }
        }
        return addsData
    }

    /// Bytes an unprivileged writer may still use on the disk holding `path`; nil if unknown (a
    /// store is not refused for a failed `statvfs`).
    func freeBytes() -> Int64? {
        var info = statvfs()
        guard statvfs(path, &info) == 0 else { return nil }
        let (free, overflow) = Int64(clamping: info.f_bavail).multipliedReportingOverflow(by: Int64(clamping: info.f_frsize))
        return overflow ? Int64.max : free
    }
}
