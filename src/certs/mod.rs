//! `mtls-gateway certs`: the operator's PKI tooling (placeholder; see issue 3).

use std::process::ExitCode;

/// `mtls-gateway certs ...` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum CertsCommand {
    /// Not implemented yet.
    Init,
}

/// Runs a `certs` subcommand.
pub fn run(command: CertsCommand) -> ExitCode {
    let _ = command;
    eprintln!("mtls-gateway certs: not implemented yet");
    ExitCode::FAILURE
}
