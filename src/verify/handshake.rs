//! The rustls `ClientCertVerifier` used during the TLS handshake.
//!
//! In the default `failure = "http"` mode it requests a certificate,
//! advertises the CA names of `client_certificate`, and accepts any
//! certificate OpenSSL could load ([`super::openssl_loads`]); the chain is
//! judged after the handshake ([`super::verify_peer`]) so that nginx's 400
//! pages can be sent. A certificate OpenSSL cannot load (a name with invalid
//! UTF-8, an odd-length BMPString, ...) fails the handshake, as in nginx,
//! whose OpenSSL refuses to decode the Certificate message. The
//! CertificateVerify signature is **always** checked here: a client that
//! presents someone else's certificate without its private key never
//! completes the handshake. It is checked with the key of the certificate's
//! SubjectPublicKeyInfo, also for a certificate rustls-webpki refuses to
//! parse (an unknown critical extension): OpenSSL completes that handshake
//! and nginx answers its 400 page, so must the gateway. With
//! `failure = "handshake"` the chain is judged here too and a rejection
//! aborts the handshake with an alert.

use std::sync::Arc;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{
    CertificateError, DigitallySignedStruct, DistinguishedName, PeerMisbehaved, SignatureScheme,
};
use rustls_pki_types::{CertificateDer, SubjectPublicKeyInfoDer, UnixTime};
use x509_parser::nom::Parser as _;

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

/// The SubjectPublicKeyInfo of a certificate rustls-webpki refuses to parse
/// but OpenSSL loads (an unknown critical extension): the CertificateVerify
/// signature is then checked against this key. `None` when webpki parses the
/// certificate (its error stands) or nothing can be read.
fn unparsed_spki(cert: &CertificateDer<'_>) -> Option<SubjectPublicKeyInfoDer<'static>> {
    if webpki::EndEntityCert::try_from(cert).is_ok() || !super::openssl_loads(cert.as_ref()) {
        return None;
    }
    let (_, parsed) = x509_parser::certificate::X509CertificateParser::new()
        .with_deep_parse_extensions(false)
        .parse(cert.as_ref())
        .ok()?;
    Some(SubjectPublicKeyInfoDer::from(
        parsed.tbs_certificate.subject_pki.raw.to_vec(),
    ))
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
        // What OpenSSL cannot load, nginx refuses in the handshake.
        if !std::iter::once(end_entity)
            .chain(intermediates)
            .all(|c| super::openssl_loads(c.as_ref()))
        {
            tracing::info!("client certificate chain refused: OpenSSL could not load it");
            return Err(rustls::Error::InvalidCertificate(
                CertificateError::BadEncoding,
            ));
        }
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
        let e = match rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algs) {
            Ok(v) => return Ok(v),
            Err(e) => e,
        };
        let Some(spki) = unparsed_spki(cert) else {
            return Err(e);
        };
        // rustls' TLS 1.2 check, on the key alone: every algorithm of the
        // scheme that fits the key type is tried.
        let key = webpki::RawPublicKeyEntity::try_from(&spki)
            .map_err(|_| rustls::Error::InvalidCertificate(CertificateError::BadEncoding))?;
        let algs = self
            .algs
            .mapping
            .iter()
            .find(|(scheme, _)| *scheme == dss.scheme)
            .map(|(_, algs)| *algs)
            .ok_or(PeerMisbehaved::SignedHandshakeWithUnadvertisedSigScheme)?;
        for alg in algs {
            match key.verify_signature(*alg, message, dss.signature()) {
                Ok(()) => return Ok(HandshakeSignatureValid::assertion()),
                Err(webpki::Error::UnsupportedSignatureAlgorithmForPublicKeyContext(_)) => {}
                Err(_) => break,
            }
        }
        Err(rustls::Error::InvalidCertificate(
            CertificateError::BadSignature,
        ))
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let e = match rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algs) {
            Ok(v) => return Ok(v),
            Err(e) => e,
        };
        match unparsed_spki(cert) {
            Some(spki) => {
                rustls::crypto::verify_tls13_signature_with_raw_key(message, &spki, dss, &self.algs)
            }
            None => Err(e),
        }
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algs.supported_schemes()
    }
}
