//! `certs init`: a new CA folder with a root CA, the client CA that issues
//! users' certificates, a server certificate, `ca-bundle.crt`, a ready
//! `gateway.toml` and the index.

use std::path::PathBuf;

use super::error::CertsError;
use super::files::{Access, Outputs};
use super::gateway_toml::GatewayToml;
use super::index::{Entry, Index, Kind, Signer};
use super::keys::KeyType;
use super::layout::{self, LoadedCa};
use super::profile::{self, Subject, Validity};
use super::{output, server};

/// `mtls-gateway certs init`.
#[derive(Debug, clap::Args)]
pub struct InitArgs {
    /// The folder to create (or fill).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// A DNS name or IP address of the gateway (repeatable; the first names
    /// the server certificate's files).
    #[arg(long = "server-name", value_name = "NAME", required = true)]
    pub server_names: Vec<String>,
    /// Key type of the CAs and the server certificate.
    #[arg(long, value_enum, default_value_t = KeyType::P256)]
    pub key_type: KeyType,
    /// Organization (O) of the CAs and the server certificate; client
    /// certificates inherit it.
    #[arg(long, default_value = "mtls-gateway")]
    pub org: String,
    /// Two-letter country (C) of the CAs; client certificates inherit it.
    #[arg(long, value_name = "CC")]
    pub country: Option<String>,
    /// Common name of the root CA [default: "ORG Root CA"].
    #[arg(long, value_name = "CN")]
    pub ca_name: Option<String>,
    /// Common name of the client CA [default: "ORG Client CA"].
    #[arg(long, value_name = "CN")]
    pub client_ca_name: Option<String>,
    /// Validity of both CAs in days.
    #[arg(long, default_value_t = profile::CA_DAYS, value_parser = clap::value_parser!(u32).range(1..))]
    pub ca_days: u32,
    /// Validity of the server certificate in days.
    #[arg(long, default_value_t = profile::SERVER_DAYS, value_parser = clap::value_parser!(u32).range(1..))]
    pub server_days: u32,
    /// `listen` of the generated gateway.toml.
    #[arg(long, default_value = "0.0.0.0:3443")]
    pub listen: String,
    /// The backend (`host:port`) of the generated gateway.toml.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub backend: String,
    /// Replace existing files. This makes a NEW CA: certificates issued by
    /// the old one stop working.
    #[arg(long)]
    pub force: bool,
}

/// Runs `certs init`.
///
/// # Errors
/// What went wrong, naming the file.
pub fn run(args: InitArgs) -> Result<(), CertsError> {
    let dir = &args.out;
    // Said before the generic "refusing to overwrite": what --force would
    // really do here is replace the CA everything was issued from.
    if !args.force && dir.join(layout::ROOT_KEY).exists() {
        return Err(CertsError::CaExists { dir: dir.clone() });
    }
    let ca_subject = |cn: String| Subject {
        country: args.country.clone(),
        organization: Some(args.org.clone()),
        common_name: cn,
        ..Subject::default()
    };
    let mut outputs = Outputs::default();
    let mut index = Index::default();
    let mut summary = Vec::new();
    // One period for both CAs: the client CA must not end after the root.
    let ca_validity = Validity::days(args.ca_days)?;

    // The root: self-signed, kept offline in spirit (it signs only the
    // client CA and server certificates).
    let root_serial = profile::random_serial()?;
    let root_name = args
        .ca_name
        .clone()
        .unwrap_or(format!("{} Root CA", args.org));
    let root_params = profile::root_ca(&ca_subject(root_name.clone()), &ca_validity, &root_serial)?;
    let root_key = args.key_type.generate()?;
    let root_cert = root_params
        .self_signed(&root_key)
        .map_err(CertsError::SelfSign)?;
    outputs.add(
        dir.join(layout::ROOT_KEY),
        root_key.serialize_pem(),
        Access::Secret,
        "root CA key",
    );
    index.certificates.push(Entry::issued(
        Kind::RootCa,
        Signer::SelfSigned,
        &root_serial.hex,
        &root_params,
        root_cert.der(),
    ));
    summary.push(output::validity(
        &format!("root CA \"{root_name}\" ({})", args.key_type.describe()),
        &ca_validity,
    ));
    let root = LoadedCa::new(Signer::Root, root_cert.pem(), root_key)
        .map_err(CertsError::NewRootUnusable)?;

    // The client CA: issues every user certificate.
    let client_ca_serial = profile::random_serial()?;
    let client_ca_name = args
        .client_ca_name
        .clone()
        .unwrap_or(format!("{} Client CA", args.org));
    let client_ca_params = profile::client_ca(
        &ca_subject(client_ca_name.clone()),
        &ca_validity,
        &client_ca_serial,
    )?;
    let client_ca_key = args.key_type.generate()?;
    let client_ca_cert = root.sign(&client_ca_params, &client_ca_key)?;
    index.certificates.push(Entry::issued(
        Kind::ClientCa,
        Signer::Root,
        &client_ca_serial.hex,
        &client_ca_params,
        client_ca_cert.der(),
    ));
    summary.push(output::validity(
        &format!("client CA \"{client_ca_name}\""),
        &ca_validity,
    ));

    outputs.add(
        dir.join(layout::ROOT_CERT),
        root.cert_pem.clone(),
        Access::Public,
        "root CA: clients trust the gateway with it",
    );
    outputs.add(
        dir.join(layout::CLIENT_CA_CERT),
        client_ca_cert.pem(),
        Access::Public,
        "client CA",
    );
    outputs.add(
        dir.join(layout::CLIENT_CA_KEY),
        client_ca_key.serialize_pem(),
        Access::Secret,
        "client CA key",
    );
    outputs.add(
        dir.join(layout::BUNDLE),
        format!("{}{}", client_ca_cert.pem(), root.cert_pem),
        Access::Public,
        "client CA + root: `client_certificate`",
    );

    let issued = server::issue(
        &root,
        &args.server_names,
        args.key_type,
        args.server_days,
        dir,
        &mut outputs,
    )?;
    summary.extend(issued.summary);
    index.certificates.push(issued.entry);
    let file_name = |p: &std::path::Path| {
        p.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    let toml = GatewayToml {
        server_names: &args.server_names,
        certificate: &file_name(&issued.cert_path),
        certificate_key: &file_name(&issued.key_path),
        listen: &args.listen,
        backend: &args.backend,
    };
    outputs.add(
        dir.join(layout::GATEWAY_TOML),
        toml.render(),
        Access::Public,
        "gateway configuration for this folder",
    );
    outputs.add(
        dir.join(super::index::FILE),
        index.render().map_err(CertsError::IndexEncode)?,
        Access::Public,
        "index of issued certificates",
    );

    outputs.write(args.force)?;
    for line in summary {
        println!("{line}");
    }
    let d = dir.display();
    println!(
        "\
next:
  mtls-gateway check --config {d}/gateway.toml
  mtls-gateway certs client --ca {d} --cn alice --email alice@example.com
Clients must trust {d}/ca.crt to accept the server certificate (curl --cacert; in browsers, import
it as a certificate authority). Keep ca.key and client-ca.key secret."
    );
    Ok(())
}
