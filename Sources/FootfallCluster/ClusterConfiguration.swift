import FootfallProtocols
import Foundation

/// How a node takes part in a cluster. Every node runs the internal service, the embedded single
/// node included (on loopback), so `footfall cluster status` works the same against one node or many.
public struct ClusterConfiguration: Sendable {
    /// Where the internal gRPC service (mutual TLS only) listens: an IP literal. Default loopback.
    public var listenHost = "127.0.0.1"
    /// Default 7946.
    public var listenPort = 7946
    /// "host:port" other nodes reach this one at; default `listenHost:listenPort`.
    public var advertiseAddress: String?
    /// Members to join through ("host:port"); empty bootstraps a new cluster.
    public var seeds: [String] = []
    /// Holds `ca.pem` and this node's `NAME.pem` / `NAME-key.pem`; default `DATA/certs`.
    public var certificateDirectory: String?
    public var membership = Membership.Settings()
    public var transport = ClusterTransportSettings()
    /// How long a graceful leave waits for its notices to go out before the process exits.
    public var leaveGracePeriod: Duration = .milliseconds(500)

    public init() {}

    public var advertised: String { advertiseAddress ?? HostAndPort(host: listenHost, port: listenPort).description }

    package func certificateFolder(dataDirectory: String) -> String {
        certificateDirectory ?? (dataDirectory as NSString).appendingPathComponent("certs")
    }
}

/// "host:port", with IPv6 literals in brackets ("[::1]:7946").
public struct HostAndPort: Hashable, Sendable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    public init?(_ text: String) {
        let host: Substring, port: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]"), text[text.index(after: close)...].hasPrefix(":") else { return nil }
            host = text[text.index(after: text.startIndex)..<close]
            port = text[text.index(close, offsetBy: 2)...]
        } else {
            guard let colon = text.lastIndex(of: ":"), !text[..<colon].contains(":") else { return nil }
            host = text[..<colon]
            port = text[text.index(after: colon)...]
        }
        guard !host.isEmpty, host.utf8.count <= 253, let number = Int(port), (1...65535).contains(number) else { return nil }
        self.host = String(host)
        self.port = number
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

/// A cluster setting or state file that cannot work (a missing certificate, a state file of another node).
public struct ClusterSetupError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
