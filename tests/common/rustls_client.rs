//! A rustls + hyper client for tests that need control curl does not give:
//! exact TLS versions, resumption, HTTP/2 with arbitrary headers, and a
//! client certificate presented with the wrong private key.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::client::ResolvesClientCert;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::sign::{CertifiedKey, SingleCertAndKey};
use rustls::{ClientConfig, HandshakeKind, RootCertStore, SupportedProtocolVersion};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

pub struct ClientOpts<'a> {
    pub ca_pem: &'a str,
    /// (chain PEM, key PEM)
    pub identity: Option<(&'a str, &'a str)>,
    /// A different key to sign CertificateVerify with (proof-of-possession test).
    pub wrong_key: Option<&'a str>,
    pub versions: &'a [&'static SupportedProtocolVersion],
    pub h2: bool,
}

impl<'a> ClientOpts<'a> {
    pub fn new(ca_pem: &'a str) -> Self {
        ClientOpts {
            ca_pem,
            identity: None,
            wrong_key: None,
            versions: rustls::ALL_VERSIONS,
            h2: false,
        }
    }
}

pub fn config(opts: &ClientOpts<'_>) -> Arc<ClientConfig> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut roots = RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(opts.ca_pem.as_bytes()) {
        roots.add(c.unwrap()).unwrap();
    }
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(opts.versions)
        .unwrap()
        .with_root_certificates(roots);
    let mut cfg = match opts.identity {
        None => builder.with_no_client_auth(),
        Some((chain, key)) => {
            let chain: Vec<CertificateDer<'static>> =
                CertificateDer::pem_slice_iter(chain.as_bytes())
                    .collect::<Result<_, _>>()
                    .unwrap();
            let key_pem = opts.wrong_key.unwrap_or(key);
            let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).unwrap();
            let signing = provider.key_provider.load_private_key(key).unwrap();
            // CertifiedKey::new skips the key/certificate match check on purpose.
            let resolver: Arc<dyn ResolvesClientCert> =
                Arc::new(SingleCertAndKey::from(CertifiedKey::new(chain, signing)));
            builder.with_client_cert_resolver(resolver)
        }
    };
    cfg.alpn_protocols = if opts.h2 {
        vec![b"h2".to_vec()]
    } else {
        vec![b"http/1.1".to_vec()]
    };
    Arc::new(cfg)
}

/// A client trusting `ca_pem` and presenting `leaf` (ALPN h2 or http/1.1).
pub fn with_identity(ca_pem: &str, leaf: &super::Leaf, h2: bool) -> Arc<ClientConfig> {
    let mut opts = ClientOpts::new(ca_pem);
    opts.identity = Some((&leaf.cert_pem, &leaf.key_pem));
    opts.h2 = h2;
    config(&opts)
}

/// The outcome of one request on a fresh connection.
pub struct Outcome {
    pub response: Response<Bytes>,
    /// DER of the server's leaf certificate.
    pub server_cert: Vec<u8>,
    pub handshake: HandshakeKind,
    pub protocol: rustls::ProtocolVersion,
}

impl Outcome {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(self.response.body()).into_owned()
    }
}

/// Connects (TLS with `sni`), sends `request`, reads the whole response.
pub async fn send(
    addr: SocketAddr,
    sni: &str,
    cfg: Arc<ClientConfig>,
    request: Request<Full<Bytes>>,
) -> Result<Outcome, String> {
    let tcp = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    send_on(tcp, sni, cfg, request).await
}

/// [`send`] on a connection the test opened (and perhaps wrote to) itself,
/// e.g. after a PROXY protocol header.
pub async fn send_on(
    tcp: TcpStream,
    sni: &str,
    cfg: Arc<ClientConfig>,
    request: Request<Full<Bytes>>,
) -> Result<Outcome, String> {
    let name = ServerName::try_from(sni.to_string()).map_err(|e| e.to_string())?;
    let h2 = cfg.alpn_protocols.first().is_some_and(|p| p == b"h2");
    let tls = TlsConnector::from(cfg)
        .connect(name, tcp)
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    let (_, session) = tls.get_ref();
    let handshake = session.handshake_kind().ok_or("no handshake kind")?;
    let protocol = session.protocol_version().ok_or("no protocol")?;
    let server_cert = session
        .peer_certificates()
        .and_then(|c| c.first())
        .map(|c| c.to_vec())
        .unwrap_or_default();
    let io = TokioIo::new(tls);
    let response = if h2 {
        let (mut sender, conn) = hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
            .await
            .map_err(|e| format!("h2 handshake: {e}"))?;
        tokio::spawn(conn);
        sender
            .send_request(request)
            .await
            .map_err(|e| format!("request: {e}"))?
    } else {
        let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
            .await
            .map_err(|e| format!("h1 handshake: {e}"))?;
        tokio::spawn(conn);
        sender
            .send_request(request)
            .await
            .map_err(|e| format!("request: {e}"))?
    };
    let (parts, body) = response.into_parts();
    let body = body
        .collect()
        .await
        .map_err(|e| format!("body: {e}"))?
        .to_bytes();
    Ok(Outcome {
        response: Response::from_parts(parts, body),
        server_cert,
        handshake,
        protocol,
    })
}

/// A GET request for `path`: origin-form with a `Host` header for
/// HTTP/1.1, `:authority` for HTTP/2.
pub fn get(host: &str, path: &str, h2: bool) -> http::request::Builder {
    if h2 {
        Request::get(format!("https://{host}{path}")).version(http::Version::HTTP_2)
    } else {
        Request::get(path).header("host", host)
    }
}

pub fn empty() -> Full<Bytes> {
    Full::new(Bytes::new())
}

/// Opens a TLS connection, writes `bytes` raw, and reads until the server
/// closes or `wait` passes without data. Returns what was read.
pub async fn raw_exchange(
    addr: SocketAddr,
    sni: &str,
    cfg: Arc<ClientConfig>,
    bytes: &[u8],
    wait: std::time::Duration,
) -> Result<Vec<u8>, String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let tcp = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    let name = ServerName::try_from(sni.to_string()).map_err(|e| e.to_string())?;
    let mut tls = TlsConnector::from(cfg)
        .connect(name, tcp)
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    tls.write_all(bytes).await.map_err(|e| e.to_string())?;
    tls.flush().await.map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match tokio::time::timeout(wait, tls.read(&mut buf)).await {
            Ok(Ok(0)) | Err(_) => break,
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
            Ok(Err(_)) => break,
        }
    }
    Ok(out)
}
