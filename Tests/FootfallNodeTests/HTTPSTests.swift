import FootfallHTTP
import FootfallModel
import FootfallNode
import Foundation
import Logging
import Testing

/// Promise 12's "HTTPS by default": a node with a certificate serves HTTPS and redirects plain
/// HTTP to it; without one it serves plain HTTP only on loopback.
@Suite struct HTTPSTests {
    /// Runs a command on a thread of its own (it waits for the server under test, which needs the
    /// cooperative pool this test would otherwise block).
    @discardableResult
    static func run(_ arguments: [String]) async throws -> String {
        try await withCheckedThrowingContinuation { continuation in
            Thread { continuation.resume(with: Result { try runBlocking(arguments) }) }.start()
        }
    }

    static func runBlocking(_ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: data, as: UTF8.self)
    }

    @Test func promise12_httpsServed_andPlainHTTPRedirects() async throws {
        let t = try TestNode()
        let cert = t.directory + "/cert.pem", key = t.directory + "/key.pem"
        try await HTTPSTests.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                            "-keyout", key, "-out", cert])
        var configuration = t.node.configuration
        configuration.tlsCertificate = cert
        configuration.tlsKey = key
        configuration.httpPort = Int.random(in: 20_000...40_000)
        configuration.httpsPort = configuration.httpPort + 1
        configuration.cluster.listenPort = configuration.httpPort + 2
        configuration.publicGRPCPort = configuration.httpPort + 3
        configuration.dataDirectory = t.directory + "/https-node"
        let logs = t.logs
        let node = try Node(configuration: configuration, clock: t.clock, kv: t.node.kv, geo: FixedGeo(),
                            logger: Logger(label: "footfall", factory: { _ in logs }))
        let server = Task { try await NodeServer.run(node) }
        defer { server.cancel() }
        var health = ""
        for _ in 0..<50 where !health.contains("\"ok\"") {
            try await Task.sleep(for: .milliseconds(100))
            health = try await HTTPSTests.run(["curl", "-sk", "--max-time", "2", "https://127.0.0.1:\(configuration.httpsPort)/health"])
        }
        #expect(health.contains("\"status\":\"ok\""))
        // Browsers that once reached the node over HTTPS never try plain HTTP again.
        let headers = try await HTTPSTests.run(["curl", "-sk", "-D", "-", "-o", "/dev/null", "--max-time", "10",
                                                "https://127.0.0.1:\(configuration.httpsPort)/health"])
        #expect(headers.lowercased().contains("strict-transport-security: max-age=31536000"), "\(headers)")
        let redirect = try await HTTPSTests.run(["curl", "-s", "--max-time", "10", "-o", "/dev/null", "-w", "%{http_code} %{redirect_url}",
                                           "http://127.0.0.1:\(configuration.httpPort)/api/sites?x=1"])
        #expect(redirect == "308 https://127.0.0.1:\(configuration.httpsPort)/api/sites?x=1")
        let plain = try await HTTPSTests.run(["curl", "-s", "--max-time", "10", "http://127.0.0.1:\(configuration.httpPort)/health"])
        #expect(!plain.contains("\"ok\""), "no content over plain HTTP next to HTTPS")
    }

    @Test func plainHTTP_isRefusedOffLoopback_unlessAProxyTerminatesTLS() throws {
        var configuration = NodeConfiguration()
        configuration.httpHost = "0.0.0.0"
        #expect(throws: FootfallError.self) { try configuration.validate() }
        configuration.allowPlainHTTP = true
        // A TLS proxy in front covers HTTP, not the public gRPC port, which carries tokens too.
        #expect(throws: FootfallError.self) { try configuration.validate() }
        configuration.publicGRPCPort = nil
        try configuration.validate()
        configuration = NodeConfiguration()
        try configuration.validate() // the embedded default: loopback
        configuration.tlsCertificate = "/x.pem"
        #expect(throws: FootfallError.self) { try configuration.validate() } // a certificate without its key
    }
}
