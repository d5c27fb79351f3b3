public import NIOSSL

/// Which server certificates a client accepts.
///
/// Certificates are verified by default against the system's roots (the original never verified
/// them). `trustCertificate` adds one PEM certificate to trust, for the seed's self-signed setup;
/// `verifyCertificates: false` turns verification off altogether.
public struct TLSTrust: Sendable, Hashable {
    /// Path of a PEM certificate (or bundle) to trust in addition to the system's roots.
    public var trustCertificatePath: String?
    /// Whether to verify server certificates at all.
    public var verifyCertificates: Bool

    /// Creates a trust policy.
    public init(trustCertificatePath: String? = nil, verifyCertificates: Bool = true) {
        self.trustCertificatePath = trustCertificatePath
        self.verifyCertificates = verifyCertificates
    }

    /// Reads the `trustCertificate` and `verifyCertificates` keys of a configuration file.
    public init(reading object: inout ConfigurationObject) throws {
        self.init(
            trustCertificatePath: try object.string("trustCertificate"),
            verifyCertificates: try object.bool("verifyCertificates") ?? true
        )
    }

    /// The client TLS configuration for this policy.
    ///
    /// - Throws: ``ConfigurationError`` naming `trustCertificate` if the file cannot be loaded.
    public func makeClientConfiguration() throws -> TLSConfiguration {
        var configuration = TLSConfiguration.makeClientConfiguration()
        if !verifyCertificates {
            configuration.certificateVerification = .none
        } else if let trustCertificatePath {
            do {
                let certificates = try NIOSSLCertificate.fromPEMFile(trustCertificatePath)
                configuration.additionalTrustRoots = [.certificates(certificates)]
            } catch {
                throw ConfigurationError(key: "trustCertificate", "cannot load a PEM certificate from \(trustCertificatePath): \(error)")
            }
        }
        return configuration
    }
}
