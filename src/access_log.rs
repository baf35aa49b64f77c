//! The access log: one line per request, written when the response body
//! has been sent (or the client went away), in JSON or nginx's `combined`
//! format with the TLS and identity fields appended.
//!
//! The file is reopened on SIGUSR1 (logrotate's `postrotate`), and re-read
//! from the configuration on every reload.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use prometheus_client::metrics::counter::Counter;

use crate::config::{AccessLog, AccessLogFormat};

/// Lines queued for the writer thread at most. Past it (or past
/// [`QUEUE_BYTES`]) a line is dropped and counted
/// (`access_log_dropped_lines`) rather than making the request wait on the
/// disk: a stalled or slow log disk must not stall the gateway. 16384 lines
/// hold about half a second of a busy server's lines (~30k requests/s).
const QUEUE_LINES: usize = 16384;
/// Bytes of queued lines at most: what a stalled disk can make the process
/// hold (a line quotes request headers, so its length is the client's
/// choice up to the header limits).
const QUEUE_BYTES: usize = 4 * 1024 * 1024;
/// After writing a batch the writer waits this long before the next one,
/// so that a busy server's lines go out in one `write(2)` per interval
/// instead of one per request, and requests do not wake the writer each
/// time. It is also the most a line waits before it is written.
const BATCH_PAUSE: Duration = Duration::from_millis(5);
/// A batch is written once it holds this much, even mid-drain.
const BATCH_BYTES: usize = 64 * 1024;
/// Least interval between two warnings about dropped lines, or about failed writes.
const WARN_INTERVAL: Duration = Duration::from_secs(10);
/// How long the exit waits for the writer to write what is queued.
pub const FINISH_TIMEOUT: Duration = Duration::from_secs(2);

/// What the request path reads (one atomic): no lines, or lines in a format.
const MODE_OFF: u8 = 0;
const MODE_JSON: u8 = 1;
const MODE_COMBINED: u8 = 2;

/// Where the writer thread writes.
enum Sink {
    Off,
    Stdout,
    Stderr,
    File { path: PathBuf, file: File },
}

/// What the request path and the control calls send to the writer thread.
enum Msg {
    Line(String),
    /// Look at `Control` (a new sink, a reopen request).
    Wake,
    /// Write out everything queued before this, then answer.
    Finish(mpsc::Sender<()>),
}

/// What the control calls (configure, reopen) hand the writer; never
/// touched on the request path.
#[derive(Default)]
struct Control {
    /// A sink to switch to before the next write.
    pending: Mutex<Option<Sink>>,
    /// Reopen the file (logrotate moved it).
    reopen: AtomicBool,
    /// The file configured now (a reload naming the same file keeps it open).
    current: Mutex<Option<PathBuf>>,
}

/// Where lines go and how they look; shared by every connection.
///
/// The request path formats its line and hands it to a writer thread
/// through a bounded queue, without a lock or a system call (see
/// [`QUEUE_LINES`] for a full queue). The writer writes in batches of
/// whatever has queued up, one `write(2)` each.
pub struct AccessLogger {
    mode: AtomicU8,
    queue: SyncSender<Msg>,
    /// Bytes of the lines in the queue (shared with the writer).
    queued: Arc<AtomicUsize>,
    control: Arc<Control>,
    dropped: Counter,
    /// When the logger was made; `next_warning` counts from it.
    born: Instant,
    /// Milliseconds after `born` before which no warning about dropped
    /// lines is logged again.
    next_warning: AtomicU64,
}

impl std::fmt::Debug for AccessLogger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AccessLogger")
    }
}

/// The access-log file cannot be opened for appending.
#[derive(Debug, thiserror::Error)]
pub enum AccessLogError {
    #[error("access_log: cannot open {}: {source}", .path.display())]
    Open {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("access_log: cannot start the writer thread: {0}")]
    Thread(std::io::Error),
}

fn open(path: &PathBuf) -> std::io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A poisoned lock only means a control call panicked; the data is whole.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl AccessLogger {
    /// A logger for `target`, with its writer thread; `dropped` counts the
    /// lines a full queue refused.
    ///
    /// # Errors
    /// The file cannot be opened for appending, or the thread not started.
    pub fn new(
        target: &AccessLog,
        format: AccessLogFormat,
        dropped: Counter,
    ) -> Result<AccessLogger, AccessLogError> {
        let (queue, rx) = mpsc::sync_channel(QUEUE_LINES);
        let control = Arc::new(Control::default());
        let queued = Arc::new(AtomicUsize::new(0));
        let writer = Writer {
            rx,
            queued: queued.clone(),
            control: control.clone(),
            sink: Sink::Off,
            batch: Vec::with_capacity(BATCH_BYTES),
            last_warning: None,
        };
        std::thread::Builder::new()
            .name("access-log".into())
            .spawn(move || writer.run())
            .map_err(AccessLogError::Thread)?;
        let logger = AccessLogger {
            mode: AtomicU8::new(MODE_OFF),
            queue,
            queued,
            control,
            dropped,
            born: Instant::now(),
            next_warning: AtomicU64::new(0),
        };
        logger.configure(target, format)?;
        Ok(logger)
    }

    /// Applies a (re)loaded configuration.
    ///
    /// # Errors
    /// The file cannot be opened; the previous target stays in use.
    pub fn configure(
        &self,
        target: &AccessLog,
        format: AccessLogFormat,
    ) -> Result<(), AccessLogError> {
        let mut current = lock(&self.control.current);
        let sink = match target {
            AccessLog::Off => Some(Sink::Off),
            AccessLog::Stdout => Some(Sink::Stdout),
            AccessLog::Stderr => Some(Sink::Stderr),
            AccessLog::File(path) if current.as_ref() == Some(path) => None,
            AccessLog::File(path) => Some(Sink::File {
                path: path.clone(),
                file: open(path).map_err(|source| AccessLogError::Open {
                    path: path.clone(),
                    source,
                })?,
            }),
        };
        if let Some(sink) = sink {
            *current = match target {
                AccessLog::File(path) => Some(path.clone()),
                _ => None,
            };
            *lock(&self.control.pending) = Some(sink);
            self.wake();
        }
        let mode = match (target, format) {
            (AccessLog::Off, _) => MODE_OFF,
            (_, AccessLogFormat::Json) => MODE_JSON,
            (_, AccessLogFormat::Combined) => MODE_COMBINED,
        };
        self.mode.store(mode, Ordering::Relaxed);
        Ok(())
    }

    /// Reopens the log file (after logrotate moved it); the writer thread
    /// does it before its next write.
    pub fn reopen(&self) {
        self.control.reopen.store(true, Ordering::Release);
        self.wake();
    }

    /// Wakes the writer to look at `Control`; if the queue is full it is
    /// awake anyway and looks before its next write.
    fn wake(&self) {
        let _ = self.queue.try_send(Msg::Wake);
    }

    /// Whether lines are written at all (`access_log = "off"` skips building them).
    pub fn enabled(&self) -> bool {
        self.mode.load(Ordering::Relaxed) != MODE_OFF
    }

    /// Lines dropped so far because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.get()
    }

    /// Queues the line of `record`: never blocks (a full queue drops it).
    pub fn write(&self, record: &Record) {
        let mut line = match self.mode.load(Ordering::Relaxed) {
            MODE_JSON => record.json(),
            MODE_COMBINED => record.combined(),
            _ => return,
        };
        line.push('\n');
        let len = line.len();
        if self.queued.fetch_add(len, Ordering::Relaxed) + len > QUEUE_BYTES {
            self.queued.fetch_sub(len, Ordering::Relaxed);
            self.count_drop();
            return;
        }
        match self.queue.try_send(Msg::Line(line)) {
            Ok(()) => {}
            Err(TrySendError::Disconnected(_)) => {
                self.queued.fetch_sub(len, Ordering::Relaxed);
            }
            Err(TrySendError::Full(_)) => {
                self.queued.fetch_sub(len, Ordering::Relaxed);
                self.count_drop();
            }
        }
    }

    /// Counts a dropped line, and says so in the error log at most once per
    /// [`WARN_INTERVAL`] (here: the writer may be stuck in a write).
    fn count_drop(&self) {
        let total = self.dropped.inc().saturating_add(1);
        let now = u64::try_from(self.born.elapsed().as_millis()).unwrap_or(u64::MAX);
        let next = self.next_warning.load(Ordering::Relaxed);
        let interval = u64::try_from(WARN_INTERVAL.as_millis()).unwrap_or(u64::MAX);
        if now >= next
            && self
                .next_warning
                .compare_exchange(
                    next,
                    now.saturating_add(interval),
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                )
                .is_ok()
        {
            tracing::warn!(
                total,
                "access log lines dropped: the log is written slower than requests come (its queue is full)"
            );
        }
    }

    /// Waits (up to `timeout`) until the writer has written every line
    /// queued so far; for the exit.
    pub fn finish(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        let (done_tx, done_rx) = mpsc::channel();
        let mut msg = Msg::Finish(done_tx);
        loop {
            match self.queue.try_send(msg) {
                Ok(()) => break,
                Err(TrySendError::Disconnected(_)) => return,
                Err(TrySendError::Full(m)) => {
                    if Instant::now() >= deadline {
                        return;
                    }
                    msg = m;
                    std::thread::sleep(BATCH_PAUSE);
                }
            }
        }
        let _ = done_rx.recv_timeout(deadline.saturating_duration_since(Instant::now()));
    }
}

/// The writer thread's side.
struct Writer {
    rx: Receiver<Msg>,
    queued: Arc<AtomicUsize>,
    control: Arc<Control>,
    sink: Sink,
    batch: Vec<u8>,
    last_warning: Option<Instant>,
}

impl Writer {
    /// Until every sender is gone: wait for a line, take whatever else has
    /// queued, write it in one go, pause.
    fn run(mut self) {
        while let Ok(first) = self.rx.recv() {
            let mut finished = Vec::new();
            let mut next = Some(first);
            while let Some(msg) = next {
                match msg {
                    Msg::Line(line) => {
                        self.queued.fetch_sub(line.len(), Ordering::Relaxed);
                        self.batch.extend_from_slice(line.as_bytes());
                        if self.batch.len() >= BATCH_BYTES {
                            self.flush();
                        }
                    }
                    Msg::Wake => self.apply_control(),
                    Msg::Finish(done) => finished.push(done),
                }
                next = self.rx.try_recv().ok();
            }
            self.apply_control();
            self.flush();
            for done in finished {
                let _ = done.send(());
            }
            std::thread::sleep(BATCH_PAUSE);
        }
        self.flush();
    }

    /// Switches to a newly configured sink or reopens the file; lines
    /// batched so far go to the old one first.
    fn apply_control(&mut self) {
        let pending = lock(&self.control.pending).take();
        let reopen = self.control.reopen.swap(false, Ordering::AcqRel);
        if pending.is_none() && !reopen {
            return;
        }
        self.flush();
        if let Some(sink) = pending {
            self.sink = sink;
        }
        if reopen && let Sink::File { path, file } = &mut self.sink {
            match open(path) {
                Ok(f) => {
                    *file = f;
                    tracing::info!(file = %path.display(), "access log reopened");
                }
                Err(e) => {
                    tracing::error!(file = %path.display(), error = %e, "cannot reopen the access log; still writing to the old file")
                }
            }
        }
    }

    fn flush(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        let result = match &mut self.sink {
            Sink::Off => Ok(()),
            Sink::Stdout => {
                let mut out = std::io::stdout().lock();
                out.write_all(&self.batch).and_then(|()| out.flush())
            }
            Sink::Stderr => std::io::stderr().lock().write_all(&self.batch),
            Sink::File { file, .. } => file.write_all(&self.batch),
        };
        self.batch.clear();
        if let Err(e) = result
            && self.may_warn()
        {
            tracing::warn!(error = %e, "access log write failed");
        }
    }

    fn may_warn(&mut self) -> bool {
        let now = Instant::now();
        if self.last_warning.is_some_and(|t| now < t + WARN_INTERVAL) {
            return false;
        }
        self.last_warning = Some(now);
        true
    }
}

/// What one request's line says.
#[derive(Debug, Clone, Default)]
pub struct Record {
    pub time: Option<SystemTime>,
    pub client: Option<SocketAddr>,
    pub server: String,
    pub host: String,
    pub method: String,
    pub target: String,
    pub protocol: &'static str,
    pub status: u16,
    pub bytes: u64,
    pub request_time: Duration,
    pub upstream_addr: Option<std::sync::Arc<str>>,
    pub upstream_time: Option<Duration>,
    pub tls_version: &'static str,
    pub resumed: bool,
    pub verify: String,
    pub subject_dn: String,
    pub serial: String,
    pub fingerprint: String,
    pub user_agent: String,
    pub referer: String,
    /// The access-policy decision, on a location with a policy:
    /// `server[0]/location /admin: denied: no allow rule matched`.
    pub policy: Option<String>,
}

fn rfc3339(t: SystemTime) -> String {
    time::OffsetDateTime::from(t)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

fn push_clf_time(out: &mut String, t: SystemTime) {
    let fmt = time::macros::format_description!(
        "[day]/[month repr:short]/[year]:[hour]:[minute]:[second] +0000"
    );
    // Writing to a String cannot fail; a date out of range writes nothing.
    let _ = time::OffsetDateTime::from(t).format_into(&mut StringWriter(out), &fmt);
}

/// `io::Write` into a String, for `time`'s `format_into` (it writes UTF-8).
struct StringWriter<'a>(&'a mut String);

impl std::io::Write for StringWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.push_str(&String::from_utf8_lossy(buf));
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// nginx-style escaping for the combined format: `"` and `\` and control
/// bytes as `\xHH`.
fn push_escaped(out: &mut String, s: &str) {
    use std::fmt::Write as _;
    for b in s.bytes() {
        match b {
            b'"' | b'\\' | 0..=0x1f | 0x7f.. => {
                let _ = write!(out, "\\x{b:02X}");
            }
            _ => out.push(char::from(b)),
        }
    }
}

/// `,"key":"value"` with `value` escaped as JSON requires (`"`, `\\` and
/// control characters; everything else, UTF-8 included, as it is).
fn push_json_field(out: &mut String, key: &str, value: &str) {
    out.push_str(",\"");
    out.push_str(key);
    out.push_str("\":\"");
    let mut rest = value;
    while let Some(i) = rest
        .bytes()
        .position(|b| b == b'"' || b == b'\\' || b < 0x20)
    {
        out.push_str(&rest[..i]);
        match rest.as_bytes()[i] {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            b => {
                use std::fmt::Write as _;
                let _ = write!(out, "\\u{b:04x}");
            }
        }
        // The byte at i is ASCII, so i + 1 is a character boundary.
        rest = &rest[i + 1..];
    }
    out.push_str(rest);
    out.push('"');
}

/// Seconds as a JSON number with the nanoseconds exact, trailing zeros
/// trimmed (`0.0`, `0.0125`, `2.000000001`); integer formatting, which
/// costs a fraction of a float's.
fn push_json_seconds(out: &mut String, d: Duration) {
    use std::fmt::Write as _;
    let _ = write!(out, "{}.{:09}", d.as_secs(), d.subsec_nanos());
    let trimmed = out.trim_end_matches('0').len();
    // Keep one digit after the point.
    let keep = if out[..trimmed].ends_with('.') {
        trimmed + 1
    } else {
        trimmed
    };
    out.truncate(keep);
}

/// Seconds with milliseconds, truncated as nginx prints `$request_time`
/// (`0.013`).
fn push_millis(out: &mut String, d: Duration) {
    use std::fmt::Write as _;
    let _ = write!(out, "{}.{:03}", d.as_secs(), d.subsec_millis());
}

/// `s`, or `-` when it is empty.
fn dash(s: &str) -> &str {
    if s.is_empty() { "-" } else { s }
}

impl Record {
    /// `len` more bytes of the response body were sent.
    pub fn count_bytes(&mut self, len: usize) {
        self.bytes = self
            .bytes
            .saturating_add(u64::try_from(len).unwrap_or(u64::MAX));
    }

    /// The JSON line (keys in the documented order), written by hand:
    /// serde_json's string escaping was most of its cost.
    fn json(&self) -> String {
        use std::fmt::Write as _;
        let mut out = String::with_capacity(512);
        out.push_str("{\"time\":\"");
        if let Some(t) = self.time {
            out.push_str(&rfc3339(t));
        }
        out.push_str("\",\"client\":\"");
        if let Some(c) = self.client {
            let _ = write!(out, "{}", c.ip());
        }
        let _ = write!(
            out,
            "\",\"client_port\":{}",
            self.client.map(|c| c.port()).unwrap_or_default()
        );
        for (key, value) in [
            ("server", self.server.as_str()),
            ("host", &self.host),
            ("method", &self.method),
            ("path", &self.target),
            ("protocol", self.protocol),
        ] {
            push_json_field(&mut out, key, value);
        }
        let _ = write!(
            out,
            ",\"status\":{},\"bytes\":{},\"request_time\":",
            self.status, self.bytes
        );
        push_json_seconds(&mut out, self.request_time);
        push_json_field(&mut out, "tls_version", self.tls_version);
        out.push_str(if self.resumed {
            ",\"tls_resumed\":true"
        } else {
            ",\"tls_resumed\":false"
        });
        for (key, value) in [
            ("verify", self.verify.as_str()),
            ("subject_dn", &self.subject_dn),
            ("serial", &self.serial),
            ("fingerprint", &self.fingerprint),
            ("user_agent", &self.user_agent),
            ("referer", &self.referer),
        ] {
            push_json_field(&mut out, key, value);
        }
        if let Some(addr) = &self.upstream_addr {
            push_json_field(&mut out, "upstream_addr", addr);
        }
        if let Some(t) = self.upstream_time {
            out.push_str(",\"upstream_time\":");
            push_json_seconds(&mut out, t);
        }
        if let Some(policy) = &self.policy {
            push_json_field(&mut out, "policy", policy);
        }
        out.push('}');
        out
    }

    fn combined(&self) -> String {
        use std::fmt::Write as _;
        let mut out = String::with_capacity(256);
        match self.client {
            Some(c) => {
                let _ = write!(out, "{}", c.ip());
            }
            None => out.push('-'),
        }
        out.push_str(" - - [");
        if let Some(t) = self.time {
            push_clf_time(&mut out, t);
        }
        out.push_str("] \"");
        push_escaped(&mut out, &self.method);
        out.push(' ');
        push_escaped(&mut out, &self.target);
        out.push(' ');
        push_escaped(&mut out, self.protocol);
        let _ = write!(out, "\" {} {} \"", self.status, self.bytes);
        push_escaped(&mut out, dash(&self.referer));
        out.push_str("\" \"");
        push_escaped(&mut out, dash(&self.user_agent));
        out.push_str("\" rt=");
        push_millis(&mut out, self.request_time);
        out.push_str(" uct=");
        match self.upstream_time {
            Some(t) => push_millis(&mut out, t),
            None => out.push('-'),
        }
        out.push_str(" ua=");
        out.push_str(dash(self.upstream_addr.as_deref().unwrap_or("")));
        out.push_str(" tls=");
        out.push_str(self.tls_version);
        out.push_str(if self.resumed {
            " reused=r"
        } else {
            " reused=."
        });
        out.push_str(" verify=\"");
        push_escaped(&mut out, &self.verify);
        out.push_str("\" dn=\"");
        push_escaped(&mut out, dash(&self.subject_dn));
        out.push_str("\" serial=");
        out.push_str(dash(&self.serial));
        out.push_str(" fp=");
        out.push_str(dash(&self.fingerprint));
        if let Some(policy) = &self.policy {
            out.push_str(" policy=\"");
            push_escaped(&mut out, policy);
            out.push('"');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn combined_line_quotes_hostile_values() {
        let r = Record {
            method: "GET".into(),
            target: "/a\"b".into(),
            protocol: "HTTP/1.1",
            status: 200,
            user_agent: "x\ny".into(),
            verify: "SUCCESS".into(),
            subject_dn: "CN=a\\,b".into(),
            ..Record::default()
        };
        let line = r.combined();
        assert!(
            line.contains(r#""GET /a\x22b HTTP/1.1" 200 0 "-" "x\x0Ay""#),
            "{line}"
        );
        assert!(line.contains(r#"dn="CN=a\x5C,b""#), "{line}");
        assert!(line.contains(" rt=0.000 uct=- "), "{line}");
        let r = Record {
            request_time: Duration::from_micros(1_999_999),
            upstream_time: Some(Duration::from_millis(12)),
            ..r
        };
        // Truncated to milliseconds, as nginx prints $request_time.
        assert!(
            r.combined().contains(" rt=1.999 uct=0.012 "),
            "{}",
            r.combined()
        );
        assert!(!line.contains('\n'));
    }

    /// The JSON line's fields, in their order.
    #[derive(serde::Serialize)]
    struct JsonLine<'a> {
        time: String,
        client: String,
        client_port: u16,
        server: &'a str,
        host: &'a str,
        method: &'a str,
        path: &'a str,
        protocol: &'a str,
        status: u16,
        bytes: u64,
        request_time: f64,
        tls_version: &'a str,
        tls_resumed: bool,
        verify: &'a str,
        subject_dn: &'a str,
        serial: &'a str,
        fingerprint: &'a str,
        user_agent: &'a str,
        referer: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        upstream_addr: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        upstream_time: Option<f64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        policy: Option<&'a str>,
    }

    /// The hand-written JSON line says what serde_json says for the same
    /// fields, hostile strings included.
    #[test]
    fn json_line_matches_serde_json() {
        let hostile = "q\"b\\s\u{0}\u{1f}\n\r\t\u{7f} é ✓ </script>";
        for (upstream, resumed) in [(false, false), (true, true)] {
            let r = Record {
                time: Some(SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_123)),
                client: Some("[::1]:4433".parse().unwrap()),
                server: "server[0]".into(),
                host: hostile.into(),
                method: "GET".into(),
                target: format!("/a?{hostile}"),
                protocol: "HTTP/1.1",
                status: 502,
                bytes: 12345,
                request_time: Duration::from_nanos(1_500_000_001),
                upstream_addr: upstream.then(|| Arc::from("127.0.0.1:8080")),
                upstream_time: upstream.then(|| Duration::from_secs(2)),
                tls_version: "TLSv1.3",
                resumed,
                verify: "FAILED:certificate has expired".into(),
                subject_dn: format!("CN={hostile}"),
                serial: "0A1B".into(),
                fingerprint: "ab".repeat(20),
                user_agent: hostile.into(),
                referer: String::new(),
                policy: upstream.then(|| format!("server[0]/location /: denied: {hostile}")),
            };
            let expected = serde_json::to_value(JsonLine {
                time: r.time.map(rfc3339).unwrap_or_default(),
                client: r.client.map(|c| c.ip().to_string()).unwrap_or_default(),
                client_port: r.client.map(|c| c.port()).unwrap_or_default(),
                server: &r.server,
                host: &r.host,
                method: &r.method,
                path: &r.target,
                protocol: r.protocol,
                status: r.status,
                bytes: r.bytes,
                request_time: r.request_time.as_secs_f64(),
                tls_version: r.tls_version,
                tls_resumed: r.resumed,
                verify: &r.verify,
                subject_dn: &r.subject_dn,
                serial: &r.serial,
                fingerprint: &r.fingerprint,
                user_agent: &r.user_agent,
                referer: &r.referer,
                upstream_addr: r.upstream_addr.as_deref(),
                upstream_time: r.upstream_time.map(|t| t.as_secs_f64()),
                policy: r.policy.as_deref(),
            })
            .unwrap();
            let line = r.json();
            let got: serde_json::Value = serde_json::from_str(&line).unwrap();
            assert_eq!(got, expected, "{line}");
            assert!(!line.contains('\n'));
            let keys: Vec<&str> = line
                .split(",\"")
                .skip(1)
                .map(|part| part.split('"').next().unwrap())
                .collect();
            assert_eq!(&keys[..3], ["client", "client_port", "server"], "{line}");
        }
    }

    #[test]
    fn json_line_is_valid_json() {
        let r = Record {
            subject_dn: "CN=\"q\"".into(),
            upstream_time: Some(Duration::from_millis(5)),
            ..Record::default()
        };
        let v: serde_json::Value = serde_json::from_str(&r.json()).unwrap();
        assert_eq!(v["subject_dn"], "CN=\"q\"");
        assert_eq!(v["upstream_time"], 0.005);
    }
}
