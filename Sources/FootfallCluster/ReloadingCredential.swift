import Foundation
import Logging
import NIOCertificateReloading
import NIOSSL
import Synchronization
import X509

/// A certificate and its private key, read from disk again every `interval` (by `read`), so a
/// renewed certificate is used from the next TLS handshake on, without a restart (connections
/// already open keep the certificate they were opened with). Used for the node's cluster
/// certificate and for its HTTPS certificate.
///
/// The first read must pass `check` (for a node certificate: this node's, from the cluster CA, its
/// key matching): a node does not start without something to serve. Its dates are not checked
/// there: a node alone keeps working with an expired certificate, which `CertificateExpiry` warns
/// about and peers refuse. A later pair that fails `check`, is not valid at the time it is read,
/// or was caught half-written, is refused and the pair in use kept; the refusal is logged once per
/// distinct reason, so an operator who copies the wrong file hears about it without the log
/// filling up every interval.
public final class ReloadingCredential: CertificateReloader, Sendable {
    /// What the log and `check` call this credential: "node", "https".
    public let label: String
    package let interval: Duration
    private let read: @Sendable () throws -> PEMCredential
    private let check: @Sendable (_ certificate: Certificate) throws -> Void
    private let state: Mutex<State>

    private struct State {
        var override: NIOSSLContextConfigurationOverride
        var serial: Certificate.SerialNumber
        var notValidAfter: Date
        var lastRefusal: String?
    }

    /// The outcome of one read of the files.
    public enum Reload: Equatable, Sendable {
        case unchanged
        case replaced(notValidAfter: Date)
        case refused(String)
    }

    public init(label: String, interval: Duration = .seconds(10),
                read: @escaping @Sendable () throws -> PEMCredential,
                check: @escaping @Sendable (_ certificate: Certificate) throws -> Void = { _ in }) throws {
        self.label = label
        self.interval = interval
        self.read = read
        self.check = check
        let loaded = try Self.load(read, check: check)
        state = Mutex(State(override: loaded.override, serial: loaded.certificate.serialNumber,
                            notValidAfter: loaded.certificate.notValidAfter))
    }

    public var sslContextConfigurationOverride: NIOSSLContextConfigurationOverride {
        state.withLock { $0.override }
    }

    /// The serial number and end of validity of the certificate being served.
    public var current: (serial: Certificate.SerialNumber, notValidAfter: Date) {
        state.withLock { ($0.serial, $0.notValidAfter) }
    }

    /// Reads the files once; a changed certificate that passes the checks replaces the one served.
    @discardableResult
    public func reload(now: Date = Date()) -> Reload {
        do {
            let loaded = try Self.load(read, check: check)
            try Self.checkDates(of: loaded.certificate, now: now)
            return state.withLock { state in
                state.lastRefusal = nil
                guard loaded.certificate.serialNumber != state.serial else { return .unchanged }
                state.override = loaded.override
                state.serial = loaded.certificate.serialNumber
                state.notValidAfter = loaded.certificate.notValidAfter
                return .replaced(notValidAfter: loaded.certificate.notValidAfter)
            }
        } catch {
            return .refused(String(describing: error))
        }
    }

    /// Reads the files every `interval` until cancelled, logging each replacement and each new
    /// reason for a refusal.
    public func run(logger: Logger) async {
        while !Task.isCancelled {
            try? await Task.sleep(for: interval)
            switch reload() {
            case .unchanged:
                break
            case .replaced(let notValidAfter):
                logger.notice("serving a renewed certificate", metadata: [
                    "certificate": "\(label)", "certificate.not_valid_after": "\(notValidAfter)"])
            case .refused(let reason):
                let isNew = state.withLock { state in
                    defer { state.lastRefusal = reason }
                    return state.lastRefusal != reason
                }
                if isNew {
                    logger.warning("kept the certificate in use: the one on disk is refused", metadata: [
                        "certificate": "\(label)", "reason": "\(reason)"])
                }
            }
        }
    }

    /// Both halves read from PEM files as they are (the HTTPS certificate, whose file may hold its
    /// chain after it).
    public static func files(certificate: String, key: String) -> @Sendable () throws -> PEMCredential {
        { PEMCredential(certificatePEM: try String(contentsOfFile: certificate, encoding: .utf8),
                        privateKeyPEM: try String(contentsOfFile: key, encoding: .utf8)) }
    }

    /// A renewal is taken only inside its validity period.
    private static func checkDates(of certificate: Certificate, now: Date) throws {
        guard certificate.notValidBefore <= now else {
            throw ReloadRefusal("it is not valid before \(certificate.notValidBefore)")
        }
        guard now < certificate.notValidAfter else {
            throw ReloadRefusal("it expired at \(certificate.notValidAfter)")
        }
    }

    private static func load(_ read: () throws -> PEMCredential,
                             check: (Certificate) throws -> Void) throws -> (certificate: Certificate, override: NIOSSLContextConfigurationOverride) {
        let pem = try read()
        // Checks the key belongs to the first certificate: files read between an operator's two
        // copies are refused here rather than served as a pair no handshake can complete.
        let (certificate, _) = try pem.validatedPair()
        try check(certificate)
        var override = NIOSSLContextConfigurationOverride()
        override.certificateChain = try NIOSSLCertificate.fromPEMBytes(Array(pem.certificatePEM.utf8)).map { .certificate($0) }
        override.privateKey = .privateKey(try NIOSSLPrivateKey(bytes: Array(pem.privateKeyPEM.utf8), format: .pem))
        return (certificate, override)
    }
}

/// Why a certificate on disk was not taken.
public struct ReloadRefusal: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
