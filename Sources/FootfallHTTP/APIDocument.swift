import FootfallModel
import FootfallNode

/// The OpenAPI 3.1 document of the authenticated API, built from one table of routes so the
/// document and the tests that walk it (the cross-owner matrix) cannot drift apart.
enum APIDocument {
    struct Route: Sendable {
        var method: String
        var path: String
        var summary: String
        /// The site right it needs, or nil for account-level routes.
        var right: SiteRight?
        var body: [String: String]? = nil
    }

    static let routes: [Route] = [
        Route(method: "post", path: "/api/login", summary: "Sign in; sets the session cookie and returns the CSRF token", right: nil,
              body: ["email": "string", "password": "string"]),
        Route(method: "post", path: "/api/logout", summary: "Sign out", right: nil),
        Route(method: "post", path: "/api/password", summary: "Change the password; signs out other sessions", right: nil,
              body: ["current": "string", "new": "string"]),
        Route(method: "get", path: "/api/me", summary: "The signed-in account (and a session's CSRF token)", right: nil),
        Route(method: "get", path: "/api/sites", summary: "Sites this credential sees", right: nil),
        Route(method: "post", path: "/api/sites", summary: "Register a site", right: nil,
              body: ["domain": "string", "timezone": "string", "retention_days": "integer"]),
        Route(method: "get", path: "/api/sites/{site}", summary: "A site's settings and tracker snippet", right: .read),
        Route(method: "patch", path: "/api/sites/{site}", summary: "Change time zone (for what is stored from then on; recorded days keep theirs) or retention plan (30-360 days)", right: .admin,
              body: ["timezone": "string", "retention_days": "integer"]),
        Route(method: "get", path: "/api/sites/{site}/summary", summary: "Pageviews, visitors, visits, bounce rate, visit duration", right: .read),
        Route(method: "get", path: "/api/sites/{site}/breakdown/{dimension}", summary: "Top values of a dimension", right: .read),
        Route(method: "get", path: "/api/sites/{site}/timeseries", summary: "Pageviews, visitors and visits per hour or day", right: .read),
        Route(method: "get", path: "/api/sites/{site}/realtime", summary: "Visitors online now, live feed, top pages and sources", right: .read),
        Route(method: "get", path: "/api/sites/{site}/live", summary: "Server-sent events: a realtime snapshot every second", right: .read),
        Route(method: "get", path: "/api/sites/{site}/visitors", summary: "Consented visitors, most recent first; ?client_id= or ?email= finds a data subject", right: .visitors),
        Route(method: "get", path: "/api/sites/{site}/visitors/{visitor}", summary: "A visitor's profile and path", right: .visitors),
        Route(method: "patch", path: "/api/sites/{site}/visitors/{visitor}", summary: "Rectify a visitor's personal data", right: .visitors,
              body: ["name": "string", "email": "string", "phone": "string"]),
        Route(method: "get", path: "/api/sites/{site}/visitors/{visitor}/export", summary: "Everything stored about a visitor (right of access)", right: .visitors),
        Route(method: "post", path: "/api/sites/{site}/visitors/{visitor}/notes", summary: "Add a CRM note", right: .visitors, body: ["text": "string"]),
        Route(method: "delete", path: "/api/sites/{site}/visitors/{visitor}/notes/{note}", summary: "Delete a CRM note", right: .visitors),
        Route(method: "put", path: "/api/sites/{site}/visitors/{visitor}/tags", summary: "Replace a visitor's tags", right: .visitors, body: ["tags": "array"]),
        Route(method: "post", path: "/api/sites/{site}/erasures", summary: "Erase a visitor (right to be forgotten); returns the receipt. In a cluster, answered 503 until a quorum of the site's replicas applied it: send it again after Retry-After", right: .erase,
              body: ["visitor": "string", "client_id": "string", "email": "string"]),
        Route(method: "get", path: "/api/sites/{site}/erasures/{visitor}", summary: "An erasure's receipt", right: .erase),
        Route(method: "get", path: "/api/tokens", summary: "API tokens of the account (session only)", right: nil),
        Route(method: "post", path: "/api/tokens", summary: "Create a token scoped to sites and rights (session only)", right: nil,
              body: ["name": "string", "sites": "array", "rights": "array"]),
        Route(method: "delete", path: "/api/tokens/{token}", summary: "Revoke a token (session only)", right: nil),
        Route(method: "get", path: "/api/cluster", summary: "Members, ring ownership, hints pending and repair state (operator only)", right: nil),
    ]

    static var document: [String: Any] {
        var paths = [String: [String: Any]]()
        for route in routes {
            var operation: [String: Any] = [
                "summary": route.summary,
                "security": [["bearer": []], ["session": []]],
                "responses": [
                    "200": ["description": "OK"], "400": ["description": "Malformed input; the body says what"],
                    "401": ["description": "No valid credential"], "403": ["description": "The credential lacks the right"],
                    "404": ["description": "No such resource for this credential"],
                    "503": ["description": "In a cluster, too few of the site's replicas answered; send it again after the Retry-After header's seconds"],
                ],
            ]
            if let right = route.right { operation["x-footfall-right"] = right.rawValue }
            let parameters = route.path.split(separator: "/").filter { $0.hasPrefix("{") }.map { part -> [String: Any] in
                ["name": String(part.dropFirst().dropLast()), "in": "path", "required": true, "schema": ["type": "string"]]
            }
            if !parameters.isEmpty { operation["parameters"] = parameters }
            if let body = route.body {
                operation["requestBody"] = ["content": ["application/json": ["schema": [
                    "type": "object", "properties": body.mapValues { ["type": $0] },
                ]]]]
            }
            paths[route.path, default: [:]][route.method] = operation
        }
        paths["/api/event"] = ["post": [
            "summary": "Collect one hit, an array of hits, or {\"events\": [...]} (at most 100)",
            "responses": ["202": ["description": "Accepted; counts of stored, duplicate and dropped hits"],
                          "400": ["description": "Malformed hit"], "404": ["description": "Unknown site"],
                          "413": ["description": "Body too large"], "429": ["description": "Rate limited"]],
        ]]
        return [
            "openapi": "3.1.0",
            "info": ["title": "Footfall API", "version": "1"],
            "components": ["securitySchemes": [
                "bearer": ["type": "http", "scheme": "bearer"],
                "session": ["type": "apiKey", "in": "cookie", "name": "footfall_session"],
            ]],
            "paths": paths,
        ]
    }
}
