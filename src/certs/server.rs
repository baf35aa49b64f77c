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
    /// first names the files: NAME.pem, NAME-key.pem). A renewal keeps the
    /// names of the certificate it replaces and adds these; without any, it
    /// renews the latest server certificate for the same names.
    #[arg(long = "server-name", value_name = "NAME")]
    pub server_names: Vec<String>,
    /// The new certificate has exactly the --server-name names: names of
    /// the certificate it replaces that are not given again are dropped.
    #[arg(long, requires = "server_names")]
    pub replace_names: bool,
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
    let mut entry = Entry::issued(Kind::Server, Signer::Root, &serial.hex, &params, cert.der());
    entry.names = names.to_vec();
    Ok(Issued {
        summary,
        entry,
        cert_path,
        key_path,
    })
}

/// The server certificate a `certs server` run replaces: the latest one
/// neither revoked nor superseded that shares a name with `given` (any,
/// when no name is given).
fn replaced(index: &Index, given: &[String]) -> Option<usize> {
    index.certificates.iter().rposition(|e| {
        e.kind == Kind::Server
            && e.revoked.is_none()
            && e.superseded_by.is_none()
            && (given.is_empty() || e.names.iter().any(|n| given.contains(n)))
    })
}

/// The names of the renewal: the replaced certificate's, in their order,
/// then the given ones it lacked; with `replace`, exactly the given ones.
/// Also the lines that say what changed.
fn renewal_names(
    previous: &[String],
    given: &[String],
    replace: bool,
) -> (Vec<String>, Vec<String>) {
    let names: Vec<String> = if replace {
        given.to_vec()
    } else {
        let mut names = previous.to_vec();
        names.extend(given.iter().filter(|n| !previous.contains(n)).cloned());
        names
    };
    let mut changes = Vec::new();
    let added: Vec<&str> = names
        .iter()
        .filter(|n| !previous.contains(n))
        .map(String::as_str)
        .collect();
    let dropped: Vec<&str> = previous
        .iter()
        .filter(|n| !names.contains(n))
        .map(String::as_str)
        .collect();
    if added.is_empty() && dropped.is_empty() {
        changes.push(format!("names unchanged: {}", names.join(", ")));
    } else {
        if !added.is_empty() {
            changes.push(format!("names added: {}", added.join(", ")));
        }
        if !dropped.is_empty() {
            changes.push(format!(
                "names dropped (--replace-names): {}",
                dropped.join(", ")
            ));
        }
    }
    (names, changes)
}

/// Runs `certs server`.
///
/// # Errors
/// What went wrong, naming the file.
pub fn run(args: ServerArgs) -> Result<(), CertsError> {
    let mut index = Index::load(&args.ca)?;
    let root = LoadedCa::load(&args.ca, Signer::Root)?;
    let out_dir = args.out.as_deref().unwrap_or(&args.ca);
    let previous = replaced(&index, &args.server_names).filter(|&i| {
        index
            .certificates
            .get(i)
            .is_some_and(|e| !e.names.is_empty())
    });
    let (names, changes) = match previous.and_then(|i| index.certificates.get(i)) {
        Some(p) => {
            let (names, mut changes) =
                renewal_names(&p.names, &args.server_names, args.replace_names);
            changes.insert(0, format!("renewing server certificate {}", p.serial));
            (names, changes)
        }
        None if args.server_names.is_empty() => {
            return Err(CertsError::NoNamesToRenew {
                dir: args.ca.clone(),
            });
        }
        None => (args.server_names.clone(), Vec::new()),
    };
    let mut outputs = Outputs::default();
    let issued = issue(
        &root,
        &names,
        args.key_type,
        args.days,
        out_dir,
        &mut outputs,
    )?;
    outputs.check(args.force)?;
    if let Some(p) = previous.and_then(|i| index.certificates.get_mut(i)) {
        p.superseded_by = Some(issued.entry.serial.clone());
    }
    index.certificates.push(issued.entry);
    index.save(&args.ca)?;
    outputs.write(args.force)?;
    for line in changes.iter().chain(&issued.summary) {
        println!("{line}");
    }
    println!(
        "point [server.tls] `certificate` at {} and `certificate_key` at {}, then `mtls-gateway reload`",
        issued.cert_path.display(),
        issued.key_path.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::renewal_names;

    fn v(names: &[&str]) -> Vec<String> {
        names.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn a_renewal_keeps_the_previous_names_unless_told_otherwise() {
        let previous = v(&["login.example.com", "10.0.0.5"]);
        let (names, changes) = renewal_names(&previous, &v(&["login.example.com"]), false);
        assert_eq!(names, previous);
        assert_eq!(changes, ["names unchanged: login.example.com, 10.0.0.5"]);
        let (names, changes) = renewal_names(&previous, &v(&["sso.example.com"]), false);
        assert_eq!(
            names,
            v(&["login.example.com", "10.0.0.5", "sso.example.com"])
        );
        assert_eq!(changes, ["names added: sso.example.com"]);
        let (names, changes) = renewal_names(&previous, &v(&["login.example.com"]), true);
        assert_eq!(names, v(&["login.example.com"]));
        assert_eq!(changes, ["names dropped (--replace-names): 10.0.0.5"]);
    }
}
