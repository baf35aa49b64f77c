//! TLS to an `https://` upstream (nginx's `proxy_ssl_*`): the rustls client
//! configuration of a location ([`UpstreamConnector::new`]), the check of
//! the upstream's certificate ([`UpstreamVerifier`]: the chain to a root of
//! `proxy_ssl_trusted_certificate` within `proxy_ssl_verify_depth`, the
//! serverAuth purpose, the dates and `proxy_ssl_name`), the handshake, and
//! why one failed, in words an operator can act on ([`describe`]).
//!
//! ALPN offers `h2` then `http/1.1`: an upstream that picks `h2` is spoken
//! to in HTTP/2. Sessions are resumed (`proxy_ssl_session_reuse`, rustls's
//! in-memory cache of [`SESSION_CACHE_SIZE`] per location and
//! configuration); SNI is sent only with `proxy_ssl_server_name`.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{ResolvesClientCert, Resumption, WantsClientCert};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::sign::CertifiedKey;
use rustls::{
    AlertDescription, CertificateError, ClientConfig, ConfigBuilder, DigitallySignedStruct,
    OtherError, SignatureScheme,
};
use rustls_pki_types::{CertificateDer, ServerName, TrustAnchor, UnixTime};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use crate::config::{Protocol, UpstreamTls};

/// TLS sessions to the upstream kept for resumption, per location: more
/// than the servers of any upstream block, a few hundred bytes each.
const SESSION_CACHE_SIZE: usize = 256;

/// How a location opens TLS connections to its upstream.
#[derive(Debug)]
pub(super) struct UpstreamConnector {
    config: Arc<ClientConfig>,
    name: ServerName<'static>,
    /// Whether the gateway presents a client certificate (for the log
    /// line of an upstream that refuses the handshake).
    has_client_cert: bool,
}

/// The protocol the upstream chose by ALPN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Alpn {
    H2,
    Http1,
}

impl UpstreamConnector {
    /// # Errors
    /// rustls's refusal of the protocol versions or the client certificate
    /// (both are checked at load, so this does not happen in practice).
    pub(super) fn new(tls: &UpstreamTls) -> Result<UpstreamConnector, rustls::Error> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let versions: Vec<&'static rustls::SupportedProtocolVersion> = tls
            .protocols
            .iter()
            .map(|p| match p {
                Protocol::Tls12 => &rustls::version::TLS12,
                Protocol::Tls13 => &rustls::version::TLS13,
            })
            .collect();
        let algs = provider.signature_verification_algorithms;
        let builder = ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&versions)?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(UpstreamVerifier {
                anchors: tls.anchors.clone(),
                store: tls.intermediates.clone(),
                max_depth: usize::try_from(tls.verify_depth).unwrap_or(usize::MAX),
                verify: tls.verify,
                algs,
            }));
        let mut config = with_client_cert(builder, tls);
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        config.enable_sni = tls.server_name;
        config.resumption = if tls.session_reuse {
            Resumption::in_memory_sessions(SESSION_CACHE_SIZE)
        } else {
            Resumption::disabled()
        };
        Ok(UpstreamConnector {
            config: Arc::new(config),
            name: tls.name.clone(),
            has_client_cert: tls.client_cert.is_some(),
        })
    }

    /// The TLS handshake on a new connection, and the protocol chosen.
    ///
    /// # Errors
    /// Why, for the log (the upstream's certificate does not verify, it
    /// wants a client certificate, no common protocol, ...).
    pub(super) async fn handshake(
        &self,
        stream: TcpStream,
    ) -> Result<(TlsStream<TcpStream>, Alpn), String> {
        let connector = TlsConnector::from(self.config.clone());
        match connector.connect(self.name.clone(), stream).await {
            Ok(tls) => {
                let alpn = match tls.get_ref().1.alpn_protocol() {
                    Some(b"h2") => Alpn::H2,
                    _ => Alpn::Http1,
                };
                Ok((tls, alpn))
            }
            Err(e) => Err(
                match e.get_ref().and_then(|e| e.downcast_ref::<rustls::Error>()) {
                    Some(tls) => self.describe(tls),
                    None => format!("the connection failed during the handshake: {e}"),
                },
            ),
        }
    }

    /// Why a TLS session with the upstream failed, for the log (also for
    /// an alert that arrives after the handshake: in TLS 1.3 the upstream
    /// judges the client certificate after the client has finished).
    pub(super) fn describe(&self, e: &rustls::Error) -> String {
        describe(e, &self.name, self.has_client_cert)
    }
}

fn with_client_cert(
    builder: ConfigBuilder<ClientConfig, WantsClientCert>,
    tls: &UpstreamTls,
) -> ClientConfig {
    match &tls.client_cert {
        None => builder.with_no_client_auth(),
        Some(ck) => builder.with_client_cert_resolver(Arc::new(ClientCert(ck.clone()))),
    }
}

/// `proxy_ssl_certificate`: presented whenever the upstream asks, whatever
/// CA names it hints (as OpenSSL with nginx's `proxy_ssl_certificate`).
#[derive(Debug)]
struct ClientCert(Arc<CertifiedKey>);

impl ResolvesClientCert for ClientCert {
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        _sigschemes: &[SignatureScheme],
    ) -> Option<Arc<CertifiedKey>> {
        Some(self.0.clone())
    }

    fn has_certs(&self) -> bool {
        true
    }
}

/// Why a TLS session with the upstream failed, for the log: the
/// certificate check's verdict, or what the upstream's alert means.
fn describe(e: &rustls::Error, name: &ServerName<'_>, has_client_cert: bool) -> String {
    use rustls::Error as E;
    let name = name.to_str();
    match e {
        E::InvalidCertificate(c) => format!(
            "the upstream's certificate does not verify: {}",
            certificate_problem(c, &name)
        ),
        E::AlertReceived(AlertDescription::CertificateRequired) if !has_client_cert => {
            "the upstream requires a client certificate and the gateway has none \
             (alert certificate_required; set proxy_ssl_certificate and proxy_ssl_certificate_key)"
                .to_string()
        }
        E::AlertReceived(
            a @ (AlertDescription::HandshakeFailure
            | AlertDescription::CertificateRequired
            | AlertDescription::BadCertificate
            | AlertDescription::UnknownCA
            | AlertDescription::CertificateUnknown
            | AlertDescription::CertificateExpired
            | AlertDescription::CertificateRevoked
            | AlertDescription::AccessDenied),
        ) => {
            let alert = alert_name(*a);
            if has_client_cert {
                format!(
                    "the upstream refused the handshake (alert {alert}): it most likely does not \
                     accept the gateway's client certificate (proxy_ssl_certificate)"
                )
            } else {
                format!(
                    "the upstream refused the handshake (alert {alert}): it most likely requires a \
                     client certificate and the gateway has none (set proxy_ssl_certificate and \
                     proxy_ssl_certificate_key)"
                )
            }
        }
        E::AlertReceived(AlertDescription::ProtocolVersion) => {
            "the upstream supports none of proxy_ssl_protocols (alert protocol_version)".to_string()
        }
        E::AlertReceived(a) => format!("the upstream sent alert {}", alert_name(*a)),
        other => other.to_string(),
    }
}

/// A TLS alert's name as RFC 8446 writes it (`unknown_ca`).
fn alert_name(a: AlertDescription) -> String {
    let debug = format!("{a:?}");
    let mut out = String::new();
    let mut previous: Option<char> = None;
    for ch in debug.chars() {
        if ch.is_ascii_uppercase() {
            // A new word, unless it continues an acronym (`UnknownCA`).
            if previous.is_some_and(|p| !p.is_ascii_uppercase()) {
                out.push('_');
            }
            out.push(ch.to_ascii_lowercase());
        } else {
            out.push(ch);
        }
        previous = Some(ch);
    }
    out
}

fn certificate_problem(c: &CertificateError, name: &str) -> String {
    match c {
        CertificateError::UnknownIssuer => "unknown CA: it does not chain to a root of \
             proxy_ssl_trusted_certificate (unable to get local issuer certificate)"
            .to_string(),
        CertificateError::NotValidForName => {
            format!("name mismatch: it is not valid for {name:?} (proxy_ssl_name)")
        }
        CertificateError::NotValidForNameContext {
            expected,
            presented,
        } => format!(
            "name mismatch: it is not valid for {:?} (proxy_ssl_name); it names {}",
            expected.to_str(),
            if presented.is_empty() {
                "no name".to_string()
            } else {
                presented
                    .iter()
                    .map(|p| presented_name(p))
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        ),
        CertificateError::Expired => "expired (certificate has expired)".to_string(),
        CertificateError::ExpiredContext { not_after, .. } => format!(
            "expired (certificate has expired) on {}",
            date(not_after.as_secs())
        ),
        CertificateError::NotValidYet => {
            "not yet valid (certificate is not yet valid)".to_string()
        }
        CertificateError::NotValidYetContext { not_before, .. } => format!(
            "not yet valid (certificate is not yet valid) before {}",
            date(not_before.as_secs())
        ),
        CertificateError::InvalidPurpose | CertificateError::InvalidPurposeContext { .. } => {
            "it is not for TLS servers: no serverAuth extended key usage (unsupported certificate purpose)"
                .to_string()
        }
        CertificateError::BadSignature => "a signature in the chain is invalid".to_string(),
        CertificateError::Other(other) => other.to_string(),
        other => format!("{other:?}"),
    }
}

/// A name as rustls-webpki presents it (`DnsName("a.example")`) as the
/// certificate states it (`a.example`).
fn presented_name(p: &str) -> &str {
    p.split_once("(\"")
        .and_then(|(_, rest)| rest.strip_suffix("\")"))
        .unwrap_or(p)
}

fn date(unix: u64) -> String {
    i64::try_from(unix)
        .ok()
        .and_then(|t| time::OffsetDateTime::from_unix_timestamp(t).ok())
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| unix.to_string())
}

/// The upstream's chain has more intermediates than `proxy_ssl_verify_depth`.
#[derive(Debug, thiserror::Error)]
#[error(
    "the chain is too long: more than {max} intermediate(s) between it and the root (proxy_ssl_verify_depth; certificate chain too long)"
)]
struct ChainTooLong {
    max: usize,
}

/// Checks the upstream's certificate as OpenSSL with nginx's
/// `proxy_ssl_verify on` would, or (`verify = false`) not at all; the
/// handshake's signatures are checked either way.
#[derive(Debug)]
struct UpstreamVerifier {
    anchors: Vec<TrustAnchor<'static>>,
    /// Intermediates from `proxy_ssl_trusted_certificate`.
    store: Vec<CertificateDer<'static>>,
    max_depth: usize,
    verify: bool,
    algs: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for UpstreamVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if !self.verify {
            return Ok(ServerCertVerified::assertion());
        }
        let ee = webpki::EndEntityCert::try_from(end_entity).map_err(pki_error)?;
        let chain: Vec<CertificateDer<'_>> = intermediates
            .iter()
            .chain(&self.store)
            .map(|c| CertificateDer::from(c.as_ref()))
            .collect();
        let max = self.max_depth;
        let depth_ok = |path: &webpki::VerifiedPath<'_>| {
            if path.intermediate_certificates().count() > max {
                Err(webpki::Error::MaximumPathDepthExceeded)
            } else {
                Ok(())
            }
        };
        ee.verify_for_usage(
            self.algs.all,
            &self.anchors,
            &chain,
            now,
            webpki::KeyUsage::server_auth(),
            None,
            Some(&depth_ok),
        )
        .map_err(|e| match e {
            webpki::Error::MaximumPathDepthExceeded => rustls::Error::InvalidCertificate(
                CertificateError::Other(OtherError(Arc::new(ChainTooLong { max }))),
            ),
            e => pki_error(e),
        })?;
        ee.verify_is_valid_for_subject_name(server_name)
            .map_err(pki_error)?;
        Ok(ServerCertVerified::assertion())
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

/// rustls-webpki's verdict as rustls reports it (as rustls's own
/// `WebPkiServerVerifier` maps it), so that [`describe`] has one input.
fn pki_error(e: webpki::Error) -> rustls::Error {
    use webpki::Error as W;
    let c = match e {
        W::BadDer | W::BadDerTime | W::TrailingData(_) => CertificateError::BadEncoding,
        W::CertNotValidYet { time, not_before } => {
            CertificateError::NotValidYetContext { time, not_before }
        }
        W::CertExpired { time, not_after } => CertificateError::ExpiredContext { time, not_after },
        W::InvalidCertValidity => CertificateError::Expired,
        W::UnknownIssuer => CertificateError::UnknownIssuer,
        W::CertNotValidForName(webpki::InvalidNameContext {
            expected,
            presented,
        }) => CertificateError::NotValidForNameContext {
            expected,
            presented,
        },
        W::InvalidSignatureForPublicKey => CertificateError::BadSignature,
        #[allow(deprecated)]
        W::RequiredEkuNotFound | W::RequiredEkuNotFoundContext(_) => {
            CertificateError::InvalidPurpose
        }
        e => CertificateError::Other(OtherError(Arc::new(e))),
    };
    rustls::Error::InvalidCertificate(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presented_names_lose_their_kind() {
        assert_eq!(presented_name("DnsName(\"a.example\")"), "a.example");
        assert_eq!(presented_name("IpAddress(10.0.0.1)"), "IpAddress(10.0.0.1)");
    }

    #[test]
    fn alert_names_are_rfc_spelling() {
        assert_eq!(alert_name(AlertDescription::UnknownCA), "unknown_ca");
        assert_eq!(
            alert_name(AlertDescription::CertificateRequired),
            "certificate_required"
        );
        assert_eq!(
            alert_name(AlertDescription::HandshakeFailure),
            "handshake_failure"
        );
    }
}
