//! Server-side CPU of one mTLS handshake, in memory (no sockets): a rustls
//! client and the gateway's own rustls `ServerConfig` (built from a
//! configuration by `mtls_gateway::tls::server_config`, with its
//! `DeferredVerifier`) exchange records through buffers, and only the
//! server's calls are timed.
//!
//! * `full/*`: TLS 1.3 full handshakes, tickets and cache off, X25519, for
//!   an ECDSA P-256 and an RSA-2048 server key (client key ECDSA P-256);
//!   `+verify` adds what the gateway does once per connection right after
//!   the handshake (`verify::verify_peer`: chain check and identity);
//! * `full_aes128+verify/*`: TLS_AES_128_GCM_SHA256 instead of rustls'
//!   first choice TLS_AES_256_GCM_SHA384 (SHA-256 has CPU instructions on
//!   most x86-64 servers, SHA-384 often not);
//! * `full_tls12/*`: the same over TLS 1.2 (ECDHE-ECDSA/RSA-AES256-GCM);
//! * `full_mlkem/*`: X25519MLKEM768, what the gateway negotiates with a
//!   client that offers it (rustls' default);
//! * `resumed/*`: TLS 1.3 resumption with the gateway's tickets, then the
//!   per-connection chain check the gateway repeats for resumed sessions.
//!
//! `cargo bench --bench handshake`; the figures are µs of server CPU per
//! handshake, so 1e6 / figure is the per-core handshake ceiling.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::as_conversions)] // a test may panic: that is a failed test

mod common;

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use rustls::crypto::aws_lc_rs::kx_group;
use rustls::{ClientConfig, ClientConnection, ServerConfig, ServerConnection};
use rustls_pki_types::{ServerName, UnixTime};

use common::{Pki, ServerKey};
use mtls_gateway::tls::{SessionState, server_config};

/// One handshake; returns the time spent in the server's code.
fn handshake(
    server_config: &Arc<ServerConfig>,
    client_config: &Arc<ClientConfig>,
    after: impl FnOnce(&ServerConnection),
) -> Duration {
    let name = ServerName::try_from("localhost").expect("name");
    let mut client = ClientConnection::new(client_config.clone(), name).expect("client");
    let t = Instant::now();
    let mut server = ServerConnection::new(server_config.clone()).expect("server");
    let mut server_time = t.elapsed();
    let mut buf: Vec<u8> = Vec::with_capacity(16 * 1024);
    loop {
        buf.clear();
        while client.wants_write() {
            client.write_tls(&mut buf).expect("client write");
        }
        if !buf.is_empty() {
            let t = Instant::now();
            let mut rd = &buf[..];
            while !rd.is_empty() {
                server.read_tls(&mut rd).expect("server read");
                server.process_new_packets().expect("server handshake");
            }
            server_time += t.elapsed();
        }
        let t = Instant::now();
        buf.clear();
        while server.wants_write() {
            server.write_tls(&mut buf).expect("server write");
        }
        server_time += t.elapsed();
        if !buf.is_empty() {
            let mut rd = &buf[..];
            while !rd.is_empty() {
                client.read_tls(&mut rd).expect("client read");
                client.process_new_packets().expect("client handshake");
            }
        }
        if !client.is_handshaking()
            && !server.is_handshaking()
            && !client.wants_write()
            && !server.wants_write()
        {
            break;
        }
    }
    let t = Instant::now();
    after(&server);
    server_time += t.elapsed();
    black_box(&server);
    server_time
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("server_handshake");
    group.sample_size(30);
    group.measurement_time(Duration::from_secs(4));
    group.warm_up_time(Duration::from_secs(1));
    for key in [ServerKey::EcdsaP256, ServerKey::Rsa2048] {
        let label = match key {
            ServerKey::EcdsaP256 => "ecdsa_p256",
            ServerKey::Rsa2048 => "rsa2048",
        };
        let pki = Pki::new(key);
        let config = pki.config(0, false);
        let server = &config.servers[0];
        let sessions = SessionState::for_server(server, None).expect("sessions");
        let full_server = server_config(server, &sessions).expect("server config");
        let auth = server.client_auth.clone();
        let tls13 = [&rustls::version::TLS13];
        let tls12 = [&rustls::version::TLS12];
        let client = pki.client_config(
            &pki.client_pem,
            &pki.client_key_pem,
            kx_group::X25519,
            &tls13,
            false,
        );
        group.bench_function(format!("full/{label}"), |b| {
            b.iter_custom(|n| {
                (0..n)
                    .map(|_| handshake(&full_server, &client, |_| {}))
                    .sum()
            })
        });
        let verify = |s: &ServerConnection| {
            let peer =
                mtls_gateway::verify::verify_peer(s.peer_certificates(), &auth, UnixTime::now());
            assert_eq!(peer.verify_text(), "SUCCESS");
            black_box(peer);
        };
        group.bench_function(format!("full+verify/{label}"), |b| {
            b.iter_custom(|n| {
                (0..n)
                    .map(|_| handshake(&full_server, &client, verify))
                    .sum()
            })
        });
        let client_aes128 = pki.client_config_with(
            &pki.client_pem,
            &pki.client_key_pem,
            kx_group::X25519,
            &tls13,
            false,
            true,
        );
        group.bench_function(format!("full_aes128+verify/{label}"), |b| {
            b.iter_custom(|n| {
                (0..n)
                    .map(|_| handshake(&full_server, &client_aes128, verify))
                    .sum()
            })
        });
        let client12 = pki.client_config(
            &pki.client_pem,
            &pki.client_key_pem,
            kx_group::X25519,
            &tls12,
            false,
        );
        group.bench_function(format!("full_tls12+verify/{label}"), |b| {
            b.iter_custom(|n| {
                (0..n)
                    .map(|_| handshake(&full_server, &client12, verify))
                    .sum()
            })
        });
        let client_pq = pki.client_config(
            &pki.client_pem,
            &pki.client_key_pem,
            kx_group::X25519MLKEM768,
            &tls13,
            false,
        );
        group.bench_function(format!("full_mlkem+verify/{label}"), |b| {
            b.iter_custom(|n| {
                (0..n)
                    .map(|_| handshake(&full_server, &client_pq, verify))
                    .sum()
            })
        });

        // Resumption with the gateway's ticketer (session_tickets = true).
        let resume_cfg = pki.config(0, true);
        let rserver = &resume_cfg.servers[0];
        let rsessions = SessionState::for_server(rserver, None).expect("sessions");
        let resume_server = server_config(rserver, &rsessions).expect("server config");
        let resume_client = pki.client_config(
            &pki.client_pem,
            &pki.client_key_pem,
            kx_group::X25519,
            &tls13,
            true,
        );
        // Prime the client's ticket store.
        handshake(&resume_server, &resume_client, |_| {});
        let resumed = |s: &ServerConnection| {
            assert_eq!(s.handshake_kind(), Some(rustls::HandshakeKind::Resumed));
        };
        group.bench_function(format!("resumed/{label}"), |b| {
            b.iter_custom(|n| {
                (0..n)
                    .map(|_| handshake(&resume_server, &resume_client, resumed))
                    .sum()
            })
        });
        let resumed_verify = |s: &ServerConnection| {
            resumed(s);
            verify(s);
        };
        group.bench_function(format!("resumed+verify/{label}"), |b| {
            b.iter_custom(|n| {
                (0..n)
                    .map(|_| handshake(&resume_server, &resume_client, resumed_verify))
                    .sum()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
