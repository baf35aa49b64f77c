//! The client TLS configuration: client certificate, trust, protocol
//! versions, key-exchange groups, ALPN and session resumption.

use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{ClientSessionMemoryCache, Resumption, Tls12Resumption};
use rustls::crypto::{CryptoProvider, aws_lc_rs};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};

/// TLS versions the client offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TlsVersion {
    /// TLS 1.2 and 1.3 (the server chooses: 1.3 everywhere here).
    Auto,
    #[value(name = "1.2")]
    V12,
    #[value(name = "1.3")]
    V13,
}

/// Key-exchange groups the client offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Kx {
    /// X25519 (the only key share sent), then P-256: what OpenSSL 3.0
    /// (Debian 12's nginx and HAProxy) negotiates. P-256 is listed because a
    /// TLS 1.2 server with an ECDSA P-256 certificate needs the client to
    /// name that curve (RFC 8422 5.1), else OpenSSL finds "no shared cipher".
    X25519,
    /// NIST P-256 only.
    P256,
    /// The post-quantum hybrid first, then X25519 (rustls' default).
    X25519mlkem768,
}

/// How resumed sessions are found, for TLS 1.2 (TLS 1.3 always uses its
/// pre-shared keys; whether the server keeps them in a cache or in
/// stateless tickets is the server's choice).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ResumeBy {
    /// Session tickets (RFC 5077), falling back to session IDs.
    Tickets,
    /// Session IDs only (the server's session cache).
    Ids,
}

/// What the client's sessions may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sessions {
    /// No resumption of any kind: every handshake is full.
    Off,
    /// Resume through a store shared by all connections.
    Resume(ResumeBy),
}

pub struct ClientTls {
    pub cert: Option<String>,
    pub key: Option<String>,
    pub cacert: Option<String>,
    pub insecure: bool,
    pub version: TlsVersion,
    pub kx: Kx,
    pub alpn: Vec<Vec<u8>>,
    pub sessions: Sessions,
}

fn read(path: &str) -> Result<Vec<u8>, String> {
    std::fs::read(Path::new(path)).map_err(|e| format!("{path}: {e}"))
}

/// Builds the client configuration.
///
/// # Errors
/// A message naming the file or setting that is wrong.
pub fn client_config(opts: &ClientTls) -> Result<Arc<ClientConfig>, String> {
    let mut provider = aws_lc_rs::default_provider();
    provider.kx_groups = match opts.kx {
        Kx::X25519 => vec![aws_lc_rs::kx_group::X25519, aws_lc_rs::kx_group::SECP256R1],
        Kx::P256 => vec![aws_lc_rs::kx_group::SECP256R1],
        Kx::X25519mlkem768 => vec![
            aws_lc_rs::kx_group::X25519MLKEM768,
            aws_lc_rs::kx_group::X25519,
        ],
    };
    let provider = Arc::new(provider);
    let versions: &[&'static rustls::SupportedProtocolVersion] = match opts.version {
        TlsVersion::Auto => &[&rustls::version::TLS13, &rustls::version::TLS12],
        TlsVersion::V12 => &[&rustls::version::TLS12],
        TlsVersion::V13 => &[&rustls::version::TLS13],
    };
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(versions)
        .map_err(|e| format!("TLS versions: {e}"))?;
    let builder = if opts.insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoServerVerification(provider)))
    } else {
        let Some(ca) = &opts.cacert else {
            return Err("--cacert FILE is needed to check the server (or --insecure)".into());
        };
        let mut roots = RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(&read(ca)?) {
            let cert = cert.map_err(|e| format!("{ca}: {e}"))?;
            roots.add(cert).map_err(|e| format!("{ca}: {e}"))?;
        }
        if roots.is_empty() {
            return Err(format!("{ca}: no certificate"));
        }
        builder.with_root_certificates(roots)
    };
    let mut config = match (&opts.cert, &opts.key) {
        (Some(cert), Some(key)) => {
            let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&read(cert)?)
                .collect::<Result<_, _>>()
                .map_err(|e| format!("{cert}: {e}"))?;
            if chain.is_empty() {
                return Err(format!("{cert}: no certificate"));
            }
            let key =
                PrivateKeyDer::from_pem_slice(&read(key)?).map_err(|e| format!("{key}: {e}"))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| format!("client certificate and key: {e}"))?
        }
        (None, None) => builder.with_no_client_auth(),
        _ => return Err("--cert and --key go together".into()),
    };
    config.alpn_protocols = opts.alpn.clone();
    config.resumption = match opts.sessions {
        Sessions::Off => Resumption::disabled(),
        Sessions::Resume(by) => Resumption::store(Arc::new(ClientSessionMemoryCache::new(1024)))
            .tls12_resumption(match by {
                ResumeBy::Tickets => Tls12Resumption::SessionIdOrTickets,
                ResumeBy::Ids => Tls12Resumption::SessionIdOnly,
            }),
    };
    Ok(Arc::new(config))
}

/// `--insecure`: the server's certificate and handshake signature are not
/// checked. It keeps the load generator's own CPU cost down on a machine it
/// shares with the server; the targets are loopback-only anyway.
#[derive(Debug)]
struct NoServerVerification(Arc<CryptoProvider>);

impl ServerCertVerifier for NoServerVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn verify_tls13_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
