import Foundation
import X509

/// Warns ahead of certificate expiry: the cluster CA, this node's certificate and the HTTPS
/// certificate, read from disk at start and by every maintenance pass. Each one's time left is
/// the gauge `footfall_certificate_expiry_seconds{certificate=…}`; inside `warnAhead` a warning is
/// logged with what to run, past its end an error (peers then refuse this node, or it them).
public enum CertificateExpiry {
    /// A month: time to issue and copy new certificates before anything is refused.
    static let warnAhead: TimeInterval = 30 * 86_400

    public enum Status: Equatable, Sendable {
        case valid
        case expiresSoon(days: Int)
        case expired
    }

    public static func status(notValidAfter: Date, now: Date) -> Status {
        let left = notValidAfter.timeIntervalSince(now)
        if left <= 0 { return .expired }
        return left < warnAhead ? .expiresSoon(days: Int(left / 86_400)) : .valid
    }

    /// The certificates `node` serves with, by the label they get, each with what renews it.
    static func watched(by node: Node) -> [(label: String, path: String, renew: String)] {
        let configuration = node.configuration
        let folder = configuration.cluster.certificateFolder(dataDirectory: configuration.dataDirectory)
        let name = configuration.nodeName
        var watched = [
            ("ca", (folder as NSString).appendingPathComponent("ca.pem"),
             "create a new cluster CA (footfall certs init) and issue every node and operator certificate from it"),
            ("node", (folder as NSString).appendingPathComponent("\(name).pem"),
             "issue a new one where the CA key is (footfall cluster certs rotate --out DIR \(name)) and copy DIR/\(name)/ into \(folder); it is served within 10 s, no restart needed"),
        ]
        if let https = configuration.tlsCertificate {
            watched.append(("https", https, "renew it with your certificate authority (or ACME client); the node serves the new files within 10 s"))
        }
        return watched
    }

    /// Reads each certificate, sets its gauge and logs what needs doing.
    package static func check(_ node: Node, now: Date = Date()) {
        for (label, path, renew) in watched(by: node) {
            let notValidAfter: Date
            do {
                let pem = try String(contentsOfFile: path, encoding: .utf8)
                notValidAfter = try Certificate(pemEncoded: pem).notValidAfter
            } catch {
                node.logger.warning("cannot read a certificate to check its expiry", metadata: ["certificate": "\(label)", "path": "\(path)"])
                continue
            }
            node.metrics.set("footfall_certificate_expiry_seconds", to: notValidAfter.timeIntervalSince(now), labels: ["certificate": label])
            switch status(notValidAfter: notValidAfter, now: now) {
            case .valid:
                break
            case .expiresSoon(let days):
                node.logger.warning("a certificate expires soon: \(renew)",
                                    metadata: ["certificate": "\(label)", "certificate.days_left": "\(days)", "path": "\(path)"])
            case .expired:
                node.logger.error("a certificate has expired: \(renew)", metadata: ["certificate": "\(label)", "path": "\(path)"])
            }
        }
    }
}
