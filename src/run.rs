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
    /// A reload never replaces a certificate with one clients refuse (at
    /// start there is nothing better to serve, so it is served).
    #[error("{}", .0.iter().map(|w| format!("{w} (a reload keeps the current certificate)")).collect::<Vec<_>>().join("\n"))]
    ExpiredServerCertificate(Vec<crate::check::Warning>),
}

/// Logs what `check` would warn about (expiry within
/// [`crate::check::DEFAULT_EXPIRY_DAYS`]), once per start and reload.
fn log_warnings(generation: &Generation) {
    for w in crate::check::warnings(
        generation,
        crate::clock::unix_now(),
        crate::check::DEFAULT_EXPIRY_DAYS,
    ) {
        if w.problem.starts_with("EXPIRED") || w.problem.starts_with("NOT VALID") {
            tracing::error!("{w}");
        } else {
            tracing::warn!("{w}");
        }
    }
}

/// Why `mtls-gateway reload` could not reload the running gateway, or the
/// gateway refused the new configuration.
#[derive(Debug, thiserror::Error)]
pub enum SignalReloadError {
    #[error("{0}\nnot reloading: the running gateway would refuse this configuration")]
    Config(config::ConfigErrors),
    #[error("{0}\nnot reloading: the running gateway would refuse this configuration")]
    Tls(crate::tls::TlsSetupError),
    #[error(
        "cannot read pid file {} ({}): {source}\nis the gateway running? (under systemd: `systemctl reload mtls-gateway`)",
        .path.display(), .origin
    )]
    ReadPidFile {
        path: PathBuf,
        origin: PidOrigin,
        source: std::io::Error,
    },
    #[error("pid file {} does not hold a process id", .path.display())]
    NotAPid { path: PathBuf },
    #[error("pid file {} holds an invalid pid", .path.display())]
    InvalidPid { path: PathBuf },
    #[error(
        "pid file {} names pid {pid}, which is `{comm}`, not `{ours}`: a stale pid file? not signalling",
        .path.display()
    )]
    NotTheGateway {
        path: PathBuf,
        pid: i32,
        comm: String,
        ours: String,
    },
    #[error("cannot signal pid {pid}: {source}")]
    Kill { pid: i32, source: rustix::io::Errno },
    #[error(
        "sent SIGHUP to pid {pid}, but cannot read its reload status {}: {reason}; the gateway's log says whether the reload succeeded",
        .path.display()
    )]
    Status {
        path: PathBuf,
        pid: i32,
        reason: String,
    },
    #[error("the gateway (pid {pid}) exited before reporting the reload")]
    Exited { pid: i32 },
    #[error(
        "the gateway (pid {pid}) did not finish the reload within {}s; its log says why",
        .waited.as_secs()
    )]
    Timeout { pid: i32, waited: Duration },
    #[error(
        "reload refused by the running gateway (pid {pid}); still serving generation {generation} unchanged:\n{error}"
    )]
    Refused {
        pid: i32,
        generation: u64,
        error: String,
    },
}

/// Where the pid file path came from (said in errors, so that the
/// operator knows which setting to look at).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PidOrigin {
    /// The configuration's `pid`.
    Configured,
    /// `$RUNTIME_DIRECTORY/gateway.pid` (systemd's `RuntimeDirectory=`).
    RuntimeDirectory,
    /// Beside the configuration file, with the extension `.pid`.
    BesideConfig,
}

impl std::fmt::Display for PidOrigin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PidOrigin::Configured => "`pid` in the configuration",
            PidOrigin::RuntimeDirectory => {
                "the default under systemd: $RUNTIME_DIRECTORY/gateway.pid, e.g. /run/mtls-gateway/gateway.pid"
            }
            PidOrigin::BesideConfig => {
                "the default without `pid`: beside the configuration, named like it with .pid"
            }
        })
    }
}

/// The pid file `run` writes and `reload` reads: `pid` when configured;
/// otherwise `gateway.pid` in systemd's `$RUNTIME_DIRECTORY` (the unit's
/// `RuntimeDirectory=mtls-gateway`: `/run/mtls-gateway/gateway.pid`), and
/// without systemd beside the configuration file (`gateway.toml` →
/// `gateway.pid`), a folder the user who runs it can write.
pub fn pid_file(global: &config::Global, source: &Path) -> (PathBuf, PidOrigin) {
    if let Some(pid) = &global.pid {
        return (pid.clone(), PidOrigin::Configured);
    }
    // systemd sets RUNTIME_DIRECTORY for every command of the unit
    // (ExecStart and ExecReload alike); several directories are `:`-separated.
    if let Some(dir) = std::env::var_os("RUNTIME_DIRECTORY")
        && let Some(first) = std::env::split_paths(&dir).next()
        && !first.as_os_str().is_empty()
    {
        return (first.join("gateway.pid"), PidOrigin::RuntimeDirectory);
    }
    (source.with_extension("pid"), PidOrigin::BesideConfig)
}

/// The reload status file beside a pid file (`gateway.pid.status`).
pub fn status_file(pid_file: &Path) -> PathBuf {
    let mut name = pid_file.as_os_str().to_os_string();
    name.push(".status");
    PathBuf::from(name)
}

/// What the running gateway says about its reloads, in its status file
/// (written at start and at the beginning and end of each reload), read by
/// `mtls-gateway reload` to report the outcome of the reload it asked for.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ReloadStatus {
    pub pid: u32,
    /// The generation serving now.
    pub generation: u64,
    /// Reloads begun and finished since start.
    pub reloads_started: u64,
    pub reloads_finished: u64,
    /// `success` or `failure` of the last finished reload (None: none yet).
    pub last_reload: Option<String>,
    /// Why the last reload failed, one problem per line.
    pub last_error: Option<String>,
}

impl ReloadStatus {
    fn write(&self, path: &Path) -> std::io::Result<()> {
        // Through a temporary file and a rename: a reader never sees half of it.
        let mut tmp = path.as_os_str().to_os_string();
        tmp.push(".tmp");
        let text = serde_json::to_string_pretty(self).map_err(std::io::Error::other)?;
        std::fs::write(&tmp, text + "\n")?;
        std::fs::rename(&tmp, path)
    }

    fn read(path: &Path) -> Result<ReloadStatus, String> {
        let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
        serde_json::from_str(&text).map_err(|e| e.to_string())
    }
}

/// The status file of the running process (None: it has no pid file).
struct StatusWriter {
    path: PathBuf,
    status: Mutex<ReloadStatus>,
}

impl StatusWriter {
    fn update(&self, change: impl FnOnce(&mut ReloadStatus)) {
        let mut status = self.status.lock().unwrap_or_else(|p| p.into_inner());
        change(&mut status);
        if let Err(e) = status.write(&self.path) {
            tracing::warn!(error = %e, "cannot write the reload status {}", self.path.display());
        }
    }
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
    let (pid_path, origin) = pid_file(&config.global, &config.source);
    let generation = Generation::build(config, None, 1)?;
    log_warnings(&generation);
    let listeners = listener::bind(&generation).await?;
    let pid_file = match std::fs::write(&pid_path, format!("{}\n", std::process::id())) {
        Ok(()) => Some(pid_path),
        Err(source) if origin == PidOrigin::Configured => {
            return Err(StartError::PidFile {
                path: pid_path,
                source,
            });
        }
        // A default nobody asked for: serve anyway, `reload` will say it found none.
        Err(e) => {
            tracing::warn!(error = %e, "cannot write the pid file {} ({origin}); set `pid` to a writable path for `mtls-gateway reload`", pid_path.display());
            None
        }
    };
    let status = pid_file.as_ref().map(|pid| StatusWriter {
        path: status_file(pid),
        status: Mutex::new(ReloadStatus {
            pid: std::process::id(),
            generation: 1,
            ..ReloadStatus::default()
        }),
    });
    if let Some(status) = &status {
        status.update(|_| {});
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
        generation: Arc::new(ArcSwap::from_pointee(generation)),
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
        status,
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
        let _ = std::fs::remove_file(status_file(&pid));
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

/// Modification time, size and identity (device, inode) of each file,
/// symlinks followed (None: unreadable).
///
/// The identity catches what time and size miss: Kubernetes updates a
/// mounted ConfigMap or Secret by writing the new files into a new
/// directory and swapping the `..data` symlink to it, so a path keeps its
/// name but resolves to another file, which may have the same size and
/// even the same modification time (an 80-byte ticket key, a file copied
/// with its time).
type Stamps = Vec<(PathBuf, Option<(SystemTime, u64, (u64, u64))>)>;

fn file_stamps(files: &[PathBuf]) -> Stamps {
    files
        .iter()
        .map(|f| {
            let stamp = std::fs::metadata(f)
                .ok()
                .and_then(|m| Some((m.modified().ok()?, m.len(), file_identity(&m))));
            (f.clone(), stamp)
        })
        .collect()
}

#[cfg(unix)]
fn file_identity(m: &std::fs::Metadata) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    (m.dev(), m.ino())
}

#[cfg(not(unix))]
fn file_identity(_: &std::fs::Metadata) -> (u64, u64) {
    (0, 0)
}

struct Reloader {
    source: PathBuf,
    shared: Arc<Shared>,
    /// Addresses bound at start; they cannot change without a restart.
    bound: Vec<SocketAddr>,
    stamps: Mutex<Stamps>,
    /// Where `mtls-gateway reload` reads the outcome (None: no pid file).
    status: Option<StatusWriter>,
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
        if let Some(status) = &self.status {
            status.update(|s| s.reloads_started += 1);
        }
        tracing::info!(
            reason = why,
            generation = number,
            "reloading {}",
            self.source.display()
        );
        let built = (|| -> Result<Generation, ReloadError> {
            let next = Generation::build(config::load(&self.source)?, Some(&current), number)?;
            let expired =
                crate::check::expired_server_certificates(&next, crate::clock::unix_now());
            if !expired.is_empty() {
                return Err(ReloadError::ExpiredServerCertificate(expired));
            }
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
                log_warnings(&next);
                self.warn_about_restart_only_changes(&current, &next);
                *self.stamps.lock().unwrap_or_else(|p| p.into_inner()) = file_stamps(&next.files);
                self.shared.generation.store(Arc::new(next));
                let _ = current.retired.send(true);
                tracing::info!(
                    generation = number,
                    "reload complete: generation {number} serving"
                );
                if let Some(status) = &self.status {
                    status.update(|s| {
                        s.generation = number;
                        s.reloads_finished += 1;
                        s.last_reload = Some("success".into());
                        s.last_error = None;
                    });
                }
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
                if let Some(status) = &self.status {
                    status.update(|s| {
                        s.reloads_finished += 1;
                        s.last_reload = Some("failure".into());
                        s.last_error = Some(errors.to_string());
                    });
                }
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

/// How often `mtls-gateway reload` looks at the status file while it waits.
const STATUS_POLL: Duration = Duration::from_millis(50);

/// A reload the running gateway completed.
#[derive(Debug)]
pub struct Reloaded {
    pub pid: u32,
    pub generation: u64,
}

/// Validates the configuration, sends SIGHUP to the gateway of its pid
/// file ([`pid_file`]), then waits (up to `wait`) until that gateway has
/// finished a reload begun after the signal, and says how it ended.
///
/// # Errors
/// [`SignalReloadError`]: the configuration is invalid (nothing is
/// signalled), no gateway runs under the pid file, the gateway refused the
/// configuration ([`SignalReloadError::Refused`], with its reasons), exited
/// or did not answer in time.
pub fn signal_reload(config_path: &Path, wait: Duration) -> Result<Reloaded, SignalReloadError> {
    let config = config::load(config_path).map_err(SignalReloadError::Config)?;
    let (path, origin) = pid_file(&config.global, &config.source);
    // What `check` builds too: a configuration the gateway would refuse is not sent.
    Generation::build(config, None, 1).map_err(SignalReloadError::Tls)?;
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(source) => {
            return Err(SignalReloadError::ReadPidFile {
                path,
                origin,
                source,
            });
        }
    };
    let Ok(raw) = text.trim().parse::<i32>() else {
        return Err(SignalReloadError::NotAPid { path });
    };
    let Some(pid) = rustix::process::Pid::from_raw(raw) else {
        return Err(SignalReloadError::InvalidPid { path });
    };
    // A pid file left by a gateway that was killed may name a process that
    // reused the number; SIGHUP ends most programs. Signal only a process
    // running this same program (where /proc tells).
    if let (Ok(comm), Ok(ours)) = (
        std::fs::read_to_string(format!("/proc/{raw}/comm")),
        std::fs::read_to_string("/proc/self/comm"),
    ) && comm.trim() != ours.trim()
    {
        return Err(SignalReloadError::NotTheGateway {
            path,
            pid: raw,
            comm: comm.trim().to_string(),
            ours: ours.trim().to_string(),
        });
    }
    let status_path = status_file(&path);
    let status_error = |reason: String| SignalReloadError::Status {
        path: status_path.clone(),
        pid: raw,
        reason,
    };
    let before = ReloadStatus::read(&status_path);
    rustix::process::kill_process(pid, rustix::process::Signal::HUP)
        .map_err(|source| SignalReloadError::Kill { pid: raw, source })?;
    // Signalled, but nothing to watch the outcome in (a gateway that could
    // not write it): said, and not reported as a success.
    let before = before.map_err(&status_error)?;
    // A reload that had begun before the signal may not have read the new
    // files: wait for one begun after it.
    let wanted = before.reloads_started + 1;
    let deadline = std::time::Instant::now() + wait;
    loop {
        std::thread::sleep(STATUS_POLL);
        if rustix::process::test_kill_process(pid).is_err() {
            return Err(SignalReloadError::Exited { pid: raw });
        }
        // Absent or unreadable for a moment: the gateway is replacing it.
        if let Ok(now) = ReloadStatus::read(&status_path)
            && now.reloads_finished >= wanted
        {
            return match now.last_reload.as_deref() {
                Some("success") => Ok(Reloaded {
                    pid: now.pid,
                    generation: now.generation,
                }),
                _ => Err(SignalReloadError::Refused {
                    pid: raw,
                    generation: now.generation,
                    error: now.last_error.unwrap_or_default(),
                }),
            };
        }
        if std::time::Instant::now() >= deadline {
            return Err(SignalReloadError::Timeout {
                pid: raw,
                waited: wait,
            });
        }
    }
}
