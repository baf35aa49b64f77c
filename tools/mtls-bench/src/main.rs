//! `mtls-bench`: a load generator for mTLS edges (this gateway, nginx,
//! HAProxy), with client certificates, four modes and honest latency.
//!
//! ```text
//! mtls-bench keepalive https://localhost:3443/api/mtls --cert c.pem --key k.pem --cacert ca.crt -c 32 -d 10s
//! mtls-bench handshake ...   # a new connection and a full mTLS handshake per request
//! mtls-bench resume ...      # a new connection per request, resuming a session
//! mtls-bench idle ... -c 5000 -d 10s --server-pid PID   # hold connections; RSS per connection
//! mtls-bench backend --listen 127.0.0.1:8080            # a static upstream for the proxies
//! ```
//!
//! Latency is an HDR histogram in microseconds. With `--rate` requests are
//! sent on a fixed schedule (open model) and each latency counts from the
//! request's intended send time. `--server-pid` (once per process) adds the
//! server's CPU seconds and memory, read from `/proc`, to the report.
//! Targets must be loopback addresses unless `--allow-remote` is given.

#![forbid(unsafe_code)]

mod backend;
mod load;
mod procstat;
mod stats;
mod tls;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Args, Parser, Subcommand};
use http::{StatusCode, Uri};
use rustls_pki_types::ServerName;
use serde_json::json;
use tokio_rustls::TlsConnector;

use load::{Conn, Plan, Shared, Target};
use procstat::Sample;
use stats::Stats;
use tls::{ClientTls, Kx, ResumeBy, Sessions, TlsVersion};

#[derive(Parser)]
#[command(
    name = "mtls-bench",
    version,
    about = "Load generator for mTLS edges: keep-alive, full handshakes, resumed handshakes, idle connections"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// N connections, many requests each (HTTP/1.1, or HTTP/2 with --http2).
    Keepalive(LoadArgs),
    /// A new connection and a full mTLS handshake for every request; the
    /// client keeps no session, so nothing can resume.
    Handshake(LoadArgs),
    /// A new connection per request that resumes a session (TLS 1.3 PSK, or
    /// TLS 1.2 tickets or session IDs, see --resume-by and --tls).
    Resume(LoadArgs),
    /// Open N mTLS connections (one request each), hold them for --duration,
    /// then report the server's memory per connection (needs --server-pid).
    Idle(LoadArgs),
    /// A minimal static HTTP/1.x upstream (fixed 200 "ok"), for the proxies under test.
    Backend {
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        /// Answer 403 unless the request has this header, as `"name: value"`.
        #[arg(long)]
        require_header: Option<String>,
        /// Tokio worker threads.
        #[arg(long, default_value_t = 1)]
        threads: usize,
    },
}

#[derive(Args, Clone)]
struct LoadArgs {
    /// https://HOST:PORT/PATH (HOST must be a loopback address or a name
    /// resolving only to loopback addresses, unless --allow-remote).
    url: String,
    /// Client certificate chain (PEM, leaf first).
    #[arg(long)]
    cert: Option<String>,
    /// Client private key (PEM: PKCS#8, PKCS#1 or SEC1).
    #[arg(long)]
    key: Option<String>,
    /// CA certificate(s) to check the server with (PEM).
    #[arg(long)]
    cacert: Option<String>,
    /// Do not check the server's certificate or handshake signature
    /// (saves the load generator CPU on a shared machine).
    #[arg(long, short = 'k')]
    insecure: bool,
    /// Server name sent in SNI and checked in the certificate (default: the URL's host).
    #[arg(long)]
    sni: Option<String>,
    /// Concurrent connections (idle: connections to hold).
    #[arg(long, short = 'c', default_value_t = 16)]
    connections: usize,
    /// How long to send requests (idle: how long to hold), e.g. 10s, 500ms, 1m.
    #[arg(long, short = 'd', value_parser = parse_duration)]
    duration: Option<Duration>,
    /// Stop after this many requests instead (whichever of --duration and
    /// --requests comes first).
    #[arg(long, short = 'n')]
    requests: Option<u64>,
    /// Open model: send this many requests per second on a fixed schedule,
    /// latency counted from each request's intended send time.
    #[arg(long, short = 'r')]
    rate: Option<f64>,
    /// Use HTTP/2 (keepalive mode).
    #[arg(long)]
    http2: bool,
    /// Concurrent streams per HTTP/2 connection.
    #[arg(long, default_value_t = 1)]
    streams: usize,
    /// TLS versions to offer.
    #[arg(long, value_enum, default_value = "auto")]
    tls: TlsVersion,
    /// Key exchange to offer. x25519 is what Debian 12's OpenSSL 3.0
    /// (nginx, HAProxy) negotiates, so it is the fair default.
    #[arg(long, value_enum, default_value = "x25519")]
    kx: Kx,
    /// TLS 1.2 resumption mechanism (resume mode).
    #[arg(long, value_enum, default_value = "tickets")]
    resume_by: ResumeBy,
    /// Per request (and per connection set-up) timeout.
    #[arg(long, value_parser = parse_duration, default_value = "10s")]
    timeout: Duration,
    /// The status a successful response has; others count as errors.
    #[arg(long, default_value_t = 200)]
    expect_status: u16,
    /// Server process ids whose CPU time and memory to report (repeat for
    /// several processes, e.g. nginx's master and workers).
    #[arg(long = "server-pid")]
    server_pids: Vec<u32>,
    /// Idle mode: only the handshake, no request on the held connections
    /// (separates the server's TLS state from its HTTP state).
    #[arg(long)]
    no_request: bool,
    /// Idle mode: create this file once every connection is open.
    #[arg(long)]
    ready_file: Option<PathBuf>,
    /// A name for this run, copied into the report.
    #[arg(long, default_value = "")]
    label: String,
    /// Tokio worker threads of the load generator (default: available cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Print the report as one JSON object.
    #[arg(long)]
    json: bool,
    /// Allow a target that is not a loopback address.
    #[arg(long)]
    allow_remote: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Keepalive,
    Handshake,
    Resume,
    Idle,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Keepalive => "keepalive",
            Mode::Handshake => "handshake",
            Mode::Resume => "resume",
            Mode::Idle => "idle",
        }
    }
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| !(c.is_ascii_digit() || c == '.')) {
        Some(i) => text.split_at(i),
        None => (text, "s"),
    };
    let value: f64 = number
        .parse()
        .map_err(|_| format!("not a duration: {text:?}"))?;
    let seconds = match unit {
        "ms" => value / 1000.0,
        "s" => value,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        _ => return Err(format!("unknown unit in {text:?} (ms, s, m, h)")),
    };
    if !(seconds.is_finite() && seconds > 0.0) {
        return Err(format!("not a positive duration: {text:?}"));
    }
    Ok(Duration::from_secs_f64(seconds))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let (mode, args) = match cli.command {
        Command::Keepalive(a) => (Mode::Keepalive, a),
        Command::Handshake(a) => (Mode::Handshake, a),
        Command::Resume(a) => (Mode::Resume, a),
        Command::Idle(a) => (Mode::Idle, a),
        Command::Backend {
            listen,
            require_header,
            threads,
        } => return run_backend(listen, require_header, threads),
    };
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = args.threads {
        runtime.worker_threads(n.max(1));
    }
    let runtime = match runtime.enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("mtls-bench: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(mode, args)) {
        Ok(ok) if ok => ExitCode::SUCCESS,
        Ok(_) => ExitCode::from(1),
        Err(e) => {
            eprintln!("mtls-bench: {e}");
            ExitCode::from(2)
        }
    }
}

fn run_backend(listen: SocketAddr, require: Option<String>, threads: usize) -> ExitCode {
    let require = match require.map(|r| {
        r.split_once(':')
            .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
    }) {
        None => None,
        Some(Some(pair)) => Some(pair),
        Some(None) => {
            eprintln!("mtls-bench backend: --require-header wants \"name: value\"");
            return ExitCode::from(2);
        }
    };
    if !listen.ip().is_loopback() {
        eprintln!("mtls-bench backend: listens on loopback addresses only");
        return ExitCode::from(2);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads.max(1))
        .enable_all()
        .build();
    match runtime.map(|r| r.block_on(backend::serve(listen, require))) {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(e)) | Err(e) => {
            eprintln!("mtls-bench backend: {listen}: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Resolves the URL and refuses non-loopback targets.
async fn target(args: &LoadArgs) -> Result<Target, String> {
    let uri: Uri = args.url.parse().map_err(|e| format!("{}: {e}", args.url))?;
    if uri.scheme_str() != Some("https") {
        return Err(format!("{}: only https:// URLs", args.url));
    }
    let host = uri
        .host()
        .ok_or_else(|| format!("{}: no host", args.url))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let port = uri.port_u16().unwrap_or(443);
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), port))
        .await
        .map_err(|e| format!("{host}: {e}"))?
        .collect();
    if addrs.is_empty() {
        return Err(format!("{host}: no address"));
    }
    if !args.allow_remote && !addrs.iter().all(|a| a.ip().is_loopback()) {
        return Err(format!(
            "{host} resolves to {addrs:?}: only loopback targets are allowed without --allow-remote"
        ));
    }
    // Prefer IPv4 (servers under test often listen on 127.0.0.1 only).
    let addr = addrs
        .iter()
        .find(|a| a.is_ipv4())
        .copied()
        .unwrap_or(addrs[0]);
    let sni = args.sni.clone().unwrap_or_else(|| host.clone());
    let server_name =
        ServerName::try_from(sni.clone()).map_err(|e| format!("server name {sni:?}: {e}"))?;
    let authority = uri
        .authority()
        .map_or_else(|| host.clone(), |a| a.as_str().to_string());
    let path = uri
        .path_and_query()
        .map_or_else(|| "/".to_string(), |pq| pq.as_str().to_string());
    Ok(Target {
        addr,
        server_name,
        authority,
        path,
    })
}

async fn run(mode: Mode, args: LoadArgs) -> Result<bool, String> {
    if args.http2 && mode != Mode::Keepalive && mode != Mode::Idle {
        return Err("--http2 is for keepalive and idle modes".into());
    }
    let target = target(&args).await?;
    let sessions = match mode {
        Mode::Handshake | Mode::Idle => Sessions::Off,
        // keepalive reconnects (after nginx's keepalive_requests) resume, as a browser would.
        Mode::Keepalive => Sessions::Resume(ResumeBy::Tickets),
        Mode::Resume => Sessions::Resume(args.resume_by),
    };
    let config = tls::client_config(&ClientTls {
        cert: args.cert.clone(),
        key: args.key.clone(),
        cacert: args.cacert.clone(),
        insecure: args.insecure,
        version: args.tls,
        kx: args.kx,
        alpn: if args.http2 {
            vec![b"h2".to_vec()]
        } else {
            vec![b"http/1.1".to_vec()]
        },
        sessions,
    })?;
    let expect =
        StatusCode::from_u16(args.expect_status).map_err(|e| format!("--expect-status: {e}"))?;
    let duration = match (args.duration, args.requests) {
        (None, None) => Some(Duration::from_secs(10)),
        (d, _) => d,
    };
    if args.rate.is_some_and(|r| !(r.is_finite() && r > 0.0)) {
        return Err("--rate must be a positive number".into());
    }
    let connections = args.connections.max(1);
    let ticks = procstat::clock_ticks();
    let mut shared = Shared {
        target,
        connector: TlsConnector::from(config),
        http2: args.http2,
        timeout: args.timeout,
        expect,
        plan: Plan::new(Instant::now(), duration, args.requests, args.rate),
    };

    if mode == Mode::Idle {
        return idle(&args, shared, connections, ticks).await;
    }

    // Set-up outside the measured time: keep-alive connections are opened,
    // resume primes the session store (one ticket per worker).
    let mut setup = Stats::default();
    let mut conns: Vec<Conn> = Vec::new();
    match mode {
        Mode::Keepalive => {
            let opened = futures_join(
                (0..connections).map(|_| {
                    let shared = &shared;
                    async move {
                        let mut s = Stats::default();
                        let c = load::open(shared, &mut s, true).await;
                        (c, s)
                    }
                }),
                64,
            )
            .await;
            for (c, s) in opened {
                setup.merge(s);
                conns.extend(c);
            }
            if conns.is_empty() {
                return Err(format!("no connection could be opened: {:?}", setup.errors));
            }
        }
        Mode::Resume => {
            for _ in 0..connections {
                let _ = load::open(&shared, &mut setup, true).await;
            }
        }
        _ => {}
    }
    if setup.error_count() > 0 && setup.ok == 0 {
        return Err(format!("set-up failed: {:?}", setup.errors));
    }

    let before = procstat::sample(&args.server_pids, ticks);
    let start = Instant::now();
    shared.plan = Plan::new(start, duration, args.requests, args.rate);
    let shared = Arc::new(shared);
    let mut tasks = Vec::new();
    match mode {
        Mode::Keepalive => {
            let mut conns = conns.into_iter();
            for _ in 0..connections {
                let conn = conns.next();
                let streams = if args.http2 { args.streams.max(1) } else { 1 };
                for _ in 1..streams {
                    if let Some(Conn::H2(s)) = &conn {
                        tasks.push(tokio::spawn(load::keepalive_worker(
                            shared.clone(),
                            Some(Conn::H2(s.clone())),
                        )));
                    }
                }
                tasks.push(tokio::spawn(load::keepalive_worker(shared.clone(), conn)));
            }
        }
        _ => {
            for _ in 0..connections {
                tasks.push(tokio::spawn(load::connection_per_request_worker(
                    shared.clone(),
                )));
            }
        }
    }
    let mut total = Stats::default();
    for t in tasks {
        match t.await {
            Ok(s) => total.merge(s),
            Err(e) => total.error(format!("worker failed: {e}")),
        }
    }
    let elapsed = start.elapsed();
    let after = procstat::sample(&args.server_pids, ticks);
    let report = Report {
        mode,
        args: &args,
        elapsed,
        stats: &total,
        setup: &setup,
        server: (!args.server_pids.is_empty()).then_some((before, after)),
        idle: None,
    };
    report.print(args.json);
    Ok(total.ok > 0)
}

/// Runs `futures` in batches of at most `limit` at a time (results in completion order).
async fn futures_join<F, T>(futures: impl Iterator<Item = F>, limit: usize) -> Vec<T>
where
    F: std::future::Future<Output = T>,
{
    use std::pin::Pin;
    let mut pending: Vec<Pin<Box<F>>> = futures.map(Box::pin).collect();
    let mut out = Vec::with_capacity(pending.len());
    while !pending.is_empty() {
        let batch: Vec<_> = pending.drain(..limit.min(pending.len())).collect();
        let mut results = Vec::with_capacity(batch.len());
        let mut batch: Vec<Option<Pin<Box<F>>>> = batch.into_iter().map(Some).collect();
        // Poll the batch together.
        let done = std::future::poll_fn(|cx| {
            let mut all = true;
            for slot in batch.iter_mut() {
                if let Some(f) = slot {
                    match f.as_mut().poll(cx) {
                        std::task::Poll::Ready(v) => {
                            results.push(Some(v));
                            *slot = None;
                        }
                        std::task::Poll::Pending => all = false,
                    }
                }
            }
            if all {
                std::task::Poll::Ready(())
            } else {
                std::task::Poll::Pending
            }
        });
        done.await;
        out.extend(results.into_iter().flatten());
    }
    out
}

struct IdleResult {
    requested: usize,
    opened: usize,
    before: Sample,
    held: Sample,
    hold: Duration,
}

async fn idle(
    args: &LoadArgs,
    shared: Shared,
    connections: usize,
    ticks: f64,
) -> Result<bool, String> {
    let hold = args.duration.unwrap_or(Duration::from_secs(10));
    let before = procstat::sample(&args.server_pids, ticks);
    let start = Instant::now();
    let opened = futures_join(
        (0..connections).map(|_| {
            let shared = &shared;
            async move {
                let mut s = Stats::default();
                let c = load::open(shared, &mut s, !args.no_request).await;
                (c, s)
            }
        }),
        64,
    )
    .await;
    let mut stats = Stats::default();
    let mut held = Vec::with_capacity(connections);
    for (c, s) in opened {
        stats.merge(s);
        held.extend(c);
    }
    // Let the server settle (freed handshake buffers, idle timers armed).
    tokio::time::sleep(Duration::from_millis(500)).await;
    if let Some(path) = &args.ready_file {
        std::fs::write(path, format!("{}\n", held.len()))
            .map_err(|e| format!("{}: {e}", path.display()))?;
    }
    tokio::time::sleep(hold).await;
    let still_open = held
        .iter()
        .filter(|c| !matches!(c, Conn::H1(s) if s.is_closed()))
        .count();
    let held_sample = procstat::sample(&args.server_pids, ticks);
    drop(held);
    let elapsed = start.elapsed();
    let report = Report {
        mode: Mode::Idle,
        args,
        elapsed,
        stats: &stats,
        setup: &Stats::default(),
        server: (!args.server_pids.is_empty()).then_some((before, held_sample)),
        idle: Some(IdleResult {
            requested: connections,
            opened: still_open,
            before,
            held: held_sample,
            hold,
        }),
    };
    report.print(args.json);
    Ok(still_open > 0)
}

struct Report<'a> {
    mode: Mode,
    args: &'a LoadArgs,
    elapsed: Duration,
    stats: &'a Stats,
    setup: &'a Stats,
    server: Option<(Sample, Sample)>,
    idle: Option<IdleResult>,
}

fn round(x: f64, digits: i32) -> f64 {
    let f = 10f64.powi(digits);
    (x * f).round() / f
}

impl Report<'_> {
    fn json(&self) -> serde_json::Value {
        let s = self.stats;
        let secs = self.elapsed.as_secs_f64();
        let h = &s.latency_us;
        let pct = |q: f64| if s.ok > 0 { h.value_at_quantile(q) } else { 0 };
        let handshakes = s.full_handshakes + s.resumed_handshakes;
        let mut v = json!({
            "label": self.args.label,
            "mode": self.mode.name(),
            "url": self.args.url,
            "http": if self.args.http2 { "h2" } else { "http/1.1" },
            "kx": format!("{:?}", self.args.kx).to_lowercase(),
            "connections": self.args.connections,
            "streams": if self.args.http2 { self.args.streams } else { 1 },
            "rate": self.args.rate,
            "elapsed_s": round(secs, 3),
            "requests_ok": s.ok,
            "requests_per_s": round(s.ok as f64 / secs, 1),
            "errors": s.error_count(),
            "errors_by_kind": s.errors,
            "latency_us": {
                "p50": pct(0.5), "p90": pct(0.9), "p99": pct(0.99), "p999": pct(0.999),
                "max": if s.ok > 0 { h.max() } else { 0 }, "mean": round(if s.ok > 0 { h.mean() } else { 0.0 }, 1),
            },
            "handshakes": {
                "full": s.full_handshakes, "resumed": s.resumed_handshakes,
                "hello_retry": s.retried_handshakes,
                "per_s": round(handshakes as f64 / secs, 1),
                "tls_versions": s.tls_versions,
            },
            "setup": {
                "requests_ok": self.setup.ok, "errors_by_kind": self.setup.errors,
                "full_handshakes": self.setup.full_handshakes,
                "resumed_handshakes": self.setup.resumed_handshakes,
            },
        });
        if let Some((before, after)) = &self.server {
            let cpu = (after.cpu_s - before.cpu_s).max(0.0);
            v["server"] = json!({
                "pids": self.args.server_pids,
                "cpu_s": round(cpu, 3),
                "cpu_utilisation": round(cpu / secs, 3),
                "cpu_s_per_10k_requests": if s.ok > 0 { round(cpu * 10_000.0 / s.ok as f64, 4) } else { 0.0 },
                "cpu_us_per_handshake": if handshakes > 0 && self.mode != Mode::Keepalive { round(cpu * 1e6 / handshakes as f64, 1) } else { 0.0 },
                "rss_kib": after.rss_kib,
                "pss_kib": after.pss_kib,
                "peak_rss_kib": after.hwm_kib,
            });
        }
        if let Some(idle) = &self.idle {
            let per = |a: u64, b: u64| {
                if idle.opened > 0 {
                    round((a as f64 - b as f64) / idle.opened as f64, 2)
                } else {
                    0.0
                }
            };
            v["idle"] = json!({
                "requested": idle.requested,
                "held": idle.opened,
                "hold_s": idle.hold.as_secs_f64(),
                "rss_before_kib": idle.before.rss_kib,
                "rss_held_kib": idle.held.rss_kib,
                "rss_per_connection_kib": per(idle.held.rss_kib, idle.before.rss_kib),
                "pss_per_connection_kib": per(idle.held.pss_kib, idle.before.pss_kib),
            });
        }
        v
    }

    fn print(&self, as_json: bool) {
        let v = self.json();
        if as_json {
            println!("{v}");
            return;
        }
        let s = self.stats;
        let a = self.args;
        println!(
            "mtls-bench {} {}  {}  connections {}{}  {:.2} s  kx {}",
            self.mode.name(),
            a.url,
            v["http"].as_str().unwrap_or(""),
            a.connections,
            a.rate.map(|r| format!("  rate {r}/s")).unwrap_or_default(),
            self.elapsed.as_secs_f64(),
            v["kx"].as_str().unwrap_or(""),
        );
        println!(
            "  requests     {:>10} ok  {:>10.1} /s   errors {}",
            s.ok,
            s.ok as f64 / self.elapsed.as_secs_f64(),
            s.error_count()
        );
        for (kind, n) in &s.errors {
            println!("    {n:>8}  {kind}");
        }
        let l = &v["latency_us"];
        println!(
            "  latency µs   p50 {}  p90 {}  p99 {}  p99.9 {}  max {}",
            l["p50"], l["p90"], l["p99"], l["p999"], l["max"]
        );
        let hs = &v["handshakes"];
        println!(
            "  handshakes   full {}  resumed {}  hello-retry {}  ({}/s)  {}",
            hs["full"], hs["resumed"], hs["hello_retry"], hs["per_s"], hs["tls_versions"]
        );
        if let Some(sv) = v.get("server") {
            println!(
                "  server       cpu {} s ({} of a core)  {} s per 10k requests  {} µs per handshake",
                sv["cpu_s"],
                sv["cpu_utilisation"],
                sv["cpu_s_per_10k_requests"],
                sv["cpu_us_per_handshake"]
            );
            println!(
                "               rss {} KiB  pss {} KiB  peak rss {} KiB",
                sv["rss_kib"], sv["pss_kib"], sv["peak_rss_kib"]
            );
        }
        if let Some(i) = v.get("idle") {
            println!(
                "  idle         held {} of {} for {} s   rss {} -> {} KiB: {} KiB per connection (pss {} KiB)",
                i["held"],
                i["requested"],
                i["hold_s"],
                i["rss_before_kib"],
                i["rss_held_kib"],
                i["rss_per_connection_kib"],
                i["pss_per_connection_kib"]
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        assert!(parse_duration("0s").is_err() && parse_duration("x").is_err());
    }

    #[tokio::test]
    async fn remote_targets_are_refused() {
        let args = Cli::parse_from(["mtls-bench", "handshake", "https://192.0.2.1:443/"]);
        let Command::Handshake(a) = args.command else {
            unreachable!()
        };
        assert!(target(&a).await.unwrap_err().contains("loopback"));
        let args = Cli::parse_from(["mtls-bench", "handshake", "https://127.0.0.1:3443/api/mtls"]);
        let Command::Handshake(a) = args.command else {
            unreachable!()
        };
        let t = target(&a).await.unwrap();
        assert_eq!(t.path, "/api/mtls");
        assert_eq!(t.authority, "127.0.0.1:3443");
    }
}
