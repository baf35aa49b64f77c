//! The gateway's per-connection and per-request work outside TLS:
//!
//! * `check_chain`: `verify::check_chain` for a client leaf under the root
//!   (the seed's shape) and under an intermediate;
//! * `identity`: `identity::ClientCert::from_der` (serial, fingerprints, DNs);
//! * `verify_peer`: both, as the listener calls it once per connection;
//! * `access_policy`: `AccessPolicy::decide` with allow lists of 1 and
//!   10,000 fingerprints or DNs, and a subject-attribute rule;
//! * `upstream_headers`: the header rewrite of one proxied request with the
//!   seed's nine `proxy_set_header` lines, from a connection's `ConnFacts`
//!   (no running gateway needed);
//! * `identity_formats`: the RFC 9440 / RFC 8941 / XFCC values of a verified
//!   chain, computed once per chain (`forwarded/new`), then each request's
//!   rendering of all of them from that cache (`render/identity_formats`);
//! * `assertion`: signing one `$ssl_client_jwt` (ES256 and EdDSA: paid once
//!   per connection and audience), and a request's rendering of the
//!   connection's cached token (`render/jwt_cached`).
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
use mtls_gateway::assertion::{Assertion, SigningKey, TokenCache};
use mtls_gateway::config::Action;
use mtls_gateway::facts::{ConnFacts, TlsInfo};
use mtls_gateway::identity::ClientCert;
use mtls_gateway::identity::forward::Forwarded;
use mtls_gateway::template::{AssertionVars, RequestVars, Target, Template};
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
        assertion: None,
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

    // The new identity values: once per verified chain, then per request.
    let peer2 = Arc::new(verify_peer(Some(&via_intermediate), &auth, now));
    let leaf2 = peer2.verified_cert().expect("verified");
    let facts2 = ConnFacts {
        peer: peer2.clone(),
        ..facts_like(&facts)
    };
    let mut group = c.benchmark_group("identity_formats");
    group.measurement_time(Duration::from_secs(3));
    group.bench_function("forwarded/new", |b| {
        b.iter(|| Forwarded::new(black_box(leaf2), peer2.issuers()))
    });
    let all = Template::parse(
        "$ssl_client_cert_rfc9440 $ssl_client_cert_chain_rfc9440 $ssl_client_spki_sha256 \
         $ssl_client_san_dns $ssl_client_san_email $ssl_client_san_uri $ssl_client_san_ip $ssl_client_xfcc",
        Target::Header,
    )
    .expect("template");
    let vars2 = RequestVars {
        facts: &facts2,
        ..vars_like(&vars)
    };
    all.render(&vars2); // fills the per-chain cache, as a connection's first request does
    group.bench_function("render/identity_formats", |b| {
        b.iter(|| all.render(black_box(&vars2)))
    });
    group.finish();

    let mut group = c.benchmark_group("assertion");
    group.measurement_time(Duration::from_secs(3));
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let es = aws_lc_rs::signature::EcdsaKeyPair::generate_pkcs8(
        &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
        &rng,
    )
    .expect("key");
    let ed = aws_lc_rs::signature::Ed25519KeyPair::generate_pkcs8(&rng).expect("key");
    for (name, pkcs8) in [("es256", es.as_ref()), ("eddsa", ed.as_ref())] {
        let key = SigningKey::from_private_key(&rustls_pki_types::PrivateKeyDer::Pkcs8(
            pkcs8.to_vec().into(),
        ))
        .expect("key");
        let assertion = Assertion::new(
            key,
            Vec::new(),
            "https://gateway.example".into(),
            "backend".into(),
            Duration::from_secs(60),
        );
        group.bench_function(format!("sign/{name}"), |b| {
            b.iter(|| assertion.sign(black_box(leaf2), "backend", 1_800_000_000))
        });
        if name == "es256" {
            let tokens = TokenCache::default();
            let jwt = Template::parse("$ssl_client_jwt", Target::Header).expect("template");
            let vars3 = RequestVars {
                assertion: Some(AssertionVars {
                    assertion: &assertion,
                    audience: "backend",
                    tokens: &tokens,
                }),
                ..vars_like(&vars2)
            };
            jwt.render(&vars3); // the connection's first request signs
            group.bench_function("render/jwt_cached", |b| {
                b.iter(|| jwt.render(black_box(&vars3)))
            });
        }
    }
    group.finish();

    access_policy(c, &facts.peer);
}

/// `AccessPolicy::decide` (made once per connection and location, then
/// cached with the connection): an allow list of 10,000 fingerprints or
/// 10,000 DNs costs what one entry costs, a hash lookup.
fn access_policy(c: &mut Criterion, peer: &mtls_gateway::verify::PeerIdentity) {
    use mtls_gateway::verify::access::{
        AccessPolicy, AttributeMatch, Condition, Decision, Kind, ListFile, Name, PatternSet, Rule,
    };
    let cert = peer.cert().expect("a client certificate");
    let policy = |conditions: Vec<Condition>| AccessPolicy {
        require_verified: true,
        rules: Arc::from([Rule {
            label: "allow[0]".into(),
            conditions,
        }]),
    };
    let list = |text: String| Condition::List(Arc::new(ListFile::parse(&text).expect("list")));
    let fingerprints =
        |n: u32| -> String { (0..n).map(|i| format!("sha256:{i:064x}\n")).collect() };
    let subjects = |n: u32| -> String {
        (0..n)
            .map(|i| format!("subject:CN=robot-{i},OU=Robots,O=Example\n"))
            .collect()
    };
    let cases = [
        (
            "list/1_fingerprint_miss",
            policy(vec![list(fingerprints(1))]),
        ),
        (
            "list/10000_fingerprints_miss",
            policy(vec![list(fingerprints(10_000))]),
        ),
        (
            "list/10000_fingerprints_hit",
            policy(vec![list(format!(
                "{}sha256:{}\n",
                fingerprints(10_000),
                cert.fingerprint_sha256()
            ))]),
        ),
        (
            "list/10000_subjects_miss",
            policy(vec![list(subjects(10_000))]),
        ),
        (
            "list/10000_subjects_hit",
            policy(vec![list(format!(
                "{}subject:{}\n",
                subjects(10_000),
                cert.subject_dn()
            ))]),
        ),
        (
            "subject/OU_and_CN_glob",
            policy(vec![Condition::Attributes(
                Name::Subject,
                vec![
                    AttributeMatch {
                        oid: "2.5.4.11".into(),
                        written: "OU".into(),
                        patterns: PatternSet::new(Kind::ATTRIBUTE, &["Dev"]).expect("pattern"),
                    },
                    AttributeMatch {
                        oid: "2.5.4.3".into(),
                        written: "CN".into(),
                        patterns: PatternSet::new(Kind::ATTRIBUTE, &["*"]).expect("pattern"),
                    },
                ],
            )]),
        ),
    ];
    let mut group = c.benchmark_group("access_policy");
    group.measurement_time(Duration::from_secs(3));
    for (name, policy) in &cases {
        let hit = name.ends_with("_hit") || name.starts_with("subject/");
        let want = if hit {
            Decision::Rule(0)
        } else {
            Decision::NoRuleMatched
        };
        assert_eq!(policy.decide(peer), want, "{name}");
        group.bench_function(*name, |b| b.iter(|| policy.decide(black_box(peer))));
    }
    group.finish();
}

fn facts_like(f: &ConnFacts) -> ConnFacts {
    ConnFacts {
        remote: f.remote,
        local: f.local,
        tls: f.tls.clone(),
        server_name: f.server_name.clone(),
        peer: f.peer.clone(),
        proxy_protocol: f.proxy_protocol,
    }
}

fn vars_like<'a>(v: &RequestVars<'a>) -> RequestVars<'a> {
    RequestVars {
        facts: v.facts,
        request: v.request,
        host: v.host,
        proxy_host: v.proxy_host,
        uri: v.uri,
        now_unix: v.now_unix,
        assertion: v.assertion,
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
