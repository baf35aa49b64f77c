//! `certs server`: a (new) TLS server certificate signed by the folder's
//! root CA; `certs init` makes the first one the same way.

use std::path::{Path, PathBuf};

use super::error::CertsError;
use super::error::ProfileError;
use super::files::{Access, Outputs};
use super::index::{Entry, Index, Kind, Signer};
use super::keys::KeyType;
use super::layout::{self, LoadedCa};
use super::output;
use super::profile::{self, Validity};

/// `mtls-gateway certs server`.
#[derive(Debug, clap::Args)]
pub struct ServerArgs {
    /// The CA folder (made by `certs init`).
    #[arg(long, value_name = "DIR")]
    pub ca: PathBuf,
    /// A DNS name or IP address the server is reached by (repeatable; the
    /// first names the files: NAME.pem, NAME-key.pem).
    #[arg(long = "server-name", value_name = "NAME", required = true)]
    pub server_names: Vec<String>,
    /// Validity in days.
    #[arg(long, default_value_t = profile::SERVER_DAYS, value_parser = clap::value_parser!(u32).range(1..))]
    pub days: u32,
    #[arg(long, value_enum, default_value_t = KeyType::P256)]
    pub key_type: KeyType,
    /// Where to write the certificate and key (default: the CA folder).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Replace existing files.
    #[arg(long)]
    pub force: bool,
}

/// A server certificate about to be written.
pub struct Issued {
    /// Lines to print once the files are written.
    pub summary: Vec<String>,
    pub entry: Entry,
    pub cert_path: PathBuf,
    pub key_path: PathBuf,
}

/// Signs a server certificate with `root` and adds its two files (chain:
/// leaf then root; key) to `outputs`.
///
/// # Errors
/// An invalid name, or signing failed.
pub fn issue(
    root: &LoadedCa,
    names: &[String],
    key_type: KeyType,
    days: u32,
    out_dir: &Path,
    outputs: &mut Outputs,
) -> Result<Issued, CertsError> {
    let first = names.first().ok_or(ProfileError::NoServerName)?;
    let serial = profile::random_serial()?;
    let validity = Validity::days(days)?;
    let params = profile::server(names, root.organization.as_deref(), &validity, &serial)?;
    let key = key_type.generate()?;
    let cert = root.sign(&params, &key)?;
    let (cert_path, key_path) = layout::server_files(out_dir, first);
    outputs.add(
        cert_path.clone(),
        format!("{}{}", cert.pem(), root.cert_pem),
        Access::Public,
        "server certificate chain (leaf, root): `certificate`",
    );
    outputs.add(
        key_path.clone(),
        key.serialize_pem(),
        Access::Secret,
        "server private key: `certificate_key`",
    );
    let mut summary = vec![output::validity(
        &format!(
            "server certificate for {} ({}, serial {})",
            names.join(", "),
            key_type.describe(),
            serial.hex
        ),
        &validity,
    )];
    summary.extend(key_type.browser_warning().map(|w| format!("warning: {w}")));
    Ok(Issued {
        summary,
        entry: Entry::issued(Kind::Server, Signer::Root, &serial.hex, &params, cert.der()),
        cert_path,
        key_path,
    })
}

/// Runs `certs server`.
///
/// # Errors
/// What went wrong, naming the file.
pub fn run(args: ServerArgs) -> Result<(), CertsError> {
    let mut index = Index::load(&args.ca)?;
    let root = LoadedCa::load(&args.ca, Signer::Root)?;
    let out_dir = args.out.as_deref().unwrap_or(&args.ca);
    let mut outputs = Outputs::default();
    let issued = issue(
        &root,
        &args.server_names,
        args.key_type,
        args.days,
        out_dir,
        &mut outputs,
    )?;
    outputs.check(args.force)?;
    index.certificates.push(issued.entry);
    index.save(&args.ca)?;
    outputs.write(args.force)?;
    for line in &issued.summary {
        println!("{line}");
    }
    println!(
        "point [server.tls] `certificate` at {} and `certificate_key` at {}, then `mtls-gateway reload`",
        issued.cert_path.display(),
        issued.key_path.display()
    );
    Ok(())
}
