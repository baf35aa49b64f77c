//! The request-header rewrite on arbitrary client headers: the backend
//! never gets a client copy of a gateway header, a hop-by-hop header or an
//! underscore name, whatever the client sends.
#![no_main]

use std::net::SocketAddr;
use std::sync::{Arc, LazyLock};

use http::{HeaderMap, HeaderName, HeaderValue, Request, Version};
use libfuzzer_sys::fuzz_target;
use mtls_gateway::config::{Action, Config};
use mtls_gateway::facts::{ConnFacts, TlsInfo};
use mtls_gateway::template::RequestVars;
use rustls_pki_types::pem::PemObject;

const EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../certs-example");

/// What header rewrite reads: a configuration and one connection's facts.
static FIXTURE: LazyLock<(Config, Arc<[HeaderName]>, ConnFacts)> = LazyLock::new(|| {
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
    let client = rustls_pki_types::CertificateDer::from_pem_file(format!("{EXAMPLE}/client.pem")).unwrap();
    let peer = mtls_gateway::verify::verify_peer(Some(&[client]), &config.servers[0].client_auth, rustls_pki_types::UnixTime::now());
    let facts = ConnFacts {
        remote: SocketAddr::from(([127, 0, 0, 1], 40000)),
        proxy_protocol: None,
        local: SocketAddr::from(([127, 0, 0, 1], 3443)),
        tls: TlsInfo { protocol: "TLSv1.3", cipher: "TLS_AES_128_GCM_SHA256", server_name: None, resumed: false },
        server_name: Arc::from("localhost"),
        peer: Arc::new(peer),
    };
    let identity_headers = mtls_gateway::headers::identity_headers(&config.servers);
    (config, identity_headers, facts)
});

fuzz_target!(|data: &[u8]| {
    let (config, identity_headers, facts) = &*FIXTURE;
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
    let Action::Proxy(spec) = &config.servers[0].locations[0].action else { unreachable!() };
    let vars = RequestVars { facts, request: &parts, host: "localhost", proxy_host: &spec.proxy_host, uri: "/", now_unix: 0 };
    let out = mtls_gateway::headers::upstream_headers(&map, Version::HTTP_11, spec, identity_headers, underscores, 1 << 20, &vars).unwrap();
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
