//! The life of the gateway process: build the runtime from a validated
//! configuration, bind every address (or refuse to start), write the pid
//! file, then serve until SIGTERM/SIGINT, reloading on SIGHUP or (with
//! `watch = true`) when a file changes, and draining in-flight requests on
//! the way out.
//!
//! Reload is build-aside, validate, publish: the new configuration and every
//! file it names are loaded into a new [`Generation`] while the old one
//! serves; only a complete generation is published, atomically. A reload
//! that fails changes nothing and logs each problem. Connections of a
//! replaced generation finish their in-flight requests on it and then close.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::{mpsc, watch};

use crate::access_log::AccessLogger;
use crate::config::{self, Config};
use crate::listener::{self, Shared};
use crate::metrics::{Metrics, OutcomeLabels};
use crate::runtime::Generation;

/// How often `watch = true` looks at the configuration's files.
const WATCH_INTERVAL: Duration = Duration::from_secs(1);
/// How long the exit waits for admin requests in flight (their answers are
/// immediate; a client still sending its head is cut by the header timeout).
const ADMIN_DRAIN: Duration = Duration::from_secs(1);

/// Serves `config` until a shutdown signal.
///
/// Why the gateway did not start; nothing is served then.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsSetupError),
    #[error(transparent)]
    Bind(#[from] crate::listener::BindError),
    #[error(transparent)]
    AdminBind(#[from] crate::admin::AdminBindError),
    #[error(transparent)]
    AccessLog(#[from] crate::access_log::AccessLogError),
    #[error("cannot write pid file {}: {source}", .path.display())]
    PidFile {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("{signal} handler: {source}")]
    Signal {
        signal: &'static str,
        source: std::io::Error,
    },
    #[error("the address of a bound socket: {0}")]
    LocalAddr(std::io::Error),
    #[error("cannot start the worker threads: {0}")]
    Workers(std::io::Error),
}

/// Why a reload was refused (the running configuration stays).
#[derive(Debug, thiserror::Error)]
enum ReloadError {
    #[error(transparent)]
    Config(#[from] config::ConfigErrors),
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsSetupError),
    #[error(transparent)]
    AccessLog(#[from] crate::access_log::AccessLogError),
}

/// Why `mtls-gateway reload` could not signal the running gateway.
#[derive(Debug, thiserror::Error)]
pub enum SignalReloadError {
    #[error("{0}\nnot reloading: the running gateway would refuse this configuration")]
    Config(config::ConfigErrors),
    #[error(
        "{}: no `pid` file configured; set pid = \"/run/mtls-gateway.pid\" or send SIGHUP to the process",
        .config.display()
    )]
    NoPidFile { config: std::path::PathBuf },
    #[error("cannot read pid file {}: {source} (is the gateway running?)", .path.display())]
    ReadPidFile {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("pid file {} does not hold a process id", .path.display())]
    NotAPid { path: std::path::PathBuf },
    #[error("pid file {} holds an invalid pid", .path.display())]
    InvalidPid { path: std::path::PathBuf },
    #[error("cannot signal pid {pid}: {source}")]
    Kill { pid: i32, source: rustix::io::Errno },
}

/// # Errors
/// [`StartError`]: the runtime cannot be built, an address cannot be bound
/// or the pid file cannot be written; nothing is served in that case.
pub async fn run(config: Config) -> Result<(), StartError> {
    raise_fd_limit();
    let source = config.source.clone();
    // Before the configuration: its upstream pools are made per worker.
    let count = config
        .global
        .worker_processes
        .unwrap_or_else(crate::workers::default_count);
    let workers = crate::workers::Workers::start(count).map_err(StartError::Workers)?;
    let generation = Generation::build(config, None, 1)?;
    let listeners = listener::bind(&generation).await?;
    let pid_file = generation.global.pid.clone();
    if let Some(pid) = &pid_file {
        std::fs::write(pid, format!("{}\n", std::process::id())).map_err(|source| {
            StartError::PidFile {
                path: pid.clone(),
                source,
            }
        })?;
    }
    let handler = |kind: SignalKind, name: &'static str| {
        signal(kind).map_err(|source| StartError::Signal {
            signal: name,
            source,
        })
    };
    let mut hangup = handler(SignalKind::hangup(), "SIGHUP")?;
    let mut terminate = handler(SignalKind::terminate(), "SIGTERM")?;
    let mut interrupt = handler(SignalKind::interrupt(), "SIGINT")?;
    let mut user1 = handler(SignalKind::user_defined1(), "SIGUSR1")?;
    let metrics = Arc::new(Metrics::new());
    let access_log = Arc::new(AccessLogger::new(
        &generation.global.access_log,
        generation.global.access_log_format,
        metrics.access_log_dropped.clone(),
    )?);
    let admin = match generation.global.admin {
        Some(addr) => Some(crate::admin::bind(addr).await?),
        None => None,
    };
    metrics.generation.set(1);
    metrics.set_expiry(generation.expiry_samples());

    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let (alive_tx, mut alive_rx) = mpsc::channel::<()>(1);
    let bound: Vec<SocketAddr> = generation.groups.iter().map(|g| g.addr).collect();
    let stamps = file_stamps(&generation.files);
    let connection_slots = Arc::new(tokio::sync::Semaphore::new(
        generation.global.max_connections,
    ));
    let shared = Arc::new(Shared {
        connection_slots,
        generation: ArcSwap::from_pointee(generation),
        metrics,
        access_log,
        shutdown: shutdown_rx,
        alive: std::sync::Mutex::new(Some(alive_tx)),
        workers,
    });
    let mut loops = Vec::new();
    for (listener, configured) in listeners.into_iter().zip(bound.iter().copied()) {
        let addr = listener.local_addr().map_err(StartError::LocalAddr)?;
        tracing::info!(addr = %addr, configured = %configured, "listening on {addr}");
        loops.push(tokio::spawn(listener::accept_loop(
            listener,
            configured,
            shared.clone(),
        )));
    }
    let admin = match admin {
        Some(admin) => {
            let addr = admin.local_addr().map_err(StartError::LocalAddr)?;
            tracing::info!(addr = %addr, "admin listening on {addr} (/healthz, /readyz, /metrics)");
            // Drained last: /readyz answers 503 while connections drain.
            Some(crate::admin::Admin::spawn(admin, shared.clone()))
        }
        None => None,
    };
    let reloader = Reloader {
        source: source.clone(),
        shared: shared.clone(),
        bound,
        stamps: Mutex::new(stamps),
    };
    tracing::info!(config = %source.display(), generation = 1, workers = shared.workers.count(), "mtls-gateway ready");
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Ready]);

    let mut tick = tokio::time::interval(WATCH_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let watching = shared.generation.load().global.watch;
        tokio::select! {
            _ = hangup.recv() => reloader.reload("SIGHUP"),
            _ = tick.tick(), if watching => {
                if reloader.files_changed() {
                    // Let a writer finish before reading.
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    reloader.reload("a watched file changed");
                }
            }
            _ = user1.recv() => shared.access_log.reopen(),
            _ = terminate.recv() => break,
            _ = interrupt.recv() => break,
        }
    }

    let timeout = shared.generation.load().global.shutdown_timeout;
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Stopping]);
    tracing::info!(timeout = ?timeout, "shutting down: no new connections, finishing in-flight requests");
    let _ = shutdown_tx.send(true);
    for l in loops {
        let _ = l.await;
    }
    drop(reloader);
    // Only connections hold senders now; the receiver ends when they all end.
    drop(
        shared
            .alive
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take(),
    );
    match tokio::time::timeout(timeout, alive_rx.recv()).await {
        Ok(_) => tracing::info!("all connections finished; exiting"),
        Err(_) => tracing::warn!(
            "connections still open after shutdown_timeout ({timeout:?}); exiting anyway"
        ),
    }
    if let Some(admin) = admin {
        admin.drain(ADMIN_DRAIN).await;
    }
    shared.access_log.finish(crate::access_log::FINISH_TIMEOUT);
    shared.workers.stop();
    if let Some(pid) = pid_file {
        let _ = std::fs::remove_file(pid);
    }
    Ok(())
}

/// Raises the soft open-files limit to the hard one (every connection is a
/// descriptor; the usual soft default of 1024 is far below max_connections).
fn raise_fd_limit() {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut limit = getrlimit(Resource::Nofile);
    if limit.current < limit.maximum {
        let before = limit.current;
        limit.current = limit.maximum;
        match setrlimit(Resource::Nofile, limit) {
            Ok(()) => tracing::debug!(?before, now = ?limit.current, "raised the open-files limit"),
            Err(e) => tracing::warn!(error = %e, "cannot raise the open-files limit"),
        }
    }
    if let Some(n) = limit.current
        && n < 4096
    {
        tracing::warn!(
            limit = n,
            "open-files limit is low; raise LimitNOFILE / ulimit -n"
        );
    }
}

/// Size and modification time of each file (None: unreadable).
type Stamps = Vec<(PathBuf, Option<(SystemTime, u64)>)>;

fn file_stamps(files: &[PathBuf]) -> Stamps {
    files
        .iter()
        .map(|f| {
            let stamp = std::fs::metadata(f)
                .ok()
                .and_then(|m| Some((m.modified().ok()?, m.len())));
            (f.clone(), stamp)
        })
        .collect()
}

struct Reloader {
    source: PathBuf,
    shared: Arc<Shared>,
    /// Addresses bound at start; they cannot change without a restart.
    bound: Vec<SocketAddr>,
    stamps: Mutex<Stamps>,
}

impl Reloader {
    fn files_changed(&self) -> bool {
        let mut stamps = self.stamps.lock().unwrap_or_else(|p| p.into_inner());
        let paths: Vec<PathBuf> = stamps.iter().map(|(p, _)| p.clone()).collect();
        let now = file_stamps(&paths);
        if now != *stamps {
            *stamps = now;
            true
        } else {
            false
        }
    }

    /// Loads the configuration again and publishes it, or keeps the current
    /// one and logs why not.
    fn reload(&self, why: &str) {
        let _ = sd_notify::notify(&[
            sd_notify::NotifyState::Reloading,
            sd_notify::NotifyState::monotonic_usec_now()
                .unwrap_or(sd_notify::NotifyState::MonotonicUsec(0)),
        ]);
        let current = self.shared.generation.load_full();
        let number = current.number + 1;
        tracing::info!(
            reason = why,
            generation = number,
            "reloading {}",
            self.source.display()
        );
        let built = (|| -> Result<Generation, ReloadError> {
            let next = Generation::build(config::load(&self.source)?, Some(&current), number)?;
            self.shared
                .access_log
                .configure(&next.global.access_log, next.global.access_log_format)?;
            Ok(next)
        })();
        let metrics = &self.shared.metrics;
        match built {
            Ok(next) => {
                metrics
                    .reloads
                    .get_or_create(&OutcomeLabels { outcome: "success" })
                    .inc();
                metrics
                    .generation
                    .set(i64::try_from(number).unwrap_or(i64::MAX));
                metrics.set_expiry(next.expiry_samples());
                self.warn_about_restart_only_changes(&current, &next);
                *self.stamps.lock().unwrap_or_else(|p| p.into_inner()) = file_stamps(&next.files);
                self.shared.generation.store(Arc::new(next));
                let _ = current.retired.send(true);
                tracing::info!(
                    generation = number,
                    "reload complete: generation {number} serving"
                );
            }
            Err(errors) => {
                metrics
                    .reloads
                    .get_or_create(&OutcomeLabels { outcome: "failure" })
                    .inc();
                for line in errors.to_string().lines() {
                    tracing::error!("reload failed: {line}");
                }
                tracing::error!(
                    generation = current.number,
                    "reload failed; still serving generation {} unchanged",
                    current.number
                );
            }
        }
        let _ = sd_notify::notify(&[sd_notify::NotifyState::Ready]);
    }

    fn warn_about_restart_only_changes(&self, current: &Generation, next: &Generation) {
        let wanted: Vec<SocketAddr> = next.groups.iter().map(|g| g.addr).collect();
        let added: Vec<String> = wanted
            .iter()
            .filter(|a| !self.bound.contains(a))
            .map(ToString::to_string)
            .collect();
        let removed: Vec<String> = self
            .bound
            .iter()
            .filter(|a| !wanted.contains(a))
            .map(ToString::to_string)
            .collect();
        if !added.is_empty() || !removed.is_empty() {
            tracing::warn!(
                "listen addresses cannot change without a restart: not listening on [{}] until then; [{}] stay bound but refuse new connections",
                added.join(", "),
                removed.join(", ")
            );
        }
        for (key, changed) in [
            ("pid", current.global.pid != next.global.pid),
            ("admin.listen", current.global.admin != next.global.admin),
            (
                "max_connections",
                current.global.max_connections != next.global.max_connections,
            ),
            (
                "worker_processes",
                current.global.worker_processes != next.global.worker_processes,
            ),
        ] {
            if changed {
                tracing::warn!("{key} changed: takes effect at the next restart");
            }
        }
    }
}

/// Sends SIGHUP to the gateway whose pid file the configuration names.
///
/// # Errors
/// [`SignalReloadError`]: the configuration is invalid (nothing is
/// signalled), names no pid file, or the process cannot be signalled.
pub fn signal_reload(config_path: &Path) -> Result<u32, SignalReloadError> {
    let config = config::load(config_path).map_err(SignalReloadError::Config)?;
    let path = config
        .global
        .pid
        .ok_or_else(|| SignalReloadError::NoPidFile {
            config: config_path.to_path_buf(),
        })?;
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(source) => return Err(SignalReloadError::ReadPidFile { path, source }),
    };
    let Ok(raw) = text.trim().parse::<i32>() else {
        return Err(SignalReloadError::NotAPid { path });
    };
    let Some(pid) = rustix::process::Pid::from_raw(raw) else {
        return Err(SignalReloadError::InvalidPid { path });
    };
    rustix::process::kill_process(pid, rustix::process::Signal::HUP)
        .map_err(|source| SignalReloadError::Kill { pid: raw, source })?;
    // A positive i32 (`Pid` is non-zero and was parsed from the file).
    Ok(u32::try_from(pid.as_raw_nonzero().get()).unwrap_or(0))
}
