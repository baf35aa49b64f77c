//! TEMPORARY placeholder until the identity module lands (same API).
pub mod dn {}
mod cert;
pub use cert::{CertParseError, ClientCert};
