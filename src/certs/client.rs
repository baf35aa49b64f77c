//! `certs client`: a user's certificate, signed by the folder's client CA,
//! with its key, its chain and a `.p12` for the browser.

use std::path::PathBuf;

use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

use super::error::CertsError;
use super::files::{self, Access, Outputs};
use super::index::{Entry, Index, Kind, Signer};
use super::keys::KeyType;
use super::layout::{self, LoadedCa};
use super::output;
use super::p12::{self, Flavor};
use super::password::PasswordArgs;
use super::profile::{self, Subject, Validity};

/// `mtls-gateway certs client`.
#[derive(Debug, clap::Args)]
pub struct ClientArgs {
    /// The CA folder (made by `certs init`).
    #[arg(long, value_name = "DIR")]
    pub ca: PathBuf,
    /// Common name (CN): who the certificate is for.
    #[arg(long)]
    pub cn: String,
    /// E-mail address: `emailAddress` in the subject and an rfc822Name in the subjectAltName.
    #[arg(long)]
    pub email: Option<String>,
    /// Organizational unit (OU).
    #[arg(long)]
    pub ou: Option<String>,
    /// Organization (O) [default: the client CA's].
    #[arg(long)]
    pub org: Option<String>,
    /// Two-letter country (C) [default: the client CA's].
    #[arg(long, value_name = "CC")]
    pub country: Option<String>,
    /// Validity in days.
    #[arg(long, default_value_t = profile::CLIENT_DAYS, value_parser = clap::value_parser!(u32).range(1..))]
    pub days: u32,
    #[arg(long, value_enum, default_value_t = KeyType::P256)]
    pub key_type: KeyType,
    /// Folder for the files.
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub out: PathBuf,
    /// File name stem: NAME.pem, NAME-key.pem, NAME-chain.pem, NAME.p12 [default: from the CN].
    #[arg(long)]
    pub name: Option<String>,
    /// Write the .p12 with 3DES and a SHA-1 MAC, for importers that predate
    /// AES (Windows before 10 1709, old macOS, Java 8).
    #[arg(long)]
    pub p12_legacy: bool,
    #[command(flatten)]
    pub password: PasswordArgs,
    /// Replace existing files.
    #[arg(long)]
    pub force: bool,
}

/// Runs `certs client`.
///
/// # Errors
/// What went wrong, naming the file.
pub fn run(args: ClientArgs) -> Result<(), CertsError> {
    let mut index = Index::load(&args.ca)?;
    let client_ca = LoadedCa::load(&args.ca, Signer::ClientCa)?;
    let root_path = args.ca.join(layout::ROOT_CERT);
    let root = CertificateDer::from_pem_slice(files::read_text(&root_path)?.as_bytes()).map_err(
        |source| CertsError::NoPemCertificate {
            path: root_path,
            source,
        },
    )?;
    let stem = layout::file_stem(args.name.as_deref().unwrap_or(&args.cn));
    let path = |suffix: &str| args.out.join(format!("{stem}{suffix}"));
    let (cert_path, key_path, chain_path, p12_path) = (
        path(".pem"),
        path("-key.pem"),
        path("-chain.pem"),
        path(".p12"),
    );
    // Refuse early, before asking for a password, if files are in the way.
    files::refuse_existing(
        [&cert_path, &key_path, &chain_path, &p12_path]
            .into_iter()
            .map(PathBuf::as_path),
        args.force,
    )?;
    let password = args.password.read()?;

    let subject = Subject {
        country: args.country.clone().or(client_ca.country.clone()),
        organization: args.org.clone().or(client_ca.organization.clone()),
        organizational_unit: args.ou.clone(),
        common_name: args.cn.clone(),
        email: args.email.clone(),
    };
    let serial = profile::random_serial()?;
    let validity = Validity::days(args.days)?;
    let params = profile::client(&subject, &validity, &serial)?;
    let key = args.key_type.generate()?;
    let cert = client_ca.sign(&params, &key)?;

    let flavor = if args.p12_legacy {
        Flavor::Legacy
    } else {
        Flavor::Modern
    };
    let chain = [cert.der().clone(), client_ca.der.clone(), root];
    let p12 = p12::encode(&args.cn, key.serialized_der(), &chain, &password, flavor)?;
    let mut outputs = Outputs::default();
    outputs.add(cert_path, cert.pem(), Access::Public, "client certificate");
    outputs.add(key_path, key.serialize_pem(), Access::Secret, "private key");
    outputs.add(
        chain_path,
        format!("{}{}", cert.pem(), client_ca.cert_pem),
        Access::Public,
        "certificate + client CA (curl --cert)",
    );
    outputs.add(
        p12_path.clone(),
        p12,
        Access::Secret,
        &format!("PKCS#12 with key and chain: {}", flavor.describe()),
    );

    outputs.check(args.force)?;
    index.certificates.push(Entry::issued(
        Kind::Client,
        Signer::ClientCa,
        &serial.hex,
        &params,
        cert.der(),
    ));
    index.save(&args.ca)?;
    outputs.write(args.force)?;
    println!(
        "{}",
        output::validity(
            &format!(
                "client certificate for CN={} ({}, serial {})",
                args.cn,
                args.key_type.describe(),
                serial.hex
            ),
            &validity,
        )
    );
    if let Some(warning) = args.key_type.browser_warning() {
        println!("warning: {warning}");
    }
    output::identity(cert.der());
    output::import_help(&p12_path.display().to_string());
    Ok(())
}
