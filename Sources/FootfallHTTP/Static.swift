import FootfallNode
import Foundation

/// The pages and documents the node serves as they are.
enum Static {
    /// `GET /t.js`, from `Static/t.js` in this target's resources; nil (like every resource here)
    /// when the resource bundle was not installed beside the binary: the route then answers 503
    /// instead of crashing.
    static let tracker = resource("t", "js", in: "Static")

    /// The dashboard, a single-page app: `GET /`, and the assets it loads from `/assets/`.
    static let dashboardPage = resource("index", "html", in: "Static/app")

    /// A file the dashboard loads: its text and content type.
    struct Asset: Sendable {
        let text: String
        let contentType: String
    }

    /// Every script module and style sheet of `Static/app` by file name (`app.js`, `format.js`,
    /// `app.css`…): the modules import each other by these names. Empty when the resource bundle
    /// is missing.
    static let dashboardAssets: [String: Asset] = {
        let types = ["js": "text/javascript; charset=utf-8", "css": "text/css; charset=utf-8"]
        guard let folder = Bundle.module.url(forResource: "app", withExtension: nil, subdirectory: "Static"),
              let files = try? FileManager.default.contentsOfDirectory(at: folder, includingPropertiesForKeys: nil)
        else { return [:] }
        var assets = [String: Asset]()
        for file in files {
            guard let type = types[file.pathExtension], let text = try? String(contentsOf: file, encoding: .utf8) else { continue }
            assets[file.lastPathComponent] = Asset(text: text, contentType: type)
        }
        return assets
    }()

    private static func resource(_ name: String, _ ext: String, in subdirectory: String) -> String? {
        Bundle.module.url(forResource: name, withExtension: ext, subdirectory: subdirectory)
            .flatMap { try? String(contentsOf: $0, encoding: .utf8) }
    }

    /// A 1×1 transparent GIF for the no-JS pixel.
    static let transparentGIF: [UInt8] = [
        0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00,
        0xff, 0xff, 0xff, 0x21, 0xf9, 0x04, 0x01, 0x00, 0x00, 0x00, 0x00, 0x2c, 0x00, 0x00, 0x00, 0x00,
        0x01, 0x00, 0x01, 0x00, 0x00, 0x02, 0x02, 0x44, 0x01, 0x00, 0x3b,
    ]

    static func optOutPage(optedOut: Bool) -> String {
        let state = optedOut
            ? "<p><strong>This browser is opted out.</strong> No site measured by this Footfall installation counts your visits.</p>"
            : "<p>This browser is counted anonymously: no cookies, no personal data, no tracking across sites.</p>"
        let button = optedOut
            ? "<button name=\"action\" value=\"optin\">Count my visits again</button>"
            : "<button name=\"action\" value=\"optout\">Opt out on every site</button>"
        return """
        <!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
        <title>Footfall opt-out</title><link rel="icon" href="data:,"><style>body{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem}button{font-size:1rem;padding:.5rem 1rem}</style></head>
        <body><h1>Analytics opt-out</h1>\(state)
        <form method="post" action="/optout">\(button)</form>
        <p>Opting out stores one cookie, <code>footfall_optout</code>, on this installation's address only. Do-Not-Track and Global Privacy Control are honoured too.</p>
        </body></html>
        """
    }

    /// The OpenAPI document as JSON; nil if the table of routes did not serialise (the route then
    /// answers 500, and the tests that read the document fail).
    static let openAPI: String? = (try? JSONSerialization.data(withJSONObject: APIDocument.document, options: [.sortedKeys, .prettyPrinted]))
        .map { String(decoding: $0, as: UTF8.self) }
}
