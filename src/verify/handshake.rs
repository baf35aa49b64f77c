//! The rustls `ClientCertVerifier` used during the TLS handshake.
//!
//! In the default `failure = "http"` mode it requests a certificate,
//! advertises the CA names of `client_certificate`, and accepts any
//! certificate rustls can parse; the chain is judged after the handshake
//! ([`super::verify_peer`]) so that nginx's 400 pages can be sent. The
//! CertificateVerify signature is **always** checked here: a client that
//! presents someone else's certificate without its private key never
//! completes the handshake. With `failure = "handshake"` the chain is judged
//! here too and a rejection aborts the handshake with an alert.

use std::sync::Arc;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::server::ParsedCertificate;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{CertificateError, DigitallySignedStruct, DistinguishedName, SignatureScheme};
use rustls_pki_types::{CertificateDer, UnixTime};

use super::X509Error;
use super::policy::{ClientAuth, FailureMode, VerifyMode};

/// See the module documentation.
#[derive(Debug)]
pub struct DeferredVerifier {
    auth: Arc<ClientAuth>,
    algs: WebPkiSupportedAlgorithms,
}

impl DeferredVerifier {
    /// A verifier for `auth`.
    pub fn new(auth: Arc<ClientAuth>, algs: WebPkiSupportedAlgorithms) -> Self {
        DeferredVerifier { auth, algs }
    }
}

/// The rustls error (and so the TLS alert) for a rejection during the handshake.
fn alert_for(e: X509Error) -> rustls::Error {
    let cert_error = match e {
        X509Error::CertHasExpired => CertificateError::Expired,
        X509Error::CertNotYetValid => CertificateError::NotValidYet,
        X509Error::CertRevoked => CertificateError::Revoked,
        X509Error::CertSignatureFailure => CertificateError::BadSignature,
        X509Error::InvalidPurpose => CertificateError::InvalidPurpose,
        X509Error::UnhandledCriticalExtension => CertificateError::UnhandledCriticalExtension,
        X509Error::UnableToGetCrl => CertificateError::UnknownRevocationStatus,
        X509Error::CrlHasExpired => CertificateError::ExpiredRevocationList,
        X509Error::UnableToGetIssuerCert
        | X509Error::UnableToGetIssuerCertLocally
        | X509Error::UnableToVerifyLeafSignature
        | X509Error::DepthZeroSelfSignedCert
        | X509Error::SelfSignedCertInChain
        | X509Error::CertChainTooLong => CertificateError::UnknownIssuer,
        _ => CertificateError::ApplicationVerificationFailure,
    };
    rustls::Error::InvalidCertificate(cert_error)
}

impl ClientCertVerifier for DeferredVerifier {
    fn offer_client_auth(&self) -> bool {
        self.auth.mode != VerifyMode::Off
    }

    fn client_auth_mandatory(&self) -> bool {
        // In nginx's (http) mode a missing certificate is answered with a
        // 400 page, so the handshake must not fail for it.
        self.auth.mode == VerifyMode::On && self.auth.failure == FailureMode::Handshake
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.auth.trust.hints()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        // The CertificateVerify check needs a certificate webpki can parse.
        ParsedCertificate::try_from(end_entity)?;
        if self.auth.failure == FailureMode::Handshake {
            let mut chain = Vec::with_capacity(1 + intermediates.len());
            chain.push(end_entity.clone());
            chain.extend(intermediates.iter().cloned());
            if let Err(e) = super::check_chain(&chain, &self.auth, now) {
                let tolerated =
                    self.auth.mode == VerifyMode::OptionalNoCa && e.tolerated_without_ca();
                if !tolerated {
                    tracing::info!(
                        reason = e.text(),
                        code = e.code(),
                        "client certificate rejected during the handshake"
                    );
                    return Err(alert_for(e));
                }
            }
        }
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algs)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algs)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algs.supported_schemes()
    }
}
