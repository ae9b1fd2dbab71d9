import FootfallModel
import GRPCCore

extension RPCError {
    /// The gRPC face of a domain error, for the public service and the internal one alike.
    package init(_ error: FootfallError) {
        self.init(code: RPCError.Code(error.kind), message: error.message)
    }
}

extension RPCError.Code {
    package init(_ kind: FootfallError.Kind) {
        switch kind {
        case .invalid: self = .invalidArgument
        case .unauthorized: self = .unauthenticated
        case .forbidden: self = .permissionDenied
        case .notFound: self = .notFound
        case .conflict: self = .alreadyExists
        case .unavailable: self = .unavailable
        case .internal: self = .internalError
        }
    }
}
