//! Property tests (proptest) for the functions that see peer input: DN
//! formatting of arbitrary DER, certificate identity extraction, config
//! parsing, header templates, path normalization and the request-header
//! rewrite. The same functions have cargo-fuzz targets in `fuzz/`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::as_conversions)] // a test may panic: that is a failed test

mod common;

use std::net::SocketAddr;
use std::sync::{Arc, LazyLock};

use http::{HeaderMap, HeaderName, HeaderValue, Request, Version};
use mtls_gateway::config::Action;
use mtls_gateway::facts::{ConnFacts, TlsInfo};
use mtls_gateway::template::{RequestVars, Target, Template};
use mtls_gateway::{config, headers, identity, routing, verify};
use proptest::prelude::*;

use common::*;

/// The facts of a connection to a gateway configured like the seed, with
/// alice's verified identity: all header rewrite needs (no running gateway).
struct Fixture {
    config: config::Config,
    identity_headers: Arc<[HeaderName]>,
    facts: ConnFacts,
    _work: Workdir,
}

static FIXTURE: LazyLock<Fixture> = LazyLock::new(|| {
    let work = Workdir::new();
    let pki = TestPki::with(&work, "Root CA", &["localhost"]);
    let alice = pki.alice;
    let text = GatewayConfig::mtls("localhost", "on")
        .proxy("/", "http://127.0.0.1:9")
        .header("Host", "$host")
        .header("X-Forwarded-For", "$proxy_add_x_forwarded_for")
        .header("X-SSL-Client-Verify", "$ssl_client_verify")
        .header("X-SSL-Client-DN", "$ssl_client_s_dn")
        .header("X-SSL-Client-Serial", "$ssl_client_serial")
        .render();
    let config = config::parse(&text, &work.path().join("gateway.toml")).expect("config");
    let peer = verify::verify_peer(
        Some(std::slice::from_ref(&alice.der)),
        &config.servers[0].client_auth,
        rustls::pki_types::UnixTime::now(),
    );
    assert_eq!(peer.verify_text(), "SUCCESS");
    let facts = ConnFacts {
        remote: SocketAddr::from(([127, 0, 0, 1], 40000)),
        proxy_protocol: None,
        local: SocketAddr::from(([127, 0, 0, 1], 3443)),
        tls: TlsInfo {
            protocol: "TLSv1.3",
            cipher: "TLS_AES_128_GCM_SHA256",
            server_name: Some("localhost".into()),
            resumed: false,
        },
        server_name: Arc::from("localhost"),
        peer: Arc::new(peer),
    };
    Fixture {
        identity_headers: headers::identity_headers(&config.servers),
        config,
        facts,
        _work: work,
    }
});

fn header_name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("x-ssl-client-dn".to_string()),
        Just("x_ssl_client_dn".to_string()),
        Just("x-ssl-client-verify".to_string()),
        Just("x-ssl_client-serial".to_string()),
        Just("connection".to_string()),
        Just("keep-alive".to_string()),
        Just("transfer-encoding".to_string()),
        Just("content-length".to_string()),
        Just("host".to_string()),
        Just("x-forwarded-for".to_string()),
        Just("te".to_string()),
        Just("upgrade".to_string()),
        "[a-z][a-z0-9_-]{0,12}",
    ]
}

fn header_value() -> impl Strategy<Value = String> {
    prop_oneof![
        "[ -~]{0,40}",
        Just("x-ssl-client-dn, x-ssl-client-verify, x-custom".to_string()),
        Just("CN=evil".to_string()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn header_rewrite_never_lets_a_client_copy_through(
        client in proptest::collection::vec((header_name(), header_value()), 0..12),
        underscores in any::<bool>(),
    ) {
        let fx = &*FIXTURE;
        let mut map = HeaderMap::new();
        for (n, v) in &client {
            if let (Ok(n), Ok(v)) = (HeaderName::from_bytes(n.as_bytes()), HeaderValue::from_str(v)) {
                map.append(n, v);
            }
        }
        let mut request = Request::get("/").body(()).unwrap();
        *request.headers_mut() = map.clone();
        let (parts, ()) = request.into_parts();
        let Action::Proxy(spec) = &fx.config.servers[0].locations[0].action else { panic!("proxy location") };
        let vars = RequestVars { facts: &fx.facts, request: &parts, host: "localhost", proxy_host: &spec.proxy_host, uri: "/", now_unix: 0, assertion: None };
        let out = headers::upstream_headers(&map, Version::HTTP_11, spec, &fx.identity_headers, underscores, 1 << 20, &vars).unwrap();
        let dn = fx.facts.peer.cert().unwrap().subject_dn().to_string();
        let values = |n: &str| out.get_all(n).iter().map(|v| v.to_str().unwrap().to_string()).collect::<Vec<_>>();
        prop_assert_eq!(values("x-ssl-client-verify"), vec!["SUCCESS".to_string()]);
        if dn.is_empty() {
            prop_assert!(values("x-ssl-client-dn").is_empty());
        } else {
            prop_assert_eq!(values("x-ssl-client-dn"), vec![dn]);
        }
        prop_assert_eq!(values("host"), vec!["localhost".to_string()]);
        let xff = values("x-forwarded-for");
        prop_assert_eq!(xff.len(), 1);
        prop_assert!(xff[0].ends_with("127.0.0.1"));
        for hop in ["connection", "keep-alive", "transfer-encoding", "content-length", "te", "upgrade"] {
            prop_assert!(!out.contains_key(hop), "{} forwarded", hop);
        }
        for (name, _) in &out {
            let n = name.as_str();
            if n.contains('_') {
                prop_assert!(underscores, "{} forwarded with underscores off", n);
                prop_assert!(!["x-ssl-client-dn", "x-ssl-client-verify", "x-ssl-client-serial", "x-forwarded-for", "host"]
                    .contains(&n.replace('_', "-").as_str()), "{} spoofs a gateway header", n);
            }
        }
        prop_assert!(!out.get_all("x-ssl-client-dn").iter().any(|v| v == "CN=evil"));
    }

    #[test]
    fn dn_formatting_never_panics_and_stays_one_ascii_line(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        if let Ok(s) = identity::dn::rfc2253(&bytes) {
            prop_assert!(s.is_ascii() && !s.contains('\r') && !s.contains('\n'));
        }
        if let Ok(s) = identity::dn::legacy(&bytes) {
            prop_assert!(s.is_ascii() && !s.contains('\r') && !s.contains('\n'));
        }
    }

    #[test]
    fn dn_of_wellformed_names_is_one_ascii_line(values in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..20), 1..5)) {
        // SEQUENCE { SET { SEQUENCE { OID 2.5.4.3, UTF8String value } } ... }
        let mut rdns = Vec::new();
        for v in &values {
            let mut atv = vec![0x06, 0x03, 0x55, 0x04, 0x03, 0x0c, v.len() as u8];
            atv.extend_from_slice(v);
            let mut seq = vec![0x30, atv.len() as u8];
            seq.extend(atv);
            let mut set = vec![0x31, seq.len() as u8];
            set.extend(seq);
            rdns.extend(set);
        }
        let mut name = vec![0x30, 0x81, rdns.len() as u8];
        name.extend(rdns);
        let s = identity::dn::rfc2253(&name).unwrap();
        prop_assert!(s.is_ascii() && !s.contains('\n') && !s.contains('\r'));
        prop_assert_eq!(s.matches("CN=").count(), values.len());
    }

    #[test]
    fn certificate_parsing_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = identity::ClientCert::from_der(&bytes);
    }

    #[test]
    fn config_parsing_never_panics(text in "[\\[\\]a-z_.=\"0-9 \n{},:/$]{0,200}") {
        let _ = config::parse(&text, std::path::Path::new("/nonexistent/gateway.toml"));
    }

    #[test]
    fn templates_parse_or_name_the_problem(text in "[ -~]{0,60}") {
        match Template::parse(&text, Target::Header) {
            Ok(t) => {
                if !text.contains('$') {
                    prop_assert_eq!(t.vars().count(), 0);
                }
            }
            Err(e) => prop_assert!(!e.to_string().is_empty()),
        }
    }

    #[test]
    fn normalized_paths_are_canonical(path in "/[a-z./%0-9A-F]{0,40}") {
        if let Ok(n) = routing::normalize(&path) {
            prop_assert!(n.starts_with('/'));
            prop_assert!(!n.contains("//"));
            prop_assert!(!n.contains("/./") && !n.contains("/../"));
            prop_assert!(!n.ends_with("/.") && !n.ends_with("/.."));
            if !n.contains('%') {
                prop_assert_eq!(routing::normalize(&n).unwrap(), n.clone());
            }
        }
    }
}
