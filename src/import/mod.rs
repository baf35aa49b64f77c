//! `mtls-gateway import-nginx`: an nginx configuration in, the gateway's
//! TOML out, and one warning per directive that could not be carried over.
//!
//! - [`lexer`] and [`parser`]: nginx's grammar, pure functions of the text
//!   (fuzzed by `fuzz/fuzz_targets/nginx_conf.rs`);
//! - [`load`]: the file and its includes (globs, the prefix);
//! - [`rules`]: the table of directives and where each goes;
//! - [`convert`]: the walk over `http`/`server`/`location` with nginx's
//!   inheritance; [`emit`]: the TOML text.
//!
//! Exit status: [`EXIT_COMPLETE`], [`EXIT_DROPPED`], [`EXIT_SECURITY_DROPPED`],
//! [`EXIT_FAILED`] (docs/migration.md).

pub mod convert;
pub mod emit;
pub mod lexer;
pub mod load;
pub mod parser;
pub mod rules;

use std::path::PathBuf;
use std::process::ExitCode;

pub use convert::{Conversion, Warning};

/// Everything was carried over.
pub const EXIT_COMPLETE: u8 = 0;
/// Something was dropped, nothing that decides who gets through.
pub const EXIT_DROPPED: u8 = 1;
/// Something security-relevant was dropped (client verification, access
/// rules, identity headers, routing): read the warnings marked `[security]`.
pub const EXIT_SECURITY_DROPPED: u8 = 2;
/// Nothing was written: the file could not be read or parsed, or has no
/// server to convert.
pub const EXIT_FAILED: u8 = 3;

/// Arguments of `mtls-gateway import-nginx`.
#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// The nginx configuration (e.g. /etc/nginx/nginx.conf); includes are followed.
    pub nginx_conf: PathBuf,
    /// Write the gateway configuration here instead of standard output.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// nginx's configuration prefix: relative include and certificate paths
    /// resolve against it (default: the folder of NGINX_CONF, as nginx does
    /// with `-c`).
    #[arg(long, value_name = "DIR")]
    pub prefix: Option<PathBuf>,
}

/// Why the import failed.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error(transparent)]
    Load(#[from] load::LoadError),
    #[error("{path}: {source}")]
    Convert {
        path: PathBuf,
        source: convert::ConvertError,
    },
}

/// Reads and converts an nginx configuration (a pure function of the files).
///
/// # Errors
/// A file that cannot be read or parsed, or nothing to convert.
pub fn import(args: &ImportArgs) -> Result<Conversion, ImportError> {
    let loaded = load::load(&args.nginx_conf, args.prefix.as_deref())?;
    let out_dir = args
        .output
        .as_deref()
        .map(load::absolute)
        .and_then(|p| p.parent().map(std::path::Path::to_path_buf));
    convert::convert(&loaded, out_dir.as_deref()).map_err(|source| ImportError::Convert {
        path: args.nginx_conf.clone(),
        source,
    })
}

/// Parses and converts one file's text without touching the file system
/// (an `include` is not followed: it becomes a warning). A pure function,
/// for the fuzz target and the property tests.
///
/// # Errors
/// A syntax error, or nothing to convert.
pub fn convert_text(text: &str, path: &std::path::Path) -> Result<Conversion, ImportError> {
    let syntax = |source| load::LoadError::Syntax {
        path: path.to_path_buf(),
        source,
    };
    let directives = parser::parse(text, 0).map_err(syntax)?;
    let loaded = load::Loaded {
        files: vec![path.to_path_buf()],
        directives,
        prefix: path
            .parent()
            .map(std::path::Path::to_path_buf)
            .unwrap_or_default(),
    };
    convert::convert(&loaded, None).map_err(|source| ImportError::Convert {
        path: path.to_path_buf(),
        source,
    })
}

/// The exit status for a conversion's warnings.
pub fn exit_status(warnings: &[Warning]) -> u8 {
    if warnings.iter().any(|w| w.security) {
        EXIT_SECURITY_DROPPED
    } else if warnings.is_empty() {
        EXIT_COMPLETE
    } else {
        EXIT_DROPPED
    }
}

/// `mtls-gateway import-nginx`.
pub fn run(args: ImportArgs) -> ExitCode {
    let conversion = match import(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            eprintln!("import-nginx: nothing written");
            return ExitCode::from(EXIT_FAILED);
        }
    };
    for w in &conversion.warnings {
        eprintln!("{w}");
    }
    match &args.output {
        Some(path) => {
            if let Err(e) = std::fs::write(path, &conversion.toml) {
                eprintln!("{}: cannot write: {e}", path.display());
                return ExitCode::from(EXIT_FAILED);
            }
        }
        None => print!("{}", conversion.toml),
    }
    let security = conversion.warnings.iter().filter(|w| w.security).count();
    let written = args.output.as_ref().map_or_else(
        || "standard output".to_string(),
        |p| p.display().to_string(),
    );
    eprintln!(
        "import-nginx: {} server(s) written to {written}; {} directive(s) not carried over ({security} security-relevant). Next: mtls-gateway check --config {}",
        conversion.servers,
        conversion.warnings.len(),
        args.output
            .as_ref()
            .map_or_else(|| "FILE".to_string(), |p| p.display().to_string()),
    );
    ExitCode::from(exit_status(&conversion.warnings))
}
