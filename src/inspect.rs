//! `mtls-gateway inspect CERT.pem [--config FILE | --ca BUNDLE]`: what the
//! gateway would forward for a client certificate, computed by the same code
//! the gateway runs ([`crate::identity`] for the `$ssl_client_*` values,
//! [`crate::verify`] for the verdict), so an operator can answer "the
//! backend says the DN looks wrong" without a TLS connection.
//!
//! Output: one `$variable value` line per variable, then, given a CA bundle
//! or a configuration, `$ssl_client_verify` (`SUCCESS` or `FAILED:<reason>`),
//! what the gateway would do with the request, and the verified path; with a
//! configuration whose locations have access rules, for each location
//! whether the certificate would be admitted and by which rule.
//! Exit status: 0, 1 if a verification failed, 2 if the input is unusable.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, UnixTime};
use x509_parser::error::X509Error;

use crate::config::{ConfigErrors, ServerName};
use crate::identity::{CertParseError, ClientCert};
use crate::verify::policy::PolicyError;
use crate::verify::{self, Admission, TrustStore, Verdict};
use crate::verify::{ClientAuth, FailureMode, VerifyMode};

/// Arguments of `mtls-gateway inspect`.
#[derive(Debug, clap::Args)]
pub struct InspectArgs {
    /// PEM certificate, or a chain (leaf first) as a client would send it; DER is accepted too.
    pub cert: PathBuf,
    /// Verify as each server of this gateway configuration would (its CA
    /// files, verify_depth, CRLs and verify_client mode).
    #[arg(long, value_name = "FILE", conflicts_with = "ca")]
    pub config: Option<PathBuf>,
    /// Verify against this PEM CA bundle, as `client_certificate` with `verify_client = "on"`.
    #[arg(long, value_name = "BUNDLE")]
    pub ca: Option<PathBuf>,
    /// With --ca: at most this many intermediates between the certificate and the root (nginx's default is 1).
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub verify_depth: u32,
    /// With --config: only the server answering to this name (or labelled `server[N]`).
    #[arg(long, value_name = "NAME", requires = "config")]
    pub server: Option<String>,
    /// For a .p12/.pfx file: where its password comes from (default: asked on the terminal).
    #[cfg(feature = "certs")]
    #[command(flatten)]
    pub password: crate::certs::PasswordArgs,
}

/// Width of the variable-name column.
const NAME_WIDTH: usize = 31;

/// Why `inspect` cannot say anything (exit status 2). Each message names
/// the file and the problem.
#[derive(Debug, thiserror::Error)]
pub enum InspectError {
    /// The certificate or the CA bundle cannot be read.
    #[error("{}: cannot read: {source}", .path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A PEM file with a broken `CERTIFICATE` block.
    #[error("{}: not valid PEM: {source}", .path.display())]
    Pem {
        path: PathBuf,
        source: rustls_pki_types::pem::Error,
    },
    /// No PEM certificate, and not one DER certificate either.
    #[error(
        "{}: neither a PEM certificate (`-----BEGIN CERTIFICATE-----`) nor a DER one",
        .path.display()
    )]
    NotACertificate {
        path: PathBuf,
        /// Why the bytes are not DER.
        source: x509_parser::nom::Err<X509Error>,
    },
    /// The client certificate (the file's first) cannot be read as the
    /// gateway reads it.
    #[error("{}: the first certificate cannot be read: {source:?}", .path.display())]
    Leaf {
        path: PathBuf,
        source: CertParseError,
    },
    /// A `.p12` file that cannot be read (the message says how to
    /// extract its chain with openssl instead).
    #[error("{0}")]
    Pkcs12(String),
    /// `--ca BUNDLE` is not a usable trust store ([`TrustStore::new`]'s reason).
    #[error("{}: {source}", .path.display())]
    Bundle {
        path: PathBuf,
        source: crate::verify::TrustStoreError,
    },
    /// `--ca BUNDLE` holds no root: nothing could ever verify.
    #[error(
        "{}: no self-signed root in the bundle; nothing could ever verify \
         (an intermediate is never a trust anchor)",
        .path.display()
    )]
    NoTrustAnchor { path: PathBuf },
    /// `--verify-depth` (or another setting) makes no usable policy.
    #[error("{}", join_problems(.0))]
    Policy(Vec<PolicyError>),
    /// `--config FILE` does not load.
    #[error(transparent)]
    Config(#[from] ConfigErrors),
    /// `--server NAME` selects no server of the configuration.
    #[error("{}: no server answers to `{name}`", .path.display())]
    NoServer { path: PathBuf, name: String },
}

/// Runs `inspect`.
pub fn run(args: InspectArgs) -> ExitCode {
    match inspect(&args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("mtls-gateway inspect: {e}");
            ExitCode::from(2)
        }
    }
}

/// Prints everything; `Ok(false)` when a verification failed.
fn inspect(args: &InspectArgs) -> Result<bool, InspectError> {
    let chain = read_chain(args)?;
    // `chain[0]` exists: read_chain never returns an empty chain (a file
    // without PEM certificates is one DER certificate, or an error).
    let leaf = ClientCert::from_der(chain[0].as_ref()).map_err(|source| InspectError::Leaf {
        path: args.cert.clone(),
        source,
    })?;
    let now = UnixTime::now();
    println!(
        "# {}: {} certificate(s); the first is the client certificate",
        args.cert.display(),
        chain.len()
    );
    // Saturating: seconds past i64::MAX are 292 billion years away.
    print_values(&leaf, i64::try_from(now.as_secs()).unwrap_or(i64::MAX));

    let mut all_ok = true;
    if let Some(bundle) = &args.ca {
        let auth = bundle_auth(bundle, args.verify_depth)?;
        println!();
        println!(
            "# verified against {} (verify_client on, verify_depth {})",
            bundle.display(),
            args.verify_depth
        );
        all_ok &= print_verification(&chain, &auth, now);
    }
    if let Some(config_path) = &args.config {
        let config = crate::config::load(config_path)?;
        let mut shown = 0;
        for server in &config.servers {
            let selected = args.server.as_deref().is_none_or(|wanted| {
                server.label == wanted || server.names.iter().any(|n| n.matches(wanted))
            });
            if !selected {
                continue;
            }
            shown += 1;
            let auth = &server.client_auth;
            println!();
            println!(
                "# {} ({}) of {}: verify_client {}, verify_depth {}{}",
                server.label,
                server_names(&server.names),
                config_path.display(),
                auth.mode,
                auth.verify_depth,
                if auth.crl_records.is_empty() {
                    ""
                } else {
                    ", with CRLs"
                }
            );
            all_ok &= print_verification(&chain, auth, now);
            print_access(server, &verify::verify_peer(Some(&chain), auth, now));
        }
        if shown == 0 {
            return Err(InspectError::NoServer {
                path: config_path.clone(),
                name: args.server.clone().unwrap_or_default(),
            });
        }
    }
    Ok(all_ok)
}

/// Whether `bytes` look like a PKCS#12 file: a DER SEQUENCE opening with
/// INTEGER 3 (the PFX version), or a `.p12`/`.pfx` name.
fn looks_like_p12(path: &Path, bytes: &[u8]) -> bool {
    let named = path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("p12") || e.eq_ignore_ascii_case("pfx"));
    let version_at = match bytes.get(1) {
        Some(0x82) => 4,
        Some(0x81) => 3,
        Some(n) if *n < 0x80 => 2,
        _ => return named,
    };
    named
        || (bytes.first() == Some(&0x30)
            && bytes.get(version_at..version_at + 3) == Some(&[0x02, 0x01, 0x03][..]))
}

/// The chain of a `.p12` file (leaf first).
#[cfg(feature = "certs")]
fn read_p12(
    args: &InspectArgs,
    bytes: &[u8],
) -> Result<Vec<CertificateDer<'static>>, InspectError> {
    crate::certs::p12_chain(&args.cert, bytes, &args.password)
        .map(|ders| ders.into_iter().map(CertificateDer::from).collect())
        .map_err(InspectError::Pkcs12)
}

#[cfg(not(feature = "certs"))]
fn read_p12(args: &InspectArgs, _: &[u8]) -> Result<Vec<CertificateDer<'static>>, InspectError> {
    Err(InspectError::Pkcs12(format!(
        "{}: a PKCS#12 file; this build has no PKCS#12 support (cargo feature `certs`). Extract the chain: openssl pkcs12 -in {} -nokeys -out chain.pem, then inspect chain.pem",
        args.cert.display(),
        args.cert.display()
    )))
}

/// The certificate file of `inspect`: PEM, DER, or the chain of a `.p12`.
fn read_chain(args: &InspectArgs) -> Result<Vec<CertificateDer<'static>>, InspectError> {
    let path = args.cert.as_path();
    let bytes = std::fs::read(path).map_err(|source| InspectError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    if looks_like_p12(path, &bytes) && !bytes.starts_with(b"-----") {
        return read_p12(args, &bytes);
    }
    read_certificates(path)
}

/// Every certificate of a PEM file (or the one DER certificate of a binary file).
fn read_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, InspectError> {
    let bytes = std::fs::read(path).map_err(|source| InspectError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let pem = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| InspectError::Pem {
            path: path.to_path_buf(),
            source,
        })?;
    let chain = if pem.is_empty() {
        x509_parser::parse_x509_certificate(&bytes).map_err(|source| {
            InspectError::NotACertificate {
                path: path.to_path_buf(),
                source,
            }
        })?;
        vec![CertificateDer::from(bytes)]
    } else {
        pem
    };
    Ok(chain)
}

/// The `$ssl_client_*` values, as forwarded in a header (`$ssl_client_raw_cert`
/// with its line breaks as spaces, as the gateway sends it in headers).
fn print_values(cert: &ClientCert, now_unix: i64) {
    let raw_in_header = cert.raw_pem_one_line();
    let rows: [(&str, &str); 12] = [
        ("ssl_client_s_dn", cert.subject_dn()),
        ("ssl_client_i_dn", cert.issuer_dn()),
        ("ssl_client_s_dn_legacy", cert.subject_dn_legacy()),
        ("ssl_client_i_dn_legacy", cert.issuer_dn_legacy()),
        ("ssl_client_serial", cert.serial()),
        ("ssl_client_fingerprint", cert.fingerprint()),
        ("ssl_client_fingerprint_sha256", cert.fingerprint_sha256()),
        ("ssl_client_v_start", cert.v_start()),
        ("ssl_client_v_end", cert.v_end()),
        ("ssl_client_v_remain", &cert.v_remain(now_unix)),
        ("ssl_client_escaped_cert", cert.escaped_pem()),
        ("ssl_client_raw_cert", &raw_in_header),
    ];
    for (name, value) in rows {
        print_row(name, value);
    }
}

fn print_row(name: &str, value: &str) {
    println!("${name:<NAME_WIDTH$} {value}");
}

fn join_problems(problems: &[PolicyError]) -> String {
    let texts: Vec<String> = problems.iter().map(ToString::to_string).collect();
    texts.join("; ")
}

/// `client_certificate = BUNDLE`, `verify_client = "on"`, no CRLs.
fn bundle_auth(bundle: &Path, verify_depth: u32) -> Result<ClientAuth, InspectError> {
    let cas = read_certificates(bundle)?;
    let trust = TrustStore::new(&cas, &[]).map_err(|source| InspectError::Bundle {
        path: bundle.to_path_buf(),
        source,
    })?;
    if !trust.has_anchor() {
        return Err(InspectError::NoTrustAnchor {
            path: bundle.to_path_buf(),
        });
    }
    ClientAuth::builder(VerifyMode::On)
        .verify_depth(i64::from(verify_depth))
        .trust(trust)
        .build()
        .map_err(InspectError::Policy)
}

/// `$ssl_client_verify`, what the gateway does with the request, and the
/// verified path; `false` when the verdict is `FAILED`.
fn print_verification(chain: &[CertificateDer<'static>], auth: &ClientAuth, now: UnixTime) -> bool {
    let peer = verify::verify_peer(Some(chain), auth, now);
    print_row("ssl_client_verify", peer.verify_text());
    let outcome = match (auth.mode, peer.admission(auth.mode)) {
        (VerifyMode::Off, _) => "no certificate is asked for (verify_client off)".to_string(),
        (_, Admission::Allow) => "the request is proxied with these values".to_string(),
        (_, Admission::NoCertificate) => "400 No required SSL certificate was sent".to_string(),
        (_, Admission::CertificateError(_) | Admission::OcspError(_)) => match auth.failure {
            FailureMode::Http => "400 The SSL certificate error".to_string(),
            FailureMode::Handshake => "the TLS handshake is refused with an alert".to_string(),
        },
    };
    println!("# gateway: {outcome}");
    match peer.verdict() {
        Verdict::Success => {
            if let Ok(path) = verify::verified_path(chain, auth, now) {
                println!("# verified path:");
                let last = path.len().saturating_sub(1);
                for (depth, cert) in path.iter().enumerate() {
                    let dn = ClientCert::from_der(cert.as_ref())
                        .map(|c| c.subject_dn().to_string())
                        .unwrap_or_default();
                    let role = if depth == last {
                        "  (trust anchor)"
                    } else {
                        ""
                    };
                    println!("#   {depth} {dn}{role}");
                }
            }
            true
        }
        Verdict::None => true,
        // inspect asks no OCSP responder.
        Verdict::OcspFailed(_) => false,
        Verdict::Failed(e) => {
            println!("# (OpenSSL error {}: {})", e.code(), e.text());
            false
        }
    }
}

/// For each location of `server`, whether `peer` would be admitted and by
/// which rule (printed when some location has an access policy and the
/// request gets that far).
fn print_access(server: &crate::config::Server, peer: &verify::PeerIdentity) {
    if server.locations.iter().all(|l| l.access.is_open()) {
        return;
    }
    if peer.admission(server.client_auth.mode) != Admission::Allow {
        return;
    }
    println!("# access policy:");
    for location in &server.locations {
        let decision = location.access.decide(peer);
        let answer = if decision.admitted() {
            "admitted".to_string()
        } else {
            match &location.deny_return {
                Some(r) => format!("{} (deny_return)", r.status.as_u16()),
                None => "403 Forbidden".to_string(),
            }
        };
        println!(
            "#   {}: {answer}: {}",
            location.label,
            location.access.describe(decision)
        );
    }
}

fn server_names(names: &[ServerName]) -> String {
    if names.is_empty() {
        return "no server_name".to_string();
    }
    names
        .iter()
        .map(ServerName::as_written)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unreadable_inputs_name_the_file_and_the_problem() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.pem");
        let err = read_certificates(&missing).unwrap_err();
        assert!(matches!(&err, InspectError::Read { path, .. } if *path == missing));
        assert!(
            err.to_string()
                .starts_with(&format!("{}: cannot read: ", missing.display())),
            "{err}"
        );

        let junk = dir.path().join("junk.pem");
        std::fs::write(&junk, "junk\n").unwrap();
        let err = read_certificates(&junk).unwrap_err();
        assert!(matches!(&err, InspectError::NotACertificate { path, .. } if *path == junk));
        assert_eq!(
            err.to_string(),
            format!(
                "{}: neither a PEM certificate (`-----BEGIN CERTIFICATE-----`) nor a DER one",
                junk.display()
            )
        );

        let bad_pem = dir.path().join("bad.pem");
        std::fs::write(
            &bad_pem,
            "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        let err = read_certificates(&bad_pem).unwrap_err();
        assert!(matches!(&err, InspectError::Pem { path, .. } if *path == bad_pem));
        assert!(
            err.to_string()
                .starts_with(&format!("{}: not valid PEM: ", bad_pem.display())),
            "{err}"
        );
    }
}
