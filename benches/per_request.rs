//! The gateway's per-connection and per-request work outside TLS:
//!
//! * `check_chain`: `verify::check_chain` for a client leaf under the root
//!   (the seed's shape) and under an intermediate;
//! * `identity`: `identity::ClientCert::from_der` (serial, fingerprints, DNs);
//! * `verify_peer`: both, as the listener calls it once per connection;
//! * `upstream_headers`: the header rewrite of one proxied request with the
//!   seed's nine `proxy_set_header` lines, from a connection's `ConnFacts`
//!   (no running gateway needed).
//!
//! `cargo bench --bench per_request`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::as_conversions)] // a test may panic: that is a failed test

mod common;

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use http::{HeaderMap, HeaderValue, Request, Version};
use rustls_pki_types::UnixTime;

use common::{Pki, ServerKey};
use mtls_gateway::config::Action;
use mtls_gateway::facts::{ConnFacts, TlsInfo};
use mtls_gateway::identity::ClientCert;
use mtls_gateway::template::RequestVars;
use mtls_gateway::verify::{check_chain, verify_peer};

fn bench(c: &mut Criterion) {
    let pki = Pki::new(ServerKey::EcdsaP256);
    let config = pki.config(0, false);
    let auth = config.servers[0].client_auth.clone();
    let direct = Pki::chain_der(&pki.client_pem);
    let via_intermediate = Pki::chain_der(&pki.client2_chain_pem);
    let now = UnixTime::now();

    let mut group = c.benchmark_group("per_connection");
    group.measurement_time(Duration::from_secs(3));
    group.bench_function("check_chain/leaf_under_root", |b| {
        b.iter(|| check_chain(black_box(&direct), &auth, now).expect("valid"))
    });
    group.bench_function("check_chain/leaf_under_intermediate", |b| {
        b.iter(|| check_chain(black_box(&via_intermediate), &auth, now).expect("valid"))
    });
    group.bench_function("identity/from_der", |b| {
        b.iter(|| ClientCert::from_der(black_box(direct[0].as_ref())).expect("parses"))
    });
    group.bench_function("verify_peer/leaf_under_root", |b| {
        b.iter(|| verify_peer(Some(black_box(&direct)), &auth, now))
    });
    group.finish();

    // A connection's facts as the listener computes them: all header
    // rewrite reads.
    let peer = verify_peer(Some(&direct), &config.servers[0].client_auth, now);
    let facts = ConnFacts {
        remote: "127.0.0.1:50000".parse().expect("addr"),
        proxy_protocol: None,
        local: "127.0.0.1:3443".parse().expect("addr"),
        tls: TlsInfo {
            protocol: "TLSv1.3",
            cipher: "TLS_AES_256_GCM_SHA384",
            server_name: Some("localhost".into()),
            resumed: false,
        },
        server_name: Arc::from("localhost"),
        peer: Arc::new(peer),
    };
    let identity_headers = mtls_gateway::headers::identity_headers(&config.servers);
    let spec = config.servers[0]
        .locations
        .iter()
        .find_map(|l| match &l.action {
            Action::Proxy(spec) => Some(spec),
            Action::Return(_) => None,
        })
        .expect("proxy location");
    let (parts, ()) = Request::get("/api/mtls")
        .header("host", "localhost:3443")
        .header("user-agent", "mtls-bench")
        .header("accept", "*/*")
        .body(())
        .expect("request")
        .into_parts();
    let client_headers: HeaderMap = parts.headers.clone();
    let vars = RequestVars {
        facts: &facts,
        request: &parts,
        host: "localhost",
        proxy_host: &spec.proxy_host,
        uri: "/api/mtls",
        now_unix: 1_800_000_000,
    };
    let mut group = c.benchmark_group("per_request");
    group.measurement_time(Duration::from_secs(3));
    group.bench_function("upstream_headers/seed", |b| {
        b.iter(|| {
            mtls_gateway::headers::upstream_headers(
                black_box(&client_headers),
                Version::HTTP_11,
                spec,
                &identity_headers,
                false,
                64 * 1024,
                &vars,
            )
            .expect("headers")
        })
    });
    let mut spoofed = client_headers.clone();
    spoofed.append("x-ssl-client-dn", HeaderValue::from_static("CN=evil"));
    spoofed.append("x-forwarded-for", HeaderValue::from_static("10.0.0.1"));
    spoofed.append("connection", HeaderValue::from_static("keep-alive"));
    group.bench_function("upstream_headers/spoofed_client_headers", |b| {
        b.iter(|| {
            mtls_gateway::headers::upstream_headers(
                black_box(&spoofed),
                Version::HTTP_11,
                spec,
                &identity_headers,
                false,
                64 * 1024,
                &vars,
            )
            .expect("headers")
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
