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
                throw ConfigurationError(
                    key: "trustCertificate",
                    "cannot load a PEM certificate from \(trustCertificatePath): \(error)"
                )
            }
        }
        return configuration
    }
}

extension TLSTrust {
    /// For an error that is a failed certificate check, what to add to which file, in one
    /// sentence; `nil` for any other error.
    ///
    /// - Parameters:
    ///   - url: the URL that was requested.
    ///   - configurationFile: the file that holds this client's trust settings.
    public static func advice(for error: any Error, url: String, configurationFile: String) -> String? {
        let text = String(describing: error)
        let unverified = text.contains("CERTIFICATE_VERIFY_FAILED") || text.contains("certificate verify failed")
        let wrongName = text.contains("failedToValidateHostname") || text.contains("hostname")
        guard unverified || wrongName else { return nil }
        if wrongName && !unverified {
            return
                "the server's TLS certificate is not valid for this host name (\(text)); make a certificate for it with "
                + "`dp5 testcert testcerts --host NAME`, or add \"verifyCertificates\": false to \(configurationFile)"
        }
        return
            "the server's TLS certificate is not trusted (CERTIFICATE_VERIFY_FAILED). For a self-signed certificate add "
            + "\"trustCertificate\": \"testcerts/server.crt\" (the server's server.ssl_certificate file) to \(configurationFile), "
            + "or \"verifyCertificates\": false to accept any certificate as the original did"
    }
}
