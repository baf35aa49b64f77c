//! Why a `certs` command failed. Every message names the file (or the
//! option) and the problem; [`super::run`] prints it after
//! `mtls-gateway certs: `. Errors of one concern have their own enum
//! ([`PasswordError`], [`P12Error`], [`ProfileError`], [`CaError`],
//! [`NotUtc`]), wrapped here with the file or option they came from.

use std::io;
use std::path::PathBuf;

use toml::value::Datetime;
use x509_parser::prelude::X509Error;

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
    #[error("cannot generate a {key_type} key: {source}")]
    KeyGenerate {
        /// The key type as `--key-type` describes it.
        key_type: &'static str,
        source: rcgen::Error,
    },
    /// A passphrase-protected key file.
    #[error(
        "{}: the private key is encrypted (passphrase-protected); encrypted keys are not supported. Decrypt it once: `openssl pkey -in {} -out KEY.pem` (asks the passphrase; keep KEY.pem mode 0600) and use KEY.pem",
        .path.display(), .path.display()
    )]
    EncryptedKey { path: PathBuf },
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

    /// `certs init` on a folder that already holds a CA, without `--force`.
    #[error(
        "{}: already holds a CA (ca.crt, ca.key); nothing was written. `certs init --force` would make a NEW CA: every certificate issued from this folder (the server's and every user's .p12) would stop verifying and all of them would have to be issued and handed out again. To issue more certificates from this CA use `certs client` or `certs server`; to really start over, move the folder away first",
        .dir.display()
    )]
    CaExists { dir: PathBuf },
    /// `certs server` without `--server-name`, and no earlier server
    /// certificate whose names it could reuse.
    #[error(
        "{}: no earlier server certificate with recorded names to renew; give --server-name",
        .dir.display()
    )]
    NoNamesToRenew { dir: PathBuf },

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
        "the certificate would end after its CA ({ca}, which ends {ca_not_after}); ask for fewer days"
    )]
    OutlivesCa {
        /// The CA's certificate file name.
        ca: &'static str,
        /// The CA's notAfter, as the operator reads dates.
        ca_not_after: String,
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

/// A time in the index that is not a full UTC date and time.
#[derive(Debug, thiserror::Error)]
#[error("`{0}` is not a date and time in UTC (like 2026-11-28T17:00:00Z)")]
pub struct NotUtc(pub Datetime);

/// Why a certificate cannot be made as asked: an invalid name, or no
/// random serial.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error("the system random generator failed")]
    Random(#[source] aws_lc_rs::error::Unspecified),
    /// `--country` is not two letters.
    #[error("country `{0}` must be a two-letter code such as `RU` or `DE`")]
    Country(String),
    /// rcgen refused the country as a PrintableString (not expected after
    /// the two-letter check).
    #[error("country `{value}`: {source}")]
    CountryString { value: String, source: rcgen::Error },
    /// An empty (or blank) name attribute; says which one.
    #[error("the {0} must not be empty")]
    Empty(&'static str),
    /// `--email` with non-ASCII characters (IA5String is ASCII).
    #[error("e-mail address `{0}` must be ASCII")]
    EmailNotAscii(String),
    /// A validity beyond 9999-12-31, the last date of X.509's
    /// GeneralizedTime (and of the `time` crate).
    #[error("a validity of {0} days ends after the year 9999; ask for fewer days")]
    TooManyDays(u32),
    #[error("at least one --server-name is needed")]
    NoServerName,
    #[error("--server-name `{0}` is neither an IP address nor a DNS name")]
    ServerName(String),
}

/// Why no password could be had; [`CertsError`] names where it came from.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error(
        "the .p12 password is empty; browsers and Windows handle empty PKCS#12 passwords inconsistently"
    )]
    Empty,
    /// `--password-env VAR` names no variable (or a non-UTF-8 one).
    #[error("the environment variable is not set (or not UTF-8)")]
    Unset(#[source] std::env::VarError),
    /// No terminal to prompt on.
    #[error(
        "cannot ask for the .p12 password ({0}); without a terminal use --password-file FILE or --password-env VAR"
    )]
    NoTerminal(#[source] std::io::Error),
    /// The prompt's two answers differ.
    #[error("the two passwords differ; nothing was written")]
    Differ,
}

/// Why the PKCS#12 encoder refused (not expected for what `certs` makes).
#[derive(Debug, thiserror::Error)]
pub enum P12Error {
    #[error("PKCS#12: the key: {0}")]
    Key(#[source] p12_keystore::error::Error),
    #[error("PKCS#12: a certificate: {0}")]
    Certificate(#[source] p12_keystore::error::Error),
    /// An empty chain: a `.p12` needs the key's certificate.
    #[error("PKCS#12: no certificate")]
    NoCertificate,
    #[error("PKCS#12: {0}")]
    Encode(#[source] p12_keystore::error::Error),
}

/// Why a certificate and key cannot be used as a CA.
#[derive(Debug, thiserror::Error)]
pub enum CaError {
    #[error("no PEM certificate: {0}")]
    NoPem(#[source] rustls_pki_types::pem::Error),
    #[error("does not parse: {0}")]
    Parse(#[source] x509_parser::nom::Err<X509Error>),
    /// rcgen cannot sign with it.
    #[error("cannot be used as an issuer: {0}")]
    NotAnIssuer(#[source] rcgen::Error),
    #[error("the key is not the certificate's key")]
    KeyMismatch,
}
