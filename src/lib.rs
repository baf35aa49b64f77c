//! # mtls-gateway
//!
//! A TLS edge that verifies client certificates the way nginx's
//! `ssl_verify_client` does and forwards the verified identity to an
//! upstream in headers, replacing an nginx server block with
//! `proxy_set_header X-SSL-Client-* $ssl_client_*` lines.
//!
//! ## The path of a connection
//!
//! ```text
//!  listener ──► TLS handshake ──► client-cert verdict ──► per request:
//!  (listener)   (listener, tls,    (verify: chain, depth,   admission ─► host ──────► routing
//!               SNI → server,      OpenSSL's rules, CRLs;   (service)   (request)   (routing)
//!               one deadline)      identity: $ssl_client_*)      │
//!                                        │                       ▼
//!                                  facts (ConnFacts)   return (respond)  or  header rewrite ─► upstream
//!                                                                      (headers, template)  (proxy)
//!
//!  any rejection ─► status, page, connection close, log line (respond)
//! ```
//!
//! Where things are computed:
//! * a `$ssl_client_*` value: once per connection, in
//!   [`identity::ClientCert::from_der`] (`$ssl_client_s_dn` by
//!   [`identity::dn::rfc2253`]), kept in the connection's
//!   [`facts::ConnFacts`], rendered into a header by [`template`] and set by
//!   [`headers::upstream_headers`];
//! * who may reach a location: the rules in [`verify::access`] (built by
//!   the configuration), decided in `service` once per connection, location
//!   and configuration generation and cached in [`conn::ConnCtx`];
//! * a rejection's status, page, `Connection: close` and log line:
//!   [`respond::Reject`], in one place.
//!
//! Around that path: [`config`] (raw TOML, then validated), [`runtime`] (a
//! loaded configuration ready to serve: a proxy location always with its
//! upstream), [`run`] (start, reload, shutdown), [`workers`] (a thread and
//! runtime per CPU; a connection and its upstream connections stay on one),
//! [`conn`] (the live handles
//! of a connection), [`service`] (the per-request pipeline), [`request`]
//! (what the gateway accepts as a request: body framing, Host), [`proxy`]
//! (the upstream round trip; its pool, new connections, bodies and errors in
//! submodules), [`respond`] (every response the gateway makes itself),
//! [`body`] (request body limits and response bodies), [`io_timeout`] (write
//! timeouts: `send_timeout`, `proxy_send_timeout`) and [`send_watch`]
//! (`send_timeout` for HTTP/2 streams), [`linger`] (lingering close after an
//! early answer), [`access_log`], [`metrics`] and [`admin`] (health and
//! metrics listener), [`clock`], and the operator tools `certs` (the `certs`
//! cargo feature, on by default), [`inspect`] and [`import`] (nginx
//! configuration to gateway TOML).
//!
//! Modules import each other without cycles (a parent and its own child
//! aside): [`facts`], [`verify`] and [`identity`] are leaves that know nothing
//! of the runtime.
//!
//! ## Security invariants
//!
//! * Identity values come only from a [`verify::PeerIdentity`], which only
//!   the verification module can make, once per connection (resumed
//!   connections included: the restored chain is verified again).
//! * Every client copy of a header the gateway sets is removed, in every
//!   letter case, every duplicate and every `_` spelling; identity headers
//!   are stripped in every location of every server, not only where they
//!   are set.
//! * A client certificate is accepted only when OpenSSL (and so nginx) would
//!   accept it: rustls-webpki's path building plus OpenSSL's `ssl_client`
//!   purpose, name constraints on subject names, and its string decoding.
//! * The CertificateVerify signature is always checked in the handshake:
//!   presenting a certificate without its key never gets through.
//! * Routing works on nginx's normalized path, so `..` and `%2e%2e` cannot
//!   reach a location the raw path seems to name.
//! * Nothing a peer sends can panic the process.

pub mod access_log;
pub mod admin;
pub mod assertion;
pub mod body;
#[cfg(feature = "certs")]
pub mod certs;
pub mod check;
pub mod clock;
pub mod config;
pub mod conn;
pub mod facts;
pub mod headers;
pub mod identity;
pub mod import;
pub mod inspect;
pub mod io_timeout;
pub mod linger;
pub mod listener;
pub mod metrics;
pub mod proxy;
pub mod proxy_protocol;
pub mod request;
pub mod respond;
pub mod routing;
pub mod run;
pub mod runtime;
pub mod send_watch;
pub mod service;
pub mod template;
pub mod tickets;
pub mod tls;
pub mod verify;
pub mod wake_gate;
pub mod workers;
