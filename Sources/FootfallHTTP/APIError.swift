import FootfallModel
import FootfallNode
import Foundation
import Hummingbird

/// An error only HTTP has (a body too large, a rate limit, a body that is not JSON) as a status
/// and a message that says what was wrong; everything else, the routes included, throws the
/// domain's `FootfallError`, mapped to a status below. Both render as `{"error": message}`;
/// never with a raw IP or personal data.
public struct APIError: Error, HTTPResponseError, Sendable {
    public let status: HTTPResponse.Status
    public let message: String
    public var headers: HTTPFields = [:]

    public init(_ status: HTTPResponse.Status, _ message: String) {
        self.status = status
        self.message = message
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        let body = try JSONSerialization.data(withJSONObject: ["error": message], options: [.sortedKeys])
        var fields = headers
        fields[.contentType] = "application/json; charset=utf-8"
        fields[.cacheControl] = "no-store"
        return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }
}

/// The HTTP face of a domain error: its status, and Retry-After when the error knows when.
extension FootfallError: HTTPResponseError {
    public var status: HTTPResponse.Status {
        switch kind {
        case .invalid: .badRequest
        case .unauthorized: .unauthorized
        case .forbidden: .forbidden
        case .notFound: .notFound
        case .conflict: .conflict
        case .unavailable: .serviceUnavailable
        case .internal: .internalServerError
        }
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var error = APIError(status, message)
        if let retryAfterSeconds { error.headers[.retryAfter] = String(retryAfterSeconds) }
        return try error.response(from: request, context: context)
    }
}
