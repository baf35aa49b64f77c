//! `certs list`: what a CA folder issued, with serials to revoke by.

use std::path::PathBuf;

use time::OffsetDateTime;

use super::error::CertsError;
use super::index::{self, Index, Kind};

/// `mtls-gateway certs list`.
#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// The CA folder (made by `certs init`).
    #[arg(long, value_name = "DIR")]
    pub ca: PathBuf,
}

/// Runs `certs list`: one line per certificate, oldest first.
///
/// # Errors
/// A missing or malformed index.
pub fn run(args: ListArgs) -> Result<(), CertsError> {
    let index = Index::load(&args.ca)?;
    let now = OffsetDateTime::now_utc();
    println!(
        "{:<32}  {:<9}  {:<28}  {:<20}  subject",
        "serial", "kind", "status", "not after"
    );
    for e in &index.certificates {
        let kind = match e.kind {
            Kind::RootCa => "root-ca",
            Kind::ClientCa => "client-ca",
            Kind::Server => "server",
            Kind::Client => "client",
        };
        let expired = index::from_toml(&e.not_after).is_ok_and(|t| t < now);
        let status = match (&e.revoked, expired) {
            (Some(when), _) => format!("revoked {when}"),
            (None, false) if e.superseded_by.is_some() => "superseded".to_string(),
            (None, true) => "expired".to_string(),
            (None, false) => "valid".to_string(),
        };
        println!(
            "{:<32}  {kind:<9}  {status:<28}  {:<20}  {}",
            e.serial,
            e.not_after.to_string(),
            e.subject
        );
    }
    Ok(())
}
