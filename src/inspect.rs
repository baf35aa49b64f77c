//! `mtls-gateway inspect`: a certificate's `$ssl_client_*` values and its
//! verification result (placeholder; see issue 3).

use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `mtls-gateway inspect`.
#[derive(Debug, clap::Args)]
pub struct InspectArgs {
    /// PEM certificate (or chain, leaf first).
    pub cert: PathBuf,
}

/// Runs `inspect`.
pub fn run(args: InspectArgs) -> ExitCode {
    let _ = args;
    eprintln!("mtls-gateway inspect: not implemented yet");
    ExitCode::FAILURE
}
