import ArgumentParser
import FootfallCluster
import FootfallModel
import FootfallNode
import FootfallWire
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2Posix

/// `footfall certs`: the cluster's private CA and the certificates issued from it.
struct CertsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "certs", abstract: "Create the cluster CA and node or operator certificates.",
        subcommands: [Init.self, NodeCertificate.self, OperatorCertificate.self])

    struct Folder: ParsableArguments {
        @Option(help: "Certificate folder (env FOOTFALL_CERTS).")
        var dir: String = ProcessInfo.processInfo.environment["FOOTFALL_CERTS"] ?? "./certs"
    }

    struct Init: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a cluster CA (ca.pem, ca-key.pem). Keep ca-key.pem off the nodes.")
        @OptionGroup var folder: Folder
        @Option(help: "A name for the cluster, shown in the CA's subject.") var clusterName = "footfall"

        func run() async throws {
            let directory = CertificateDirectory(path: folder.dir)
            try directory.writeAuthority(ClusterCertificates.createAuthority(clusterName: clusterName, now: Date(),
                                                                             validity: CertificateLifetimes.authority))
            print("created the cluster CA in \(folder.dir) (ca.pem is the trust root every node needs; ca-key.pem issues certificates)")
        }
    }

    struct NodeCertificate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "node", abstract: "Issue NAME.pem / NAME-key.pem for a node.")
        @OptionGroup var folder: Folder
        @Option(help: "How long it is valid: a number and s, m, h or d.") var validFor = Validity(CertificateLifetimes.leaf)
        @Argument(help: "The node's name (its --node-name).") var name: String

        func run() async throws {
            try issue(.node(name), authority: folder.dir, into: folder.dir, validity: validFor.duration)
        }
    }

    struct OperatorCertificate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "operator", abstract: "Issue a certificate for `footfall cluster` commands.")
        @OptionGroup var folder: Folder
        @Option(help: "How long it is valid: a number and s, m, h or d.") var validFor = Validity(CertificateLifetimes.leaf)
        @Argument(help: "The operator's name.") var name: String

        func run() async throws {
            try issue(.operator(name), authority: folder.dir, into: folder.dir, validity: validFor.duration)
        }
    }

    /// Issues `identity` a certificate from the CA in `authority`, written to `folder`.
    static func issue(_ identity: ClusterIdentity, authority: String, into folder: String, validity: Duration) throws {
        let credential = try ClusterCertificates.issue(identity, authority: CertificateDirectory(path: authority).readAuthority(),
                                                       now: Date(), validity: validity)
        try CertificateDirectory(path: folder).writeCredential(credential, name: identity.name)
        let until = try credential.certificate().notValidAfter.formatted(.iso8601)
        print("issued \(identity.dnsName), valid until \(until): \(folder)/\(identity.name).pem and \(identity.name)-key.pem")
    }
}

/// A certificate's validity on the command line: "730d", "12h", "30m", "90s".
struct Validity: ExpressibleByArgument, CustomStringConvertible {
    let duration: Duration
    let description: String

    init(_ duration: Duration) {
        self.duration = duration
        description = "\(duration.components.seconds / 86_400)d"
    }

    init?(argument: String) {
        let units: [Character: Int64] = ["s": 1, "m": 60, "h": 3_600, "d": 86_400]
        // At most 100 years, so the multiplication below cannot overflow.
        guard let unit = argument.last.flatMap({ units[$0] }), let count = Int64(argument.dropLast()),
              count > 0, count <= 36_500 * 86_400 / unit
        else { return nil }
        duration = .seconds(count * unit)
        description = argument
    }
}

/// `footfall cluster`: what a running cluster looks like, asked of any node over mutual TLS with
/// an operator certificate.
struct ClusterCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cluster", abstract: "Show members and ring ownership; repair; remove a node that will not come back; revoke a node's or an operator's certificates.",
        subcommands: [Status.self, RingCommand.self, Repair.self, Decommission.self, Remove.self, Revoke.self, Certificates.self])

    struct Connection: ParsableArguments {
        @Option(help: "A node's internal address (env FOOTFALL_CLUSTER_NODE).")
        var node = ProcessInfo.processInfo.environment["FOOTFALL_CLUSTER_NODE"] ?? "127.0.0.1:7946"
        @Option(help: "Folder with ca.pem and the operator certificate (env FOOTFALL_CERTS).")
        var certs = ProcessInfo.processInfo.environment["FOOTFALL_CERTS"] ?? "./data/certs"
        @Option(name: .customLong("as"), help: "Operator certificate name (env FOOTFALL_OPERATOR).")
        var operatorName = ProcessInfo.processInfo.environment["FOOTFALL_OPERATOR"] ?? "admin"

        func withNode<T: Sendable>(_ body: @Sendable @escaping (Footfall_V1_NodeService.Client<HTTP2ClientTransport.Posix>) async throws -> T) async throws -> T {
            guard let target = HostAndPort(node) else { throw ValidationError("--node must be host:port") }
            let directory = CertificateDirectory(path: certs), operatorName = operatorName
            let credential = try ReloadingCredential(label: "operator", read: { try directory.readCredential(name: operatorName) })
            let transport = try ClusterTransport.clientTransport(
                to: nil, host: target.host, port: target.port, credential: credential,
                authorityCertificatePEM: directory.readAuthorityCertificatePEM())
            return try await withGRPCClient(transport: transport) { client in
                try await body(Footfall_V1_NodeService.Client(wrapping: client))
            }
        }
    }

    static let options = ClusterTransport.callOptions(timeout: .seconds(5))

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Members with state, incarnation, address and load.")
        @OptionGroup var connection: Connection
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            let reply = try await connection.withNode { try await $0.clusterStatus(Footfall_V1_ClusterStatusRequest(), options: ClusterCommand.options) }
            if json {
                print(try reply.jsonString())
                return
            }
            print("as seen by \(reply.answeredBy): ring epoch \(reply.ringEpoch), local health \(reply.localHealth)")
            let rows = reply.members.map { row -> [String] in
                [row.record.member.name, ClusterCommand.describe(row.record.status), "\(row.record.incarnation)",
                 "\(row.record.member.uid)", row.record.member.address, ClusterCommand.describe(row.ownership),
                 String(format: "%.1f%%", row.primaryShare * 100),
                 row.isAnsweringNode ? ClusterCommand.bytes(row.eventBytes) : "-"]
            }
            ClusterCommand.table(["NAME", "STATE", "INCARNATION", "UID", "ADDRESS", "RING", "PRIMARY", "EVENT DATA"], rows)
        }
    }

    struct RingCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "ring", abstract: "Ring ownership per node, and where sites live.")
        @OptionGroup var connection: Connection
        @Option(name: .customLong("site"), help: "Show the replicas of this site (repeatable).") var sites: [String] = []
        @Option(help: "Replication factor for --site.") var replicationFactor = 3
        @Flag(help: "Print JSON.") var json = false

        func validate() throws {
            guard (1...9).contains(replicationFactor) else { throw ValidationError("--replication-factor must be 1 to 9") }
        }

        func run() async throws {
            let request = Footfall_V1_ClusterRingRequest.with {
                $0.sites = sites
                $0.replicationFactor = UInt32(replicationFactor)
            }
            let reply = try await connection.withNode { try await $0.clusterRing(request, options: ClusterCommand.options) }
            if json {
                print(try reply.jsonString())
                return
            }
            print("ring epoch \(reply.epoch)")
            ClusterCommand.table(["NAME", "RING", "VNODES", "PRIMARY"], reply.owners.map {
                [$0.name, ClusterCommand.describe($0.state), "\($0.virtualNodes)", String(format: "%.1f%%", $0.primaryShare * 100)]
            })
            for placement in reply.placements {
                let moving = placement.pendingReplicas == placement.replicas ? "" : " → \(placement.pendingReplicas.joined(separator: ", "))"
                print("\(placement.site) @ \(String(placement.position, radix: 16)): \(placement.replicas.joined(separator: ", "))\(moving)")
            }
        }
    }

    struct Repair: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run anti-entropy on one node now: compare its sites with their other replicas and stream what differs.")
        @OptionGroup var connection: Connection
        @Option(name: .customLong("site"), help: "Repair only this site (repeatable); default every site the node holds.")
        var sites: [String] = []

        func run() async throws {
            let request = Footfall_V1_RepairCommand.with { $0.sites = sites }
            let unreachable = try await connection.withNode { client in
                try await client.repair(request, options: ClusterTransport.callOptions(timeout: .seconds(3600))) { response in
                    var unreachable = Set<String>()
                    for try await progress in response.messages {
                        unreachable.formUnion(progress.unreachable)
                        let missing = progress.unreachable.isEmpty ? "" : "; unreachable: \(progress.unreachable.joined(separator: ", "))"
                        ClusterCommand.report("[\(progress.sitesDone)/\(progress.sitesTotal)] \(progress.site): \(progress.slicesDiffering) slices differed, "
                                              + "\(progress.eventsStreamed) events and \(progress.erasuresStreamed) erasures streamed so far\(missing)")
                    }
                    return unreachable
                }
            }
            if unreachable.isEmpty {
                print("repair finished")
            } else {
                print("repair finished without \(unreachable.sorted().joined(separator: ", ")) (unreachable); run it again when they are back")
                throw ExitCode(2)
            }
        }
    }

    struct Decommission: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Stream a node's ranges to the members that take them over, then take it off the ring (it may then be stopped).")
        @OptionGroup var connection: Connection
        @Argument(help: "The node to decommission; --node may be any member.") var name: String

        func run() async throws {
            // Any member knows where NAME is; the command itself goes to NAME.
            let status = try await connection.withNode { try await $0.clusterStatus(Footfall_V1_ClusterStatusRequest(), options: ClusterCommand.options) }
            guard let row = status.members.first(where: { $0.record.member.name == name }) else {
                throw ValidationError("\(status.answeredBy) knows no member \(name)")
            }
            var target = connection
            target.node = row.record.member.address
            let finished = try await target.withNode { client in
                try await client.decommission(.with { $0.name = name }, options: ClusterTransport.callOptions(timeout: .seconds(24 * 3600))) { response in
                    var finished = false
                    var previous = ""
                    for try await progress in response.messages {
                        let detail = progress.detail.isEmpty ? "" : " — \(progress.detail)"
                        let line = "\(progress.node) \(ClusterCommand.describe(progress.state)): \(progress.sitesDone)/\(progress.sitesTotal) sites, "
                            + "\(progress.eventsStreamed) events streamed\(detail)"
                        // The node reports twice a second; a line that says nothing new is left out.
                        if line != previous { ClusterCommand.report(line) }
                        previous = line
                        finished = progress.finished
                    }
                    return finished
                }
            }
            print(finished ? "\(name) holds no ranges now; stop it" : "the connection ended before \(name) finished; run the command again to follow it")
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Take a dead node's name off the ring (a new ring epoch).")
        @OptionGroup var connection: Connection
        @Argument var name: String

        func run() async throws {
            let reply = try await connection.withNode {
                try await $0.removeMember(.with { $0.name = name }, options: ClusterCommand.options)
            }
            print("removed \(name); ring epoch \(reply.ringEpoch)")
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Revoke a node's (or with --operator, an operator's) certificates: every member refuses their calls (a certificate issued for the name later works).",
            discussion: "An operator cannot revoke the certificate it runs this command with: issue another operator certificate first (`footfall certs operator NAME`), and revoke with that one.")
        @OptionGroup var connection: Connection
        @Flag(name: .customLong("operator"), help: "NAME is an operator, not a node.") var isOperator = false
        @Argument(help: "The node (or operator) whose certificates to revoke.") var name: String

        func run() async throws {
            let reply = try await connection.withNode {
                try await $0.revokeNode(.with { $0.name = name; $0.isOperator = isOperator }, options: ClusterCommand.options)
            }
            let at = Date(timeIntervalSince1970: Double(reply.revokedMs) / 1000).formatted(.iso8601)
            if isOperator {
                print("revoked the operator certificates of \(name) issued up to \(at)")
            } else {
                print("revoked the certificates of \(name) issued up to \(at); if it holds ranges, stop it and `footfall cluster remove \(name)`")
            }
        }
    }

    struct Certificates: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "certs", abstract: "Renew the members' node certificates.", subcommands: [Rotate.self])

        struct Rotate: AsyncParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Issue every member (or each NAME) a new node certificate, before the old ones expire.",
                discussion: """
                    Run it where the cluster CA's key is. Each node's new NAME.pem and NAME-key.pem are written to \
                    OUT/NAME/; copy them into that node's certificate folder (its --certs, by default DATA/certs). \
                    A node reads its certificate again every 10 seconds and serves the new one from its next \
                    connection on, without a restart; connections open before keep working until they close.
                    """)
            @OptionGroup var connection: Connection
            @Option(help: "Folder with the cluster CA's key, ca-key.pem (by default --certs).") var ca: String?
            @Option(help: "Where to write each node's new certificate, in a folder per node.") var out: String
            @Option(help: "How long the new certificates are valid: a number and s, m, h or d.") var validFor = Validity(CertificateLifetimes.leaf)
            @Argument(help: "Members to renew; all by default.") var names: [String] = []

            func run() async throws {
                let status = try await connection.withNode { try await $0.clusterStatus(Footfall_V1_ClusterStatusRequest(), options: ClusterCommand.options) }
                let members = status.members.filter { $0.record.status != .left }.map(\.record.member.name)
                if let unknown = names.first(where: { !members.contains($0) }) {
                    throw ValidationError("\(status.answeredBy) knows no member \(unknown)")
                }
                for name in names.isEmpty ? members.sorted() : names {
                    try CertsCommand.issue(.node(name), authority: ca ?? connection.certs,
                                           into: (out as NSString).appendingPathComponent(name), validity: validFor.duration)
                }
                print("copy each OUT/NAME/ into that node's certificate folder; it serves the new certificate within 10 s")
            }
        }
    }

    /// Prints one line of a long command's progress at once, so it reaches a pipe or a log file
    /// while the command runs (stdout is block-buffered when it is not a terminal).
    static func report(_ line: String) {
        print(line)
        fflush(nil)
    }

    static func describe(_ status: Footfall_V1_MemberStatus) -> String {
        switch status {
        case .alive: "alive"
        case .suspect: "suspect"
        case .dead: "dead"
        case .left: "left"
        default: "unknown"
        }
    }

    static func describe(_ state: Footfall_V1_OwnershipState) -> String {
        switch state {
        case .joining: "joining"
        case .normal: "normal"
        case .leaving: "leaving"
        case .removed: "removed"
        default: "-"
        }
    }

    static func bytes(_ count: UInt64) -> String {
        count < 1 << 20 ? "\(count / 1024) KiB" : String(format: "%.1f MiB", Double(count) / 1_048_576)
    }

    static func table(_ header: [String], _ rows: [[String]]) {
        let all = [header] + rows
        let widths = header.indices.map { column in all.map { $0[column].count }.max() ?? 0 }
        for row in all {
            print(row.enumerated().map { $0.element.padding(toLength: widths[$0.offset], withPad: " ", startingAt: 0) }
                .joined(separator: "  ").trimmingCharacters(in: .whitespaces))
        }
    }
}
