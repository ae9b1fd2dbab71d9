/// An error whoever asked can act on: what kind of failure it is and a message that says what was
/// wrong. Thrown by the product's own code whatever the caller; each edge maps the kind to its own
/// vocabulary (HTTP status in `HTTPRoutes`, gRPC status in the gRPC services, an exit message in
/// the CLI). A message never carries a raw IP or personal data.
public struct FootfallError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// The request or input is malformed or out of range: asking again unchanged fails again.
        case invalid
        /// No credential, or not a valid one.
        case unauthorized
        /// A valid credential without the right for this.
        case forbidden
        case notFound
        /// It clashes with what exists (an account with that email, a domain still being deleted).
        case conflict
        /// Not now (a quorum out of reach, a busy limit, a node still joining): the same request
        /// may succeed later.
        case unavailable
        /// This node's own state is broken (a damaged file, a replica's unreadable answer).
        case `internal`
    }

    public let kind: Kind
    public let message: String
    /// For `unavailable`: when to try again, if known.
    public var retryAfterSeconds: Int?

    public init(_ kind: Kind, _ message: String, retryAfterSeconds: Int? = nil) {
        self.kind = kind
        self.message = message
        self.retryAfterSeconds = retryAfterSeconds
    }

    public static func invalid(_ message: String) -> FootfallError { FootfallError(.invalid, message) }
    public static func notFound(_ message: String) -> FootfallError { FootfallError(.notFound, message) }
    public static func conflict(_ message: String) -> FootfallError { FootfallError(.conflict, message) }
    public static func unavailable(_ message: String) -> FootfallError { FootfallError(.unavailable, message) }
    public static func `internal`(_ message: String) -> FootfallError { FootfallError(.internal, message) }
    public static let unauthorized = FootfallError(.unauthorized, "sign in or send a valid bearer token")
    public static let forbidden = FootfallError(.forbidden, "this credential does not carry the right for that")

    public var description: String { message }
}
