//! `certs revoke` and `certs crl`: revocations go into the index, and each
//! CA gets a CRL listing what it signed and revoked (`ca.crl` for the root,
//! `client-ca.crl` for the client CA), plus `crl.pem` holding both, which is
//! what the gateway's `crl` key reads: with `crl_check = "chain"` every CA of
//! a client's chain needs its CRL.

use std::path::{Path, PathBuf};

use rcgen::{CertificateRevocationListParams, RevokedCertParams, SerialNumber};
use time::OffsetDateTime;

use super::error::CertsError;
use super::files::{Access, Outputs};
use super::index::{self, Index, Kind, Reason, Signer};
use super::layout::{self, LoadedCa};
use super::output;
use super::profile::Validity;

/// Default days until a CRL's nextUpdate (OpenSSL's `default_crl_days`).
pub const CRL_DAYS: u32 = 30;

/// `mtls-gateway certs revoke`.
#[derive(Debug, clap::Args)]
pub struct RevokeArgs {
    /// The CA folder (made by `certs init`).
    #[arg(long, value_name = "DIR")]
    pub ca: PathBuf,
    /// Serial of the certificate, in hex as X-SSL-Client-Serial, `certs list`
    /// or `openssl x509 -serial` show it (`:` separators allowed).
    pub serial: String,
    #[arg(long, value_enum, default_value_t = Reason::Unspecified)]
    pub reason: Reason,
    /// Days until the new CRLs' next update.
    #[arg(long, default_value_t = CRL_DAYS, value_parser = clap::value_parser!(u32).range(1..))]
    pub crl_days: u32,
}

/// `mtls-gateway certs crl`.
#[derive(Debug, clap::Args)]
pub struct CrlArgs {
    /// The CA folder (made by `certs init`).
    #[arg(long, value_name = "DIR")]
    pub ca: PathBuf,
    /// Days until the CRLs' next update (the same flag as `certs revoke`;
    /// `--days`, its former name, still works).
    #[arg(long = "crl-days", alias = "days", default_value_t = CRL_DAYS, value_parser = clap::value_parser!(u32).range(1..))]
    pub days: u32,
}

/// Runs `certs revoke`.
///
/// # Errors
/// Unknown serial, the root CA, or a file problem.
pub fn revoke(args: RevokeArgs) -> Result<(), CertsError> {
    let mut index = Index::load(&args.ca)?;
    let entry = index
        .find_mut(&args.serial)
        .ok_or_else(|| CertsError::UnknownSerial {
            index: args.ca.join(index::FILE),
            serial: args.serial.clone(),
            ca: args.ca.clone(),
        })?;
    if entry.kind == Kind::RootCa {
        return Err(CertsError::RevokeRoot {
            serial: entry.serial.clone(),
        });
    }
    if let Some(when) = &entry.revoked {
        println!(
            "{} ({}) was already revoked on {when}; writing the CRLs again",
            entry.serial, entry.subject
        );
    } else {
        entry.revoked = Some(index::to_toml(OffsetDateTime::now_utc()));
        entry.reason = Some(args.reason);
        println!(
            "revoked {} ({}), reason {}",
            entry.serial,
            entry.subject,
            args.reason.name()
        );
        if entry.kind == Kind::ClientCa {
            println!(
                "warning: this is the client CA: every client certificate it issued is now refused"
            );
        }
    }
    write_crls(&args.ca, &mut index, args.crl_days)
}

/// Runs `certs crl`.
///
/// # Errors
/// A file problem.
pub fn crl(args: CrlArgs) -> Result<(), CertsError> {
    let mut index = Index::load(&args.ca)?;
    write_crls(&args.ca, &mut index, args.days)
}

/// Signs a new CRL for each CA from the index, saves the index (with the
/// new CRL number) and writes the CRL files.
fn write_crls(dir: &Path, index: &mut Index, days: u32) -> Result<(), CertsError> {
    let root = LoadedCa::load(dir, Signer::Root)?;
    let client_ca = LoadedCa::load(dir, Signer::ClientCa)?;
    index.crl_number =
        index
            .crl_number
            .checked_add(1)
            .ok_or_else(|| CertsError::CrlNumberExhausted {
                path: dir.join(index::FILE),
                number: index.crl_number,
            })?;
    let Validity {
        not_before: this_update,
        not_after: next_update,
        ..
    } = Validity::days(days)?;
    let mut outputs = Outputs::default();
    let mut bundle = String::new();
    let mut counts = Vec::new();
    for (ca, file) in [
        (&client_ca, layout::CLIENT_CA_CRL),
        (&root, layout::ROOT_CRL),
    ] {
        let revoked_certs = index
            .certificates
            .iter()
            .filter(|e| e.signer == ca.signer)
            .filter_map(|e| {
                let when = e.revoked.as_ref()?;
                Some(
                    index::from_toml(when).map(|revocation_time| RevokedCertParams {
                        serial_number: SerialNumber::from_slice(&hex_bytes(&e.serial)),
                        revocation_time,
                        reason_code: e.reason.map(Reason::to_rcgen),
                        invalidity_date: None,
                    }),
                )
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(|source| CertsError::IndexTime {
                path: dir.join(index::FILE),
                source,
            })?;
        counts.push(format!("{} revoked in {file}", revoked_certs.len()));
        let params = CertificateRevocationListParams {
            this_update,
            next_update,
            crl_number: SerialNumber::from(index.crl_number),
            issuing_distribution_point: None,
            revoked_certs,
            key_identifier_method: ca.key_id_method(),
        };
        let pem = params
            .signed_by(&ca.issuer)
            .and_then(|crl| crl.pem())
            .map_err(|source| CertsError::CrlSign {
                ca: ca.file(),
                source,
            })?;
        bundle.push_str(&pem);
        outputs.add(
            dir.join(file),
            pem,
            Access::Public,
            &format!("CRL of {}", ca.file()),
        );
    }
    outputs.add(
        dir.join(layout::CRL_BUNDLE),
        bundle,
        Access::Public,
        "both CRLs: the gateway's `crl`",
    );
    index.save(dir)?;
    // CRLs are the CA's current state: a new one always replaces the old.
    outputs.write(true)?;
    println!(
        "CRL number {}: {}; next update {}.",
        index.crl_number,
        counts.join(", "),
        output::date(next_update)
    );
    println!(
        "The gateway applies them with `crl = \"{crl}\"` in [server.client_auth] (commented out in the\n\
         gateway.toml of `certs init`), after `mtls-gateway reload` (or by itself with `watch = true`).\n\
         Write new CRLs before {next} (`mtls-gateway certs crl --ca {dir}`): with crl_expired = \"reject\"\n\
         an expired CRL refuses every client.",
        crl = layout::CRL_BUNDLE,
        next = output::date(next_update),
        dir = dir.display()
    );
    Ok(())
}

/// Bytes of a hex serial from the index (an odd number of digits gets a
/// leading zero; the index only holds hex written by `certs`).
fn hex_bytes(hex: &str) -> Vec<u8> {
    let digits: Vec<u8> = hex
        .chars()
        .filter_map(|c| c.to_digit(16))
        // A base-16 digit is below 16: the conversion never drops one.
        .filter_map(|d| u8::try_from(d).ok())
        .collect();
    // Pairs from the right; with an odd count the first byte is one digit.
    let mut bytes: Vec<u8> = digits
        .rchunks(2)
        .map(|pair| pair.iter().fold(0, |byte, digit| byte << 4 | digit))
        .collect();
    bytes.reverse();
    bytes
}

#[cfg(test)]
mod tests {
    use super::super::error::ProfileError;
    use super::*;

    #[test]
    fn hex_serials_become_bytes() {
        assert_eq!(hex_bytes("0A1B"), vec![0x0a, 0x1b]);
        assert_eq!(hex_bytes("A1B"), vec![0x0a, 0x1b]);
        assert_eq!(hex_bytes("FF"), vec![0xff]);
        assert_eq!(hex_bytes("0:A:1b"), vec![0x0a, 0x1b]);
        assert_eq!(hex_bytes("F"), vec![0x0f]);
        assert_eq!(hex_bytes(""), Vec::<u8>::new());
    }

    /// A folder made by `certs init`, in a temporary directory.
    fn ca_folder() -> (tempfile::TempDir, PathBuf) {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("pki");
        super::super::init::run(super::super::init::InitArgs {
            out: dir.clone(),
            server_names: vec!["localhost".into()],
            key_type: super::super::keys::KeyType::P256,
            org: "Test".into(),
            country: None,
            ca_name: None,
            client_ca_name: None,
            ca_days: 10,
            server_days: 1,
            listen: "127.0.0.1:3443".into(),
            backend: "127.0.0.1:8080".into(),
            force: false,
        })
        .unwrap();
        (tmp, dir)
    }

    #[test]
    fn days_beyond_the_year_9999_are_an_error_not_a_panic() {
        let (_tmp, dir) = ca_folder();
        let index_before = std::fs::read_to_string(dir.join(index::FILE)).unwrap();
        let err = crl(CrlArgs {
            ca: dir.clone(),
            days: 4_000_000,
        })
        .unwrap_err();
        assert!(
            matches!(
                err,
                CertsError::Profile(ProfileError::TooManyDays(4_000_000))
            ),
            "{err:?}"
        );
        assert_eq!(
            std::fs::read_to_string(dir.join(index::FILE)).unwrap(),
            index_before
        );
        assert!(!dir.join(layout::CRL_BUNDLE).exists());
    }

    #[test]
    fn the_largest_crl_number_is_an_error_not_a_wrap_to_zero() {
        let (_tmp, dir) = ca_folder();
        let index_path = dir.join(index::FILE);
        let text = std::fs::read_to_string(&index_path)
            .unwrap()
            .replace("crl_number = 0", &format!("crl_number = {}", u64::MAX));
        std::fs::write(&index_path, &text).unwrap();

        let err = crl(CrlArgs {
            ca: dir.clone(),
            days: 1,
        })
        .unwrap_err();
        assert!(
            matches!(&err, CertsError::CrlNumberExhausted { path, number }
                if *path == index_path && *number == u64::MAX),
            "{err:?}"
        );
        assert!(err.to_string().starts_with(&format!(
            "{}: crl_number 18446744073709551615 is the largest possible",
            index_path.display()
        )));
        // Nothing written: the index keeps its number, no CRL appears.
        assert_eq!(std::fs::read_to_string(&index_path).unwrap(), text);
        assert!(!dir.join(layout::CRL_BUNDLE).exists());

        // One below still works, and is saved.
        std::fs::write(
            &index_path,
            text.replace(&u64::MAX.to_string(), &(u64::MAX - 1).to_string()),
        )
        .unwrap();
        crl(CrlArgs {
            ca: dir.clone(),
            days: 1,
        })
        .unwrap();
        assert_eq!(Index::load(&dir).unwrap().crl_number, u64::MAX);
        assert!(dir.join(layout::CRL_BUNDLE).exists());
    }
}
