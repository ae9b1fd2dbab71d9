@testable import FootfallNode
import Testing

/// Which node answers a read of a site.
@Suite struct ReadRouteTests {
    @Test func aNodeWaitingForRepair_answersNothingItself_whileTheSiteHasOtherReplicas() {
        let replicas = ["node-1", "node-2", "node-3"]
        let served = ReplicationShell.readRoute(replicas: replicas, myself: "node-1", alive: ["node-1", "node-2", "node-3"], needsRepair: false)
        #expect(served.local && served.remote == ["node-2", "node-3"], "a repaired replica answers itself")
        let repairing = ReplicationShell.readRoute(replicas: replicas, myself: "node-1", alive: ["node-1", "node-3"], needsRepair: true)
        #expect(!repairing.local && repairing.remote == ["node-3"], "a repairing one sends the read to a live replica")
        let alone = ReplicationShell.readRoute(replicas: replicas, myself: "node-1", alive: ["node-1"], needsRepair: true)
        #expect(!alone.local && alone.remote.isEmpty, "with no replica live (as right after a restart) it answers nothing from its copy")
        let only = ReplicationShell.readRoute(replicas: ["node-1"], myself: "node-1", alive: ["node-1"], needsRepair: true)
        #expect(only.local, "the site's only replica has nothing to repair from and answers")
        let elsewhere = ReplicationShell.readRoute(replicas: ["node-2", "node-3"], myself: "node-1", alive: ["node-1", "node-2"], needsRepair: false)
        #expect(!elsewhere.local && elsewhere.remote == ["node-2"], "a site this node does not hold goes to its live replicas")
    }
}
