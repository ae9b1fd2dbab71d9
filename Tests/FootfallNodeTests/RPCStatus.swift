import GRPCCore

/// The gRPC status a call ended with: nil when it succeeded, `.unknown` for an error that is not
/// a gRPC status (which no service here should throw).
func rpcStatus(_ call: () async throws -> Void) async -> RPCError.Code? {
    do {
        try await call()
        return nil
    } catch let error as RPCError {
        return error.code
    } catch {
        return .unknown
    }
}
