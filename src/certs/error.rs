//! Why a `certs` command failed. Every message names the file (or the
//! option) and the problem; [`super::run`] prints it after
//! `mtls-gateway certs: `. Errors of one concern have their own enum
//! ([`PasswordError`], [`P12Error`], [`ProfileError`], [`CaError`],
//! [`NotUtc`]), wrapped here with the file or option they came from.

use std::io;
use std::path::PathBuf;

use super::index::NotUtc;
use super::keys::KeyType;
use super::layout::CaError;
use super::output;
use super::p12::P12Error;
use super::password::PasswordError;
use super::profile::ProfileError;

/// A `certs` command's failure.
#[derive(Debug, thiserror::Error)]
pub enum CertsError {
    /// A file that cannot be read.
    #[error("{}: cannot read: {source}", .path.display())]
    Read { path: PathBuf, source: io::Error },
    /// The folder of an output file cannot be made.
    #[error("{}: cannot create the folder: {source}", .path.display())]
    CreateDir { path: PathBuf, source: io::Error },
    /// An output file cannot be created, written or renamed into place.
    #[error("{}: cannot write: {source}", .path.display())]
    Write { path: PathBuf, source: io::Error },
    /// An output path that ends in `..` or `/`.
    #[error("{}: not a file name", .path.display())]
    NotAFileName { path: PathBuf },
    /// Output files that exist, without `--force`: nothing is written.
    #[error(
        "refusing to overwrite {} (use --force to replace {})",
        join_paths(.paths),
        if .paths.len() == 1 { "it" } else { "them" }
    )]
    Exists { paths: Vec<PathBuf> },

    /// The crypto library refused to make a key (not expected).
    #[error("cannot generate a {} key: {source}", .key_type.describe())]
    KeyGenerate {
        key_type: KeyType,
        source: rcgen::Error,
    },
    /// A key file that holds no usable private key.
    #[error(
        "{}: not a usable private key (unencrypted PEM: PKCS#8, PKCS#1 or SEC1): {source}",
        .path.display()
    )]
    Key { path: PathBuf, source: rcgen::Error },

    /// `--password-file FILE`: an unusable password in it.
    #[error("{}: {source}", .path.display())]
    PasswordFile {
        path: PathBuf,
        source: PasswordError,
    },
    /// `--password-env VAR`: unset, or an unusable password.
    #[error("--password-env {var}: {source}")]
    PasswordEnv { var: String, source: PasswordError },
    /// The password asked for on the terminal.
    #[error(transparent)]
    Password(#[from] PasswordError),
    /// The `.p12` cannot be encoded.
    #[error(transparent)]
    Pkcs12(#[from] P12Error),
    /// A certificate's contents (names, serial) as asked for are invalid.
    #[error(transparent)]
    Profile(#[from] ProfileError),

    /// `DIR/index.toml` does not exist: not a `certs init` folder.
    #[error(
        "{}: not found; is {} a folder made by `mtls-gateway certs init`?",
        .path.display(),
        .dir.display()
    )]
    IndexMissing { path: PathBuf, dir: PathBuf },
    /// `index.toml` is not a valid index.
    #[error("{}: {source}", .path.display())]
    IndexParse {
        path: PathBuf,
        source: toml::de::Error,
    },
    /// A time in `index.toml` is not a full UTC date and time.
    #[error("{}: {source}", .path.display())]
    IndexTime { path: PathBuf, source: NotUtc },
    /// `crl_number` in `index.toml` cannot grow any further (RFC 5280: it
    /// increases with each CRL).
    #[error(
        "{}: crl_number {number} is the largest possible and the next CRL needs a larger one; \
         make a new CA folder",
        .path.display()
    )]
    CrlNumberExhausted { path: PathBuf, number: u64 },
    /// The TOML encoder refused the new index (not expected).
    #[error("cannot encode the index: {0}")]
    IndexEncode(#[source] toml::ser::Error),
    /// The TOML encoder refused the index being saved (not expected).
    #[error("{}: cannot encode the index: {source}", .path.display())]
    IndexSave {
        path: PathBuf,
        source: toml::ser::Error,
    },

    /// A CA certificate of the folder that cannot be used.
    #[error("{}: {source}", .path.display())]
    CaCertificate { path: PathBuf, source: CaError },
    /// A CA key file that holds another certificate's key.
    #[error("{}: is not the private key of {}", .key.display(), .cert.display())]
    CaKeyMismatch { key: PathBuf, cert: PathBuf },
    /// The root CA `certs init` just made cannot sign (not expected).
    #[error("the new root CA is not usable: {0}")]
    NewRootUnusable(#[source] CaError),
    /// rcgen refused to self-sign the new root CA (not expected).
    #[error("cannot make the root CA: {0}")]
    SelfSign(#[source] rcgen::Error),
    /// A certificate asked to end after the CA that signs it.
    #[error(
        "the certificate would end after its CA ({ca}, which ends {}); ask for fewer days",
        output::date_unix(*.ca_not_after)
    )]
    OutlivesCa {
        /// The CA's certificate file name.
        ca: &'static str,
        /// The CA's notAfter, unix seconds.
        ca_not_after: i64,
    },
    /// rcgen refused to sign a certificate.
    #[error("cannot sign with {ca}: {source}")]
    Sign {
        ca: &'static str,
        source: rcgen::Error,
    },
    /// A signed certificate's issuer is not its CA's subject byte for byte.
    #[error(
        "the certificate signed by {ca} does not carry its subject name byte for byte; \
         clients would not find its issuer (was this CA made by another tool?)"
    )]
    IssuerName { ca: &'static str },
    /// A certificate file (the root CA, read for a chain) with no PEM certificate.
    #[error("{}: no PEM certificate: {source}", .path.display())]
    NoPemCertificate {
        path: PathBuf,
        source: rustls_pki_types::pem::Error,
    },

    /// `certs revoke SERIAL`: no such serial in the index.
    #[error(
        "{}: no certificate with serial {serial} (`mtls-gateway certs list --ca {}` lists them)",
        .index.display(),
        .ca.display()
    )]
    UnknownSerial {
        index: PathBuf,
        serial: String,
        ca: PathBuf,
    },
    /// `certs revoke` of the root CA's serial.
    #[error(
        "serial {serial} is the root CA itself; a root cannot be revoked: \
         make a new CA folder and stop trusting this one"
    )]
    RevokeRoot { serial: String },
    /// rcgen refused to sign a CRL.
    #[error("cannot sign the CRL of {ca}: {source}")]
    CrlSign {
        ca: &'static str,
        source: rcgen::Error,
    },
}

/// `a, b, c`.
fn join_paths(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}
