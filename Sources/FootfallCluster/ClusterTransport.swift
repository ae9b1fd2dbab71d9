import FootfallModel
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2Posix
import NIOCore
import NIOSSL
import X509

// gRPC between cluster members: HTTP/2 over mutual TLS, where both ends trust the cluster CA and
// nothing else (the transport's mTLS defaults trust the system store: overridden below). The
// client verifies the server's certificate against the DNS form of the peer it meant to reach;
// the server requires a client certificate and reads the caller's identity from its SAN.
//
// Running them (grpc-swift-2):
//
//     let server = GRPCServer(transport: try ClusterTransport.serverTransport(...), services: [...])
//     try await server.serve()                  // returns after server.beginGracefulShutdown()
//
//     try await withGRPCClient(transport: try ClusterTransport.clientTransport(to: .node("n2"), ...)) { client in
//         let peer = Footfall_V1_NodeService.Client(wrapping: client)
//         _ = try await peer.gossip(envelope, options: ClusterTransport.callOptions(timeout: .seconds(2)))
//     }
//
// or, for a long-lived client: `let client = GRPCClient(transport: transport)`, run
// `try await client.runConnections()` in a task, call `client.beginGracefulShutdown()` to stop.

/// Timers and limits shared by both ends, chosen together so neither end punishes the other.
public struct ClusterTransportSettings: Sendable {
    /// How often each end pings a connection it has not heard from; a dead peer (power loss,
    /// partition) is noticed within interval + timeout instead of at the next RPC's deadline.
    public var keepaliveInterval: Duration = .seconds(20)
    public var keepaliveTimeout: Duration = .seconds(10)
    /// Largest request message a server accepts (the transport's default is 4 MiB).
    public var maxRequestBytes: Int = 16 * 1024 * 1024
    /// Reconnect pacing after a failed connect: quick at first (a restarting node is back in
    /// seconds), capped at 2 s so a peer that is back is reachable before membership suspects it
    /// again; a long-dead peer costs one connect attempt every 2 s.
    public var connectBackoff = HTTP2ClientTransport.Config.Backoff(
        initial: .milliseconds(250), max: .seconds(2), multiplier: 1.6, jitter: 0.2)
    /// Close connections whose handshake settled below TLS 1.3. The transport's TLS config has no
    /// minimum-version setting (it hard-codes TLS 1.2), so this is checked after the handshake.
    public var requireTLS13 = true

    public init() {}
}

public enum ClusterTransport {
    /// The server end: listens on `host:port` (an IP literal; "0.0.0.0" or "::" for all) and
    /// accepts only clients whose certificate chains to the cluster CA.
    ///
    /// `.noHostnameVerification` on the server side still verifies the client's chain and
    /// requires a client certificate (NIOSSL maps it to SSL_VERIFY_FAIL_IF_NO_PEER_CERT); there is
    /// no hostname to match a client against, so its identity is read in the handler instead
    /// (`peerIdentity(of:)`, `ClusterAuthenticationInterceptor`).
    public static func serverTransport(
        host: String,
        port: Int,
        credential: ReloadingCredential,
        authorityCertificatePEM: String,
        settings: ClusterTransportSettings = ClusterTransportSettings()
    ) throws -> HTTP2ServerTransport.Posix {
        // The transport builds its TLS context only when it starts listening, and reports bad PEM
        // as a generic "couldn't create SSL context"; parse here so mistakes fail early and clearly.
        _ = try ClusterCertificates.certificate(fromPEM: authorityCertificatePEM)

        // Each handshake asks `credential` for the certificate to present: a renewed one is served
        // from the next connection on.
        let security = try HTTP2ServerTransport.Posix.TransportSecurity.mTLS(certificateReloader: credential) { tls in
            tls.trustRoots = .certificates([.bytes(Array(authorityCertificatePEM.utf8), format: .pem)])
            tls.clientCertificateVerification = .noHostnameVerification
            // Every cluster client is grpc-swift and offers "grpc-exp"/"h2"; anything that does not
            // negotiate ALPN is not one of ours.
            tls.requireALPN = true
        }

        let config = HTTP2ServerTransport.Posix.Config.defaults { config in
            config.connection.keepalive = HTTP2ServerTransport.Config.Keepalive(
                time: settings.keepaliveInterval,
                timeout: settings.keepaliveTimeout,
                // Clients ping every keepaliveInterval even between RPCs; the server accepts pings
                // twice as often as that before it counts strikes (three strikes → GOAWAY
                // "too_many_pings"), so jitter never gets a healthy peer disconnected.
                clientBehavior: HTTP2ServerTransport.Config.ClientKeepaliveBehavior(
                    minPingIntervalWithoutCalls: settings.keepaliveInterval / 2,
                    allowWithoutCalls: true))
            config.rpc.maxRequestPayloadSize = settings.maxRequestBytes
            config.channelDebuggingCallbacks.onAcceptTCPConnection = { channel in
                HandshakeChecks.install(on: channel, requireTLS13: settings.requireTLS13)
            }
        }

        return HTTP2ServerTransport.Posix(
            address: host.contains(":") ? .ipv6(host: host, port: port) : .ipv4(host: host, port: port),
            transportSecurity: security,
            config: config)
    }

    /// The client end towards one peer at `host:port` (a DNS name or IP literal).
    ///
    /// The peer's certificate must chain to the cluster CA *and* carry `peer.dnsName` as its SAN:
    /// the transport uses `http2.authority` as the TLS server name for SNI and for NIOSSL's
    /// hostname check (`.fullVerification`), so an address that now belongs to another node, or
    /// an operator certificate, fails the handshake. With no `peer` (a seed address whose node is
    /// not known yet) only the chain to the cluster CA is checked.
    public static func clientTransport(
        to peer: ClusterIdentity?,
        host: String,
        port: Int,
        credential: ReloadingCredential,
        authorityCertificatePEM: String,
        settings: ClusterTransportSettings = ClusterTransportSettings()
    ) throws -> HTTP2ClientTransport.Posix {
        try peer?.validate()
        _ = try ClusterCertificates.certificate(fromPEM: authorityCertificatePEM)

        let security = try HTTP2ClientTransport.Posix.TransportSecurity.mTLS(certificateReloader: credential) { tls in
            tls.trustRoots = .certificates([.bytes(Array(authorityCertificatePEM.utf8), format: .pem)])
            tls.serverCertificateVerification = peer == nil ? .noHostnameVerification : .fullVerification
        }

        let config = HTTP2ClientTransport.Posix.Config.defaults { config in
            // Also the TLS server name (SNI), which may not be an IP literal: a peer not known by
            // name gets a placeholder, checked by nobody (`.noHostnameVerification` above).
            config.http2.authority = peer?.dnsName ?? "any.node.\(ClusterIdentity.domain)"
            config.backoff = settings.connectBackoff
            config.connection.keepalive = HTTP2ClientTransport.Config.Keepalive(
                time: settings.keepaliveInterval,
                timeout: settings.keepaliveTimeout,
                allowWithoutCalls: true)
            config.channelDebuggingCallbacks.onCreateTCPConnection = { channel in
                HandshakeChecks.install(on: channel, requireTLS13: settings.requireTLS13)
            }
        }

        return try HTTP2ClientTransport.Posix(
            target: .dns(host: host, port: port),
            transportSecurity: security,
            config: config)
    }

    /// Who called: the identity in the SAN of the client certificate the TLS handshake verified
    /// against the cluster CA. Nil if the RPC did not arrive over this Posix TLS transport (e.g. an
    /// in-process test transport) or the certificate names no single cluster identity.
    ///
    /// grpc-swift-nio-transport puts an `HTTP2ServerTransport.Posix.Context` into
    /// `ServerContext.transportSpecific` for every RPC; its `peerCertificate` is read from the
    /// connection's NIOSSLHandler after the handshake, so it is the verified leaf.
    public static func peerIdentity(of context: ServerContext) -> ClusterIdentity? {
        peerCertificate(of: context).flatMap(ClusterCertificates.identity(of:))
    }

    /// The caller's leaf certificate, as the TLS handshake verified it (see `peerIdentity(of:)`).
    public static func peerCertificate(of context: ServerContext) -> Certificate? {
        (context.transportSpecific as? HTTP2ServerTransport.Posix.Context)?.peerCertificate
    }

    /// Options for one cluster call. `timeout` becomes the RPC's deadline: the client fails the
    /// call with `.deadlineExceeded` when it passes, counting any wait for a connection, and sends
    /// the remainder as grpc-timeout so the server cancels work the caller has given up on.
    /// `waitForReady: false` (also the transport's default when nil) fails at once while the
    /// peer's connection is in transient failure instead of queueing until the deadline: a
    /// cluster caller would rather try another replica.
    public static func callOptions(timeout: Duration, waitForReady: Bool = false) -> CallOptions {
        var options = CallOptions.defaults
        options.timeout = timeout
        options.waitForReady = waitForReady
        return options
    }
}

/// Rejects every RPC whose caller presents no cluster identity, then every call made with a
/// revoked certificate, then asks `isAllowed` (e.g. "operators may call the admin service, nodes
/// the replication service"). Install it on the server:
/// `GRPCServer(transport:services:interceptors: [ClusterAuthenticationInterceptor(...)])`.
///
/// Revocation is checked per call rather than in the TLS handshake: the transport's only hook
/// there (`customVerificationCallback`) replaces NIOSSL's chain verification with our own, and a
/// connection opened before a revocation would live on anyway. Per call, a revocation takes effect
/// on open connections too.
public struct ClusterAuthenticationInterceptor: ServerInterceptor {
    public typealias Policy = @Sendable (_ caller: ClusterIdentity, _ method: MethodDescriptor) -> Bool
    public typealias Revocations = @Sendable (_ caller: ClusterIdentity, _ certificate: Certificate) -> Bool

    private let isAllowed: Policy
    private let isRevoked: Revocations

    public init(allowing isAllowed: @escaping Policy = { _, _ in true }, refusing isRevoked: @escaping Revocations = { _, _ in false }) {
        self.isAllowed = isAllowed
        self.isRevoked = isRevoked
    }

    public func intercept<Input: Sendable, Output: Sendable>(
        request: StreamingServerRequest<Input>,
        context: ServerContext,
        next: @Sendable (
            _ request: StreamingServerRequest<Input>,
            _ context: ServerContext
        ) async throws -> StreamingServerResponse<Output>
    ) async throws -> StreamingServerResponse<Output> {
        guard let certificate = ClusterTransport.peerCertificate(of: context),
              let caller = ClusterCertificates.identity(of: certificate)
        else {
            throw RPCError(code: .unauthenticated, message: "this call carries no Footfall cluster certificate")
        }
        guard !isRevoked(caller, certificate) else {
            throw RPCError(code: .permissionDenied, message: "\(caller)'s certificate is revoked")
        }
        guard isAllowed(caller, context.descriptor) else {
            throw RPCError(code: .permissionDenied, message: "\(caller) may not call \(context.descriptor.fullyQualifiedMethod)")
        }
        return try await next(request, context)
    }
}

/// What the handshake settled, checked at the first read after it: a connection below TLS 1.3 is
/// closed, and every connection is closed when the peer's certificate expires.
///
/// Sits right after the NIOSSLHandler. NIOSSL passes on application data only once the handshake
/// is complete, so the first read is the earliest moment the version and the peer are known (and,
/// on the server, comes before any request reaches gRPC).
///
/// TLS 1.3: in practice two Footfall nodes always agree on it and its downgrade sentinel stops a
/// man in the middle forcing 1.2; this turns that into a rule rather than a property of today's
/// BoringSSL.
///
/// Expiry: the handshake refuses an expired certificate, but HTTP/2 connections live for as long
/// as both ends keep them, so without this a peer whose certificate ran out would go on being
/// served (and its answers taken) over the connections it opened before. Both ends close at the
/// other's expiry, so a node with an expired certificate is cut off from every peer until it
/// serves a renewed one, which it reloads from disk without a restart.
package final class HandshakeChecks: ChannelInboundHandler {
    package typealias InboundIn = ByteBuffer

    private let requireTLS13: Bool
    private var checked = false
    private var expiry: Scheduled<Void>?

    package init(requireTLS13: Bool) {
        self.requireTLS13 = requireTLS13
    }

    package func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if !checked {
            let pipeline = context.pipeline.syncOperations
            if requireTLS13, (try? pipeline.nioSSL_tlsVersion()) != .tlsv13 {
                // Not marked checked: nothing read before the close completes is passed on.
                context.close(promise: nil)
                return
            }
            checked = true
            if let peer = try? pipeline.nioSSL_peerCertificate() {
                let left = Double(peer.notValidAfter) - Date().timeIntervalSince1970
                // Whole seconds (a certificate's dates are), at least zero, at most a year (a
                // connection that old is closed then and opened again, which checks again), so
                // the conversion cannot trap.
                let seconds = Int64(max(0, min(left.rounded(.up), 365 * 86_400)))
                expiry = context.eventLoop.scheduleTask(in: .seconds(seconds)) { [channel = context.channel] in
                    channel.close(promise: nil)
                }
            }
        }
        context.fireChannelRead(data)
    }

    package func channelInactive(context: ChannelHandlerContext) {
        expiry?.cancel()
        expiry = nil
        context.fireChannelInactive()
    }

    /// For `channelDebuggingCallbacks`: both run on the connection's event loop while its pipeline
    /// is being set up, after the transport added its NIOSSLHandler. Added synchronously there (no
    /// hop), so the handler is in place before any byte of the handshake is read.
    package static func install(on channel: any Channel, requireTLS13: Bool) -> EventLoopFuture<Void> {
        @Sendable func add() throws {
            let pipeline = channel.pipeline.syncOperations
            let tls = try pipeline.handler(type: NIOSSLHandler.self)
            try pipeline.addHandler(HandshakeChecks(requireTLS13: requireTLS13), position: .after(tls))
        }
        guard channel.eventLoop.inEventLoop else { return channel.eventLoop.submit(add) }
        return channel.eventLoop.makeCompletedFuture(withResultOf: add)
    }
}
