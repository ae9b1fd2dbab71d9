import FootfallNode
import Hummingbird
import NIOCore

/// Hummingbird's request context plus the peer address, which the ingest path needs for geo,
/// rate limiting and the cookieless hash.
public struct FootfallRequestContext: RequestContext, RemoteAddressRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let remoteAddress: SocketAddress?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
    }

    /// Request bodies above this are refused with 413 before they are read in full.
    public var maxUploadSize: Int { 256 * 1024 }
}
