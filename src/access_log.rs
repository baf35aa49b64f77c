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
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};

use crate::body::{Body, BoxError};
use crate::config::{AccessLog, AccessLogFormat};

enum Sink {
    Off,
    Stdout,
    Stderr,
    File { path: PathBuf, file: File },
}

/// Where lines go and how they look; shared by every connection.
pub struct AccessLogger {
    state: Mutex<(Sink, AccessLogFormat)>,
}

impl std::fmt::Debug for AccessLogger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AccessLogger")
    }
}

/// The access-log file cannot be opened for appending.
#[derive(Debug, thiserror::Error)]
#[error("access_log: cannot open {}: {source}", .path.display())]
pub struct AccessLogError {
    pub path: PathBuf,
    pub source: std::io::Error,
}

fn open(path: &PathBuf) -> std::io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

impl AccessLogger {
    /// A logger for `target`.
    ///
    /// # Errors
    /// The file cannot be opened for appending.
    pub fn new(
        target: &AccessLog,
        format: AccessLogFormat,
    ) -> Result<AccessLogger, AccessLogError> {
        let logger = AccessLogger {
            state: Mutex::new((Sink::Off, format)),
        };
        logger.configure(target, format)?;
        Ok(logger)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (Sink, AccessLogFormat)> {
        // A poisoned lock only means a log line was lost.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
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
        let sink = match target {
            AccessLog::Off => Sink::Off,
            AccessLog::Stdout => Sink::Stdout,
            AccessLog::Stderr => Sink::Stderr,
            AccessLog::File(path) => {
                let mut state = self.lock();
                if let Sink::File { path: current, .. } = &state.0
                    && current == path
                {
                    state.1 = format;
                    return Ok(());
                }
                drop(state);
                let file = open(path).map_err(|source| AccessLogError {
                    path: path.clone(),
                    source,
                })?;
                Sink::File {
                    path: path.clone(),
                    file,
                }
            }
        };
        *self.lock() = (sink, format);
        Ok(())
    }

    /// Reopens the log file (after logrotate moved it).
    pub fn reopen(&self) {
        let mut state = self.lock();
        if let Sink::File { path, file } = &mut state.0 {
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

    /// Whether lines are written at all (`access_log = "off"` skips building them).
    pub fn enabled(&self) -> bool {
        !matches!(self.lock().0, Sink::Off)
    }

    fn write(&self, record: &Record) {
        let mut state = self.lock();
        if matches!(state.0, Sink::Off) {
            return;
        }
        let line = match state.1 {
            AccessLogFormat::Json => record.json(),
            AccessLogFormat::Combined => record.combined(),
        };
        let result = match &mut state.0 {
            Sink::Off => return,
            Sink::Stdout => writeln!(std::io::stdout(), "{line}"),
            Sink::Stderr => writeln!(std::io::stderr(), "{line}"),
            Sink::File { file, .. } => writeln!(file, "{line}"),
        };
        if let Err(e) = result {
            tracing::warn!(error = %e, "access log write failed");
        }
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

fn clf_time(t: SystemTime) -> String {
    let fmt = time::macros::format_description!(
        "[day]/[month repr:short]/[year]:[hour]:[minute]:[second] +0000"
    );
    time::OffsetDateTime::from(t)
        .format(&fmt)
        .unwrap_or_default()
}

/// nginx-style quoting for the combined format: `"` and `\` and control
/// bytes as `\xHH`.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for b in s.bytes() {
        match b {
            b'"' | b'\\' | 0..=0x1f | 0x7f.. => out.push_str(&format!("\\x{b:02X}")),
            _ => out.push(char::from(b)),
        }
    }
    out.push('"');
    out
}

impl Record {
    fn json(&self) -> String {
        let mut v = serde_json::json!({
            "time": self.time.map(rfc3339).unwrap_or_default(),
            "client": self.client.map(|c| c.ip().to_string()).unwrap_or_default(),
            "client_port": self.client.map(|c| c.port()).unwrap_or_default(),
            "server": self.server,
            "host": self.host,
            "method": self.method,
            "path": self.target,
            "protocol": self.protocol,
            "status": self.status,
            "bytes": self.bytes,
            "request_time": self.request_time.as_secs_f64(),
            "tls_version": self.tls_version,
            "tls_resumed": self.resumed,
            "verify": self.verify,
            "subject_dn": self.subject_dn,
            "serial": self.serial,
            "fingerprint": self.fingerprint,
            "user_agent": self.user_agent,
            "referer": self.referer,
        });
        if let Some(addr) = &self.upstream_addr {
            v["upstream_addr"] = serde_json::Value::from(&**addr);
        }
        if let Some(t) = self.upstream_time {
            v["upstream_time"] = serde_json::Value::from(t.as_secs_f64());
        }
        if let Some(policy) = &self.policy {
            v["policy"] = serde_json::Value::from(policy.as_str());
        }
        v.to_string()
    }

    fn combined(&self) -> String {
        let dash = |s: &str| {
            if s.is_empty() {
                "-".to_string()
            } else {
                s.to_string()
            }
        };
        let mut line = format!(
            "{} - - [{}] {} {} {} {} {} rt={:.3} uct={} ua={} tls={} reused={} verify={} dn={} serial={} fp={}",
            self.client
                .map(|c| c.ip().to_string())
                .unwrap_or_else(|| "-".into()),
            self.time.map(clf_time).unwrap_or_default(),
            quote(&format!(
                "{} {} {}",
                self.method, self.target, self.protocol
            )),
            self.status,
            self.bytes,
            quote(&dash(&self.referer)),
            quote(&dash(&self.user_agent)),
            self.request_time.as_secs_f64(),
            self.upstream_time
                .map_or("-".to_string(), |t| format!("{:.3}", t.as_secs_f64())),
            dash(self.upstream_addr.as_deref().unwrap_or("")),
            self.tls_version,
            if self.resumed { "r" } else { "." },
            quote(&self.verify),
            quote(&dash(&self.subject_dn)),
            dash(&self.serial),
            dash(&self.fingerprint),
        );
        if let Some(policy) = &self.policy {
            line.push_str(" policy=");
            line.push_str(&quote(policy));
        }
        line
    }
}

pin_project_lite::pin_project! {
    /// A response body that counts what it sends and writes the access-log
    /// line when it ends or is dropped.
    pub struct LoggedBody {
        #[pin]
        inner: Body,
        record: Option<Record>,
        started: Instant,
        logger: Arc<AccessLogger>,
    }

    impl PinnedDrop for LoggedBody {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if let Some(mut record) = this.record.take() {
                record.request_time = this.started.elapsed();
                this.logger.write(&record);
            }
        }
    }
}

impl LoggedBody {
    pub fn new(
        inner: Body,
        record: Record,
        started: Instant,
        logger: Arc<AccessLogger>,
    ) -> LoggedBody {
        LoggedBody {
            inner,
            record: Some(record),
            started,
            logger,
        }
    }
}

impl HttpBody for LoggedBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.project();
        let frame = this.inner.poll_frame(cx);
        if let Poll::Ready(Some(Ok(f))) = &frame
            && let (Some(data), Some(record)) = (f.data_ref(), this.record.as_mut())
        {
            record.bytes = record
                .bytes
                .saturating_add(u64::try_from(data.len()).unwrap_or(u64::MAX));
        }
        frame
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
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
        assert!(!line.contains('\n'));
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
