//! Client-certificate identity: the nginx `$ssl_client_*` values of a client
//! certificate, computed once per connection.
//!
//! [`ClientCert::from_der`] parses the leaf certificate a client presented and
//! computes, byte for byte as nginx (with OpenSSL 3.0) prints them, the
//! serial, SHA-1 fingerprint, subject/issuer DNs in both the RFC 2253 and the
//! legacy `X509_NAME_oneline` form, validity dates and (lazily) the raw and
//! URL-escaped PEM, the SHA-256 fingerprints of the certificate and of its
//! public key, and the subjectAltNames by kind ([`san`]). [`dn`] holds the DN formatters, usable on their own.
//!
//! Every value is plain ASCII (SAN bytes outside it are `\xHH`-escaped) without CR/LF, so it can go straight into an
//! HTTP header.
//!
//! [`forward`] writes a *verified* certificate in the formats backends
//! parse: RFC 9440 `Client-Cert`/`Client-Cert-Chain`, the SAN lists as RFC
//! 8941 Lists and an Envoy `X-Forwarded-Client-Cert` element.

pub mod der;
pub mod dn;
pub mod forward;
pub mod oid;
pub mod san;

mod cert;

/// Standard base64 (OCSP's GET requests use it too).
pub use cert::{CertParseError, ClientCert};
pub(crate) use cert::{base64, base64url};
