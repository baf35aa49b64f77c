//! The request-header rewrite on arbitrary client headers: the backend
//! never gets a client copy of a gateway header, a hop-by-hop header or an
//! underscore name, whatever the client sends.
#![no_main]

use std::net::SocketAddr;

use std::sync::{Arc, LazyLock};

use http::{HeaderMap, HeaderName, HeaderValue, Request, Version};
use libfuzzer_sys::fuzz_target;
use mtls_gateway::access_log::AccessLogger;
use mtls_gateway::config::{AccessLog, AccessLogFormat, Action};
use mtls_gateway::conn::{ConnCtx, TlsInfo};
use mtls_gateway::metrics::Metrics;
use mtls_gateway::runtime::Generation;
use mtls_gateway::template::RequestVars;
use rustls_pki_types::pem::PemObject;

const EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../certs-example");

static CONN: LazyLock<Arc<ConnCtx>> = LazyLock::new(|| {
    let text = format!(
        r#"
[[server]]
listen = "127.0.0.1:0"
server_name = "localhost"
[server.tls]
certificate = "{EXAMPLE}/local.trusted.com.pem"
certificate_key = "{EXAMPLE}/local.trusted.com-key.pem"
[server.client_auth]
verify_client = "on"
client_certificate = "{EXAMPLE}/ca-bundle.crt"
[[server.location]]
prefix = "/"
proxy_pass = "http://127.0.0.1:9"
[server.location.proxy_set_header]
Host = "$host"
X-Forwarded-For = "$proxy_add_x_forwarded_for"
X-SSL-Client-Verify = "$ssl_client_verify"
X-SSL-Client-DN = "$ssl_client_s_dn"
"#
    );
    let config = mtls_gateway::config::parse(&text, std::path::Path::new("/fuzz/gateway.toml")).unwrap();
    let generation = Arc::new(Generation::build(config, None, 1).unwrap());
    let server = generation.groups[0].servers[0].clone();
    let client = rustls_pki_types::CertificateDer::from_pem_file(format!("{EXAMPLE}/client.pem")).unwrap();
    let peer = mtls_gateway::verify::verify_peer(Some(&[client]), &server.config.client_auth, rustls_pki_types::UnixTime::now());
    Arc::new(ConnCtx::new(
        SocketAddr::from(([127, 0, 0, 1], 40000)),
        SocketAddr::from(([127, 0, 0, 1], 3443)),
        TlsInfo { protocol: "TLSv1.3", cipher: "TLS_AES_128_GCM_SHA256", server_name: None, resumed: false, alpn: None },
        peer,
        server,
        generation,
        0,
        Arc::new(Metrics::new()),
        Arc::new(AccessLogger::new(&AccessLog::Off, AccessLogFormat::Json).unwrap()),
    ))
});

fuzz_target!(|data: &[u8]| {
    let conn = &*CONN;
    let underscores = data.first().is_some_and(|b| b & 1 == 1);
    // Input: lines "name:value".
    let mut map = HeaderMap::new();
    for line in data.split(|b| *b == b'\n') {
        let Some(colon) = line.iter().position(|b| *b == b':') else { continue };
        let (n, v) = (&line[..colon], &line[colon + 1..]);
        if let (Ok(n), Ok(v)) = (HeaderName::from_bytes(n), HeaderValue::from_bytes(v)) {
            map.append(n, v);
        }
    }
    let (parts, ()) = Request::get("/").body(()).unwrap().into_parts();
    let Action::Proxy(spec) = &conn.server.locations[0].config.action else { unreachable!() };
    let vars = RequestVars { conn, request: &parts, host: "localhost", proxy_host: &spec.proxy_host, uri: "/", now_unix: 0 };
    let out = mtls_gateway::headers::upstream_headers(&map, Version::HTTP_11, spec, &conn.server.identity_headers, underscores, 1 << 20, &vars).unwrap();
    assert_eq!(out.get_all("x-ssl-client-verify").iter().count(), 1);
    assert!(out.get_all("x-ssl-client-dn").iter().count() <= 1);
    assert_eq!(out.get_all("host").iter().count(), 1);
    for hop in ["connection", "keep-alive", "transfer-encoding", "content-length", "te", "upgrade", "proxy-connection"] {
        assert!(!out.contains_key(hop));
    }
    for (name, _) in &out {
        let folded = name.as_str().replace('_', "-");
        if name.as_str().contains('_') {
            assert!(underscores);
            assert!(!["x-ssl-client-verify", "x-ssl-client-dn", "host", "x-forwarded-for"].contains(&folded.as_str()));
        }
    }
});
