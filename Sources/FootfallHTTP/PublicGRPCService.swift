import FootfallCluster
import FootfallNode
import GRPCCore
import GRPCNIOTransportHTTP2Posix
import ServiceLifecycle

/// Serves the public gRPC service next to HTTP: with the node's HTTPS certificate when it has
/// one, otherwise in plain text, which (like plain HTTP) is allowed on loopback only.
struct PublicGRPCService: Service {
    let server: GRPCServer<HTTP2ServerTransport.Posix>

    /// `https`: the node's HTTPS certificate, if it has one.
    init(node: Node, port: Int, https: ReloadingCredential?) throws {
        let configuration = node.configuration
        let security: HTTP2ServerTransport.Posix.TransportSecurity
        if let https {
            security = try .tls(certificateReloader: https)
        } else {
            security = .plaintext
        }
        let host = configuration.httpHost == "localhost" ? "127.0.0.1" : configuration.httpHost
        server = GRPCServer(
            transport: HTTP2ServerTransport.Posix(
                address: host.contains(":") ? .ipv6(host: host, port: port) : .ipv4(host: host, port: port),
                transportSecurity: security),
            services: [node.publicService])
    }

    func run() async throws {
        let server = server
        try await withGracefulShutdownHandler {
            try await server.serve()
        } onGracefulShutdown: {
            server.beginGracefulShutdown()
        }
    }
}
