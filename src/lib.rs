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
//!               SNI → server)      EKU; identity: DN,       (service)   (request)   (routing)
//!                                  serial, fingerprint)          │
//!                                                                ▼
//!                                           return (respond)  or  header rewrite ─► upstream
//!                                                                 (headers, template) (proxy)
//!
//!  any rejection ─► status, page, connection close, log line (respond)
//! ```
//!
//! Around that path: [`config`] (raw TOML, then validated), [`runtime`] (a
//! loaded configuration ready to serve: a proxy location always with its
//! upstream), [`run`] (start, reload, shutdown), [`service`] (the per-request
//! pipeline), [`request`] (what the gateway accepts as a request: body
//! framing, Host), [`proxy`] (the upstream round trip; its pool, new
//! connections, bodies and errors in submodules), [`respond`] (every response
//! the gateway makes itself, and every rejection's status, page and log
//! line), [`body`] (request body limits and response bodies), [`io_timeout`]
//! (write timeouts: `send_timeout`, `proxy_send_timeout`) and [`send_watch`]
//! (`send_timeout` for HTTP/2 streams), [`linger`] (lingering close after an
//! early answer), [`access_log`], [`metrics`] and [`admin`] (health and
//! metrics listener), and the operator tools `certs` (the `certs` cargo
//! feature, on by default) and [`inspect`].
//!
//! ## Security invariants
//!
//! * Identity values come only from a [`verify::PeerIdentity`], which only
//!   the verification module can make, once per connection (resumed
//!   connections included: the restored chain is verified again).
//! * Every client copy of a header the gateway sets is removed, in every
//!   letter case, every duplicate and every `_` spelling; identity headers
//!   are stripped in every location of a server, not only where they are set.
//! * The CertificateVerify signature is always checked in the handshake:
//!   presenting a certificate without its key never gets through.
//! * Routing works on nginx's normalized path, so `..` and `%2e%2e` cannot
//!   reach a location the raw path seems to name.
//! * Nothing a peer sends can panic the process.

pub mod access_log;
pub mod admin;
pub mod body;
#[cfg(feature = "certs")]
pub mod certs;
pub mod clock;
pub mod config;
pub mod conn;
pub mod facts;
pub mod headers;
pub mod identity;
pub mod inspect;
pub mod io_timeout;
pub mod linger;
pub mod listener;
pub mod metrics;
pub mod proxy;
pub mod request;
pub mod respond;
pub mod routing;
pub mod run;
pub mod runtime;
pub mod send_watch;
pub mod service;
pub mod template;
pub mod tls;
pub mod verify;
