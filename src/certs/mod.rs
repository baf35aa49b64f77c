//! `mtls-gateway certs`: the operator's PKI, made by the gateway's own
//! binary instead of a page of openssl commands.
//!
//! ```text
//!  certs init ──► root CA ──┬──► client CA ──► certs client ──► NAME.pem, NAME-key.pem,
//!   (a folder)              │                                   NAME-chain.pem, NAME.p12
//!                           └──► server certificate (certs server renews it)
//!  index.toml ◄── every certificate issued; certs revoke ──► ca.crl, client-ca.crl, crl.pem
//! ```
//!
//! Safe by default: private keys and `.p12` files are created `0600`,
//! nothing is overwritten without `--force`, serials are 16 random bytes,
//! validity defaults are CA 10 years, server and client 1 year (printed),
//! and the `.p12` password never comes from a plain argument.
//!
//! Module map: [`profile`] (what each certificate contains), [`keys`],
//! [`layout`] (the folder and its CAs), [`index`], [`files`] (safe writes),
//! [`p12`], [`password`], [`output`] (what is printed), [`error`] (why a
//! command failed, naming the file or option), and one module per
//! command.

mod client;
mod crl;
mod error;
mod files;
mod gateway_toml;
mod index;
mod init;
mod keys;
mod layout;
mod list;
mod output;
mod p12;
mod password;
mod profile;
mod server;

use std::process::ExitCode;

pub use password::PasswordArgs;

/// The certificates of a `.p12` (PKCS#12) file, for `inspect`: the chain
/// of its first key (leaf first), else every certificate it holds.
///
/// # Errors
/// The password cannot be read, or the file does not decode with it; the
/// message says how to extract the chain with openssl instead.
pub fn p12_chain(
    path: &std::path::Path,
    data: &[u8],
    password: &PasswordArgs,
) -> Result<Vec<Vec<u8>>, String> {
    let password = password.read_existing().map_err(|e| e.to_string())?;
    let store = p12_keystore::KeyStore::from_pkcs12(
        data,
        password.as_str(),
        p12_keystore::Pkcs12ImportPolicy::Relaxed,
    )
    .map_err(|e| {
        format!(
            "{}: cannot read this PKCS#12 file ({e}); a wrong password? Or extract the chain: openssl pkcs12 -in {} -nokeys -out chain.pem (add -legacy for old RC2 files), then inspect chain.pem",
            path.display(),
            path.display()
        )
    })?;
    let mut chain: Vec<Vec<u8>> = Vec::new();
    let mut loose: Vec<Vec<u8>> = Vec::new();
    for (_, entry) in store.entries() {
        match entry {
            p12_keystore::KeyStoreEntry::PrivateKeyChain(keychain) if chain.is_empty() => {
                chain = keychain
                    .certs()
                    .iter()
                    .map(|c| c.as_der().to_vec())
                    .collect();
            }
            p12_keystore::KeyStoreEntry::Certificate(c) => loose.push(c.as_der().to_vec()),
            _ => {}
        }
    }
    if chain.is_empty() {
        chain = loose;
    }
    if chain.is_empty() {
        return Err(format!(
            "{}: the PKCS#12 file holds no certificate",
            path.display()
        ));
    }
    Ok(chain)
}

/// `mtls-gateway certs ...` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum CertsCommand {
    /// Make a CA folder: root CA, client CA, server certificate, ca-bundle.crt, gateway.toml.
    Init(init::InitArgs),
    /// Issue a client certificate: key, certificate, chain and a .p12 for browsers.
    Client(client::ClientArgs),
    /// Issue a new server certificate (renewal, other names) from a CA folder.
    Server(server::ServerArgs),
    /// Revoke a certificate by serial and write new CRLs.
    Revoke(crl::RevokeArgs),
    /// Write new CRLs for both CAs (before the previous ones' next update).
    Crl(crl::CrlArgs),
    /// List the certificates a CA folder issued, with serials and status.
    List(list::ListArgs),
}

/// Runs a `certs` subcommand; errors go to stderr, each naming the file and
/// the problem.
pub fn run(command: CertsCommand) -> ExitCode {
    let result = match command {
        CertsCommand::Init(args) => init::run(args),
        CertsCommand::Client(args) => client::run(args),
        CertsCommand::Server(args) => server::run(args),
        CertsCommand::Revoke(args) => crl::revoke(args),
        CertsCommand::Crl(args) => crl::crl(args),
        CertsCommand::List(args) => list::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mtls-gateway certs: {e}");
            ExitCode::FAILURE
        }
    }
}
