//! `mtls-gateway` command line: `run` serves a configuration, `check`
//! validates one (and every file it names) without serving, like `nginx -t`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

/// jemalloc serves every allocation (cargo feature `jemalloc`, on by
/// default): per-connection buffers come from size-class slabs whose
/// untouched pages stay unmapped, and freed memory is returned, where
/// glibc's per-thread arenas keep handshake memory resident
/// (docs/performance.md, idle memory per connection).
#[cfg(feature = "jemalloc")]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[derive(Parser)]
#[command(
    name = "mtls-gateway",
    version,
    about = "A TLS edge that verifies client certificates and forwards the verified identity to an upstream"
)]
struct Cli {
    /// Log format on stderr.
    #[arg(long, value_enum, default_value_t = LogFormat::Human, global = true)]
    log_format: LogFormat,
    /// Log filter (`info`, `debug`, `mtls_gateway=debug`, ...); overrides RUST_LOG.
    #[arg(long, global = true)]
    log_level: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Human,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway.
    Run {
        /// The configuration file.
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Validate the configuration, tell the running gateway (by its pid file) to reload it,
    /// and wait for the outcome: exit 0 once the new configuration serves, 1 if it was refused.
    Reload {
        /// The configuration file.
        #[arg(long, short)]
        config: PathBuf,
        /// How long to wait for the running gateway to finish the reload.
        #[arg(long, default_value = "60s", value_parser = parse_wait)]
        timeout: std::time::Duration,
    },
    /// Make and manage the PKI: CA, server and client certificates, .p12 files, CRLs.
    #[cfg(feature = "certs")]
    #[command(subcommand)]
    Certs(mtls_gateway::certs::CertsCommand),
    /// Print a certificate's $ssl_client_* values and its verification result.
    Inspect(mtls_gateway::inspect::InspectArgs),
    /// Convert an nginx configuration to a gateway configuration (exit 0: all carried over, 1: something dropped, 2: something security-relevant dropped, 3: nothing written).
    ImportNginx(mtls_gateway::import::ImportArgs),
    /// Load and validate a configuration and every file it names, then exit; warn about
    /// what would refuse clients (expired or expiring certificates and CRLs, CA bundle
    /// problems, verify_depth too small).
    Check {
        /// The configuration file.
        #[arg(long, short)]
        config: PathBuf,
        /// Warn about certificates and CRLs that expire within this many days.
        #[arg(long, value_name = "DAYS", default_value_t = mtls_gateway::check::DEFAULT_EXPIRY_DAYS)]
        expiry_warning_days: u32,
    },
}

/// `--timeout` of `reload`: nginx's duration syntax (`30s`, `2m`) or seconds.
fn parse_wait(text: &str) -> Result<std::time::Duration, String> {
    let raw = mtls_gateway::config::raw::RawDuration::Text(text.to_string());
    mtls_gateway::config::duration::parse(&raw).map_err(|e| e.to_string())
}

fn init_logging(format: LogFormat, level: Option<&str>) {
    use tracing_subscriber::EnvFilter;
    let filter = match level {
        Some(l) => EnvFilter::new(l),
        None => EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
    };
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Human => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format, cli.log_level.as_deref());
    match cli.command {
        Command::Check {
            config,
            expiry_warning_days,
        } => match mtls_gateway::config::load(&config) {
            Ok(loaded) => match mtls_gateway::runtime::Generation::build(loaded, None, 1) {
                Ok(generation) => {
                    for group in &generation.groups {
                        for server in &group.servers {
                            println!(
                                "{} on {}: verify_client = \"{}\", {} location(s)",
                                server.config.label,
                                group.addr,
                                server.config.client_auth.mode,
                                server.locations.len()
                            );
                        }
                    }
                    let warnings = mtls_gateway::check::warnings(
                        &generation,
                        mtls_gateway::clock::unix_now(),
                        expiry_warning_days,
                    );
                    for w in &warnings {
                        eprintln!("{}: warning: {w}", config.display());
                    }
                    if warnings.is_empty() {
                        println!("{}: configuration OK", config.display());
                    } else {
                        println!(
                            "{}: configuration OK, with {} warning(s) above",
                            config.display(),
                            warnings.len()
                        );
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("{}: {e}", config.display());
                    ExitCode::FAILURE
                }
            },
            Err(errors) => {
                eprintln!("{errors}");
                eprintln!(
                    "{}: configuration has {} error(s)",
                    config.display(),
                    errors.errors.len()
                );
                ExitCode::FAILURE
            }
        },
        #[cfg(feature = "certs")]
        Command::Certs(command) => mtls_gateway::certs::run(command),
        Command::Inspect(args) => mtls_gateway::inspect::run(args),
        Command::ImportNginx(args) => mtls_gateway::import::run(args),
        Command::Reload { config, timeout } => {
            match mtls_gateway::run::signal_reload(&config, timeout) {
                Ok(done) => {
                    println!(
                        "reloaded: mtls-gateway (pid {}) serves {} as generation {}",
                        done.pid,
                        config.display(),
                        done.generation
                    );
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("{e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Run { config } => {
            let loaded = match mtls_gateway::config::load(&config) {
                Ok(c) => c,
                Err(errors) => {
                    eprintln!("{errors}");
                    eprintln!("{}: refusing to start", config.display());
                    return ExitCode::FAILURE;
                }
            };
            // The main thread's runtime: signals, reloads, accepting, the
            // admin listener, and worker 0's connections; `run` starts the
            // other workers (mtls_gateway::workers).
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("cannot start the async runtime: {e}");
                    return ExitCode::FAILURE;
                }
            };
            match runtime.block_on(mtls_gateway::run::run(loaded)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    // Once, through the log (JSON with --log-format json).
                    tracing::error!("{}: refusing to start: {e}", config.display());
                    ExitCode::FAILURE
                }
            }
        }
    }
}
