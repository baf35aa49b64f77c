//! `echo-backend`: the plain-HTTP upstream used by the README demo and by the
//! integration tests of `mtls-gateway`.
//!
//! It answers every request with a text report of exactly what it received:
//! the request line and every header line as raw bytes, in the order, letter
//! case and multiplicity in which the proxy sent them, followed by the size and
//! SHA-256 of the request body. That is how a test sees which identity headers
//! (`X-SSL-Client-DN`, `X-SSL-Client-Verify`, ...) the gateway forwarded and
//! whether it stripped spoofed ones. For that reason it is written directly on
//! tokio TCP sockets instead of an HTTP library, which would normalise headers.
//!
//! Query parameters anywhere in the request target select other behaviours
//! that the proxy's tests need (streaming, large bodies, slow or broken
//! upstreams); see `--help` or [`Behaviour`].
//!
//! It is a test tool, not a production server: no TLS, no timeouts on idle
//! keep-alive connections, every request body is read but never stored whole.

#![forbid(unsafe_code)]

use std::fmt::Write as _;
use std::io::{self, Write as _};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use aws_lc_rs::digest;
use bytes::{Buf, Bytes, BytesMut};
use clap::Parser;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Largest accepted request head (request line, header lines, final CRLF CRLF).
const MAX_HEAD: usize = 64 * 1024;
/// Largest chunk-size line (with extensions) of a chunked request body.
const MAX_CHUNK_LINE: usize = 8 * 1024;
/// Largest trailer section of a chunked request body.
const MAX_TRAILERS: usize = 64 * 1024;
/// Size of the chunks of a `size=N` response, and of the part sent by `stall=body`.
const CHUNK: usize = 64 * 1024;
/// How long a stalled connection is kept open at most.
const STALL_LIMIT: Duration = Duration::from_secs(600);
/// Largest accepted `delay_ms`.
const MAX_DELAY_MS: u64 = 600_000;
/// How long a closing connection keeps reading (and discarding) what the peer
/// still sends, so that the peer is not reset before it has read our answer.
const LINGER: Duration = Duration::from_secs(2);
/// What `garbage=1` writes instead of a response.
const GARBAGE: &[u8] = b"this is not http\r\n\r\n";

const AFTER_HELP: &str = "\
Once bound it prints `listening on <addr>` on stdout, then logs one line per request on stderr.

Every request is answered with `200 text/plain`: the request line and header lines exactly as \
received, a blank line, then `body-bytes: N`, `body-sha256: <hex>` and one `trailer: <line>` \
per chunked-body trailer. The response carries `X-Echo-Peer: <client address:port>`, \
naming the connection that carried the request.

Query parameters (anywhere in the query string; others are ignored):
  echo=body     stream the request body back (chunked) while reading it
  size=N        after reading the request, send N bytes, byte i being b'a' + i % 26, in 64 KiB chunks
  status=N      answer with status N (200-599)
  delay_ms=N    wait N ms before sending the response head (at most 600000)
  stall=head    read the request, then never answer
  stall=body    (with size=N) send the head and the first 64 KiB of the body, then stall
  reset=1       after the request head, close with a TCP reset and no response
  garbage=1     after the request head, write `this is not http\\r\\n\\r\\n` and close
A stalled connection stays open until the peer closes it or 10 minutes pass.";

/// A plain HTTP/1.x upstream that echoes back exactly what it received.
#[derive(Debug, Parser)]
#[command(name = "echo-backend", version, after_help = AFTER_HELP)]
struct Args {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    listen: String,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    // Signal handlers go in before the address is announced, so that a
    // supervisor that signals right after reading it still gets a clean exit.
    let mut shutdown = match Shutdown::install() {
        Ok(shutdown) => shutdown,
        Err(e) => {
            log(format_args!("cannot install signal handlers: {e}"));
            return ExitCode::FAILURE;
        }
    };
    let listener = match TcpListener::bind(&args.listen).await {
        Ok(listener) => listener,
        Err(e) => {
            log(format_args!("cannot listen on {}: {e}", args.listen));
            return ExitCode::FAILURE;
        }
    };
    let addr = match listener.local_addr() {
        Ok(addr) => addr,
        Err(e) => {
            log(format_args!("cannot read the bound address: {e}"));
            return ExitCode::FAILURE;
        }
    };
    {
        let mut out = io::stdout().lock();
        if let Err(e) = writeln!(out, "listening on {addr}").and_then(|()| out.flush()) {
            log(format_args!("cannot write to stdout: {e}"));
            return ExitCode::FAILURE;
        }
    }
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    tokio::spawn(serve_connection(stream, peer));
                }
                Err(e) => {
                    // Typically EMFILE: back off instead of spinning.
                    log(format_args!("accept failed: {e}"));
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            signal = shutdown.wait() => {
                log(format_args!("{signal} received, exiting"));
                return ExitCode::SUCCESS;
            }
        }
    }
}

/// Waits for SIGINT or SIGTERM.
#[cfg(unix)]
struct Shutdown {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
}

#[cfg(unix)]
impl Shutdown {
    fn install() -> io::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Self {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
        })
    }

    async fn wait(&mut self) -> &'static str {
        tokio::select! {
            _ = self.interrupt.recv() => "SIGINT",
            _ = self.terminate.recv() => "SIGTERM",
        }
    }
}

/// Waits for Ctrl-C.
#[cfg(not(unix))]
struct Shutdown;

#[cfg(not(unix))]
impl Shutdown {
    fn install() -> io::Result<Self> {
        Ok(Self)
    }

    async fn wait(&mut self) -> &'static str {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
        "Ctrl-C"
    }
}

/// Writes one line to stderr; never panics, even when stderr is closed.
fn log(args: std::fmt::Arguments<'_>) {
    let _ = writeln!(io::stderr().lock(), "echo-backend: {args}");
}

// ---------------------------------------------------------------------------
// Connection handling
// ---------------------------------------------------------------------------

/// One client connection and the bytes read from it but not yet consumed.
struct Conn {
    stream: TcpStream,
    buf: BytesMut,
    peer: SocketAddr,
}

/// What to do with the connection once a request has been handled.
enum Next {
    /// Read the next request.
    KeepAlive,
    /// Close gracefully: FIN, then discard what the peer still sends for a while.
    Close,
    /// Drop the socket now (after a reset, a stall, or an I/O error).
    Drop,
}

/// Result of reading a request head.
enum HeadRead {
    Head(Bytes),
    /// The peer closed the connection between requests.
    Eof,
    /// The peer closed the connection in the middle of a head.
    Truncated,
    TooLarge,
}

/// A request that is answered with an error and a closed connection.
struct Reject {
    status: u16,
    why: &'static str,
}

fn reject(status: u16, why: &'static str) -> Reject {
    Reject { status, why }
}

impl Conn {
    /// Reads more bytes into the buffer; `Ok(0)` means end of stream.
    async fn fill(&mut self) -> io::Result<usize> {
        self.buf.reserve(CHUNK);
        self.stream.read_buf(&mut self.buf).await
    }

    /// Reads up to and including the CRLF CRLF that ends a request head.
    async fn read_head(&mut self) -> io::Result<HeadRead> {
        let mut scanned = 0;
        loop {
            // Empty lines before a request line are ignored (RFC 9112, 2.2).
            while self.buf.starts_with(b"\r\n") {
                self.buf.advance(2);
                scanned = 0;
            }
            if let Some(pos) = find(&self.buf[scanned..], b"\r\n\r\n") {
                let end = scanned + pos + 4;
                if end > MAX_HEAD {
                    return Ok(HeadRead::TooLarge);
                }
                return Ok(HeadRead::Head(self.buf.split_to(end).freeze()));
            }
            if self.buf.len() >= MAX_HEAD {
                return Ok(HeadRead::TooLarge);
            }
            scanned = self.buf.len().saturating_sub(3);
            if self.fill().await? == 0 {
                return Ok(if self.buf.is_empty() {
                    HeadRead::Eof
                } else {
                    HeadRead::Truncated
                });
            }
        }
    }

    /// Reads one CRLF-terminated line of at most `limit` bytes (CRLF included)
    /// and returns it without the CRLF.
    async fn read_line(&mut self, limit: usize) -> Result<Bytes, BodyError> {
        let mut scanned = 0;
        loop {
            if let Some(pos) = self.buf[scanned..].iter().position(|&b| b == b'\n') {
                let lf = scanned + pos;
                if lf + 1 > limit {
                    return Err(BodyError::Malformed("line too long in chunked body"));
                }
                if lf == 0 || self.buf[lf - 1] != b'\r' {
                    return Err(BodyError::Malformed("bare LF in chunked body"));
                }
                let mut line = self.buf.split_to(lf + 1);
                line.truncate(lf - 1);
                if line.contains(&b'\r') {
                    return Err(BodyError::Malformed("bare CR in chunked body"));
                }
                return Ok(line.freeze());
            }
            if self.buf.len() >= limit {
                return Err(BodyError::Malformed("line too long in chunked body"));
            }
            scanned = self.buf.len();
            if self.fill().await? == 0 {
                return Err(BodyError::Eof);
            }
        }
    }

    async fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes).await
    }

    /// Keeps the socket open, discarding input, until the peer closes it or
    /// [`STALL_LIMIT`] passes.
    async fn stall(&mut self) {
        let _ = tokio::time::timeout(STALL_LIMIT, async {
            loop {
                self.buf.clear();
                match self.fill().await {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
            }
        })
        .await;
    }

    /// Sends FIN, then reads and discards for a while so that unread input
    /// does not make the kernel reset the connection before the peer has read
    /// what we wrote.
    async fn close(mut self) {
        if self.stream.shutdown().await.is_err() {
            return;
        }
        let _ = tokio::time::timeout(LINGER, async {
            let mut sink = [0u8; 8192];
            loop {
                match self.stream.read(&mut sink).await {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
            }
        })
        .await;
    }
}

async fn serve_connection(stream: TcpStream, peer: SocketAddr) {
    // Small writes (heads, chunk trailers) must not wait for delayed ACKs.
    let _ = stream.set_nodelay(true);
    let mut conn = Conn {
        stream,
        buf: BytesMut::with_capacity(CHUNK),
        peer,
    };
    loop {
        let next = match conn.read_head().await {
            Ok(HeadRead::Head(head)) => match parse_head(head) {
                Ok(req) => match handle(&mut conn, &req).await {
                    Ok(next) => next,
                    Err(e) => {
                        log(format_args!("{peer} {}: i/o error: {e}", req.summary()));
                        Next::Drop
                    }
                },
                Err(rej) => send_reject(&mut conn, None, rej).await,
            },
            Ok(HeadRead::Eof) => Next::Drop,
            Ok(HeadRead::Truncated) => {
                send_reject(&mut conn, None, reject(400, "incomplete request head")).await
            }
            Ok(HeadRead::TooLarge) => {
                send_reject(&mut conn, None, reject(431, "request head exceeds 64 KiB")).await
            }
            Err(e) => {
                log(format_args!("{peer}: i/o error: {e}"));
                Next::Drop
            }
        };
        match next {
            Next::KeepAlive => continue,
            Next::Close => return conn.close().await,
            Next::Drop => return,
        }
    }
}

/// Answers with an error status and a short text body, then closes.
async fn send_reject(conn: &mut Conn, req: Option<&Request>, rej: Reject) -> Next {
    let body = format!("{} {}: {}\n", rej.status, reason(rej.status), rej.why);
    let mut out = response_head(
        rej.status,
        "text/plain; charset=utf-8",
        Framing::Length(body.len() as u64),
        Persist::Close,
    );
    out.extend_from_slice(body.as_bytes());
    let what = req.map_or_else(|| "-".to_owned(), Request::summary);
    log(format_args!(
        "{} {what} {} body-bytes=0 ({})",
        conn.peer, rej.status, rej.why
    ));
    match conn.write(&out).await {
        Ok(()) => Next::Close,
        Err(_) => Next::Drop,
    }
}

// ---------------------------------------------------------------------------
// Request head parsing
// ---------------------------------------------------------------------------

/// How the body of a request is delimited.
#[derive(Clone, Copy)]
enum BodyLength {
    Length(u64),
    Chunked,
}

struct Request {
    /// The request line and every header line, as received, without CRLF.
    lines: Vec<Bytes>,
    method: Bytes,
    target: Bytes,
    version: Bytes,
    http10: bool,
    keep_alive: bool,
    expect_continue: bool,
    body: BodyLength,
}

impl Request {
    /// `"METHOD target HTTP/1.1"`, for the log.
    fn summary(&self) -> String {
        format!(
            "\"{} {} {}\"",
            String::from_utf8_lossy(&self.method),
            String::from_utf8_lossy(&self.target),
            String::from_utf8_lossy(&self.version)
        )
    }

    fn is_head(&self) -> bool {
        &self.method[..] == b"HEAD"
    }
}

fn parse_head(head: Bytes) -> Result<Request, Reject> {
    // The head ends with CRLF CRLF; lines are separated by CRLF.
    let content = head.slice(..head.len() - 4);
    let mut lines = Vec::new();
    let mut rest = 0;
    loop {
        let end = find(&content[rest..], b"\r\n").map(|p| rest + p);
        let line = content.slice(rest..end.unwrap_or(content.len()));
        if line.iter().any(|&b| b == b'\r' || b == b'\n') {
            return Err(reject(400, "bare CR or LF in request head"));
        }
        lines.push(line);
        match end {
            Some(end) => rest = end + 2,
            None => break,
        }
    }

    let request_line = &lines[0];
    let parts: Vec<&[u8]> = request_line.split(|&b| b == b' ').collect();
    let [method, target, version] = parts[..] else {
        return Err(reject(400, "malformed request line"));
    };
    if method.is_empty() || !method.iter().copied().all(is_tchar) {
        return Err(reject(400, "malformed method"));
    }
    if target.is_empty() || target.iter().any(|&b| b < 0x21 || b == 0x7f) {
        return Err(reject(400, "malformed request target"));
    }
    let http10 = match version {
        b"HTTP/1.1" => false,
        b"HTTP/1.0" => true,
        [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
            if major.is_ascii_digit() && minor.is_ascii_digit() =>
        {
            return Err(reject(505, "only HTTP/1.0 and HTTP/1.1 are supported"));
        }
        _ => return Err(reject(400, "malformed HTTP version")),
    };
    let (method, target, version) = (
        request_line.slice_ref(method),
        request_line.slice_ref(target),
        request_line.slice_ref(version),
    );

    let mut transfer_codings: Option<Vec<Vec<u8>>> = None;
    let mut content_length: Option<u64> = None;
    let mut close = false;
    let mut keep_alive_token = false;
    let mut expect_continue = false;
    for line in &lines[1..] {
        let (name, value) = split_field(line)?;
        if name.eq_ignore_ascii_case(b"transfer-encoding") {
            let codings = transfer_codings.get_or_insert_with(Vec::new);
            codings.extend(list_items(value).map(|c| c.to_ascii_lowercase()));
        } else if name.eq_ignore_ascii_case(b"content-length") {
            let mut any = false;
            for item in list_items(value) {
                let n = parse_decimal(item).ok_or(reject(400, "malformed Content-Length"))?;
                if content_length.is_some_and(|old| old != n) {
                    return Err(reject(400, "conflicting Content-Length values"));
                }
                content_length = Some(n);
                any = true;
            }
            if !any {
                return Err(reject(400, "empty Content-Length"));
            }
        } else if name.eq_ignore_ascii_case(b"connection") {
            for token in list_items(value) {
                close |= token.eq_ignore_ascii_case(b"close");
                keep_alive_token |= token.eq_ignore_ascii_case(b"keep-alive");
            }
        } else if name.eq_ignore_ascii_case(b"expect") {
            expect_continue |= value.eq_ignore_ascii_case(b"100-continue");
        }
    }

    let body = match (transfer_codings, content_length) {
        (Some(_), _) if http10 => {
            return Err(reject(400, "Transfer-Encoding in an HTTP/1.0 request"));
        }
        (Some(_), Some(_)) => {
            return Err(reject(400, "both Transfer-Encoding and Content-Length"));
        }
        (Some(codings), None) => match codings.as_slice() {
            [only] if only == b"chunked" => BodyLength::Chunked,
            [.., last] if last == b"chunked" => {
                return Err(reject(501, "only the chunked transfer coding is supported"));
            }
            _ => return Err(reject(400, "final transfer coding is not chunked")),
        },
        (None, Some(n)) => BodyLength::Length(n),
        (None, None) => BodyLength::Length(0),
    };
    let keep_alive = if http10 {
        keep_alive_token && !close
    } else {
        !close
    };
    Ok(Request {
        lines,
        method,
        target,
        version,
        http10,
        keep_alive,
        expect_continue,
        body,
    })
}

/// Splits a header (or trailer) line into name and value (without
/// surrounding whitespace), rejecting what RFC 9112 does not allow.
fn split_field(line: &[u8]) -> Result<(&[u8], &[u8]), Reject> {
    if line.first().is_some_and(|&b| b == b' ' || b == b'\t') {
        return Err(reject(400, "obsolete line folding"));
    }
    let colon = line
        .iter()
        .position(|&b| b == b':')
        .ok_or(reject(400, "header line without a colon"))?;
    let (name, value) = (&line[..colon], &line[colon + 1..]);
    if name.is_empty() || !name.iter().copied().all(is_tchar) {
        return Err(reject(400, "malformed header name"));
    }
    if value.iter().any(|&b| (b < 0x20 && b != b'\t') || b == 0x7f) {
        return Err(reject(400, "control character in header value"));
    }
    Ok((name, trim_ows(value)))
}

/// Items of a comma-separated header value, trimmed, without empty ones.
fn list_items(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value
        .split(|&b| b == b',')
        .map(trim_ows)
        .filter(|item| !item.is_empty())
}

fn trim_ows(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// A non-empty string of ASCII digits that fits in a `u64`.
fn parse_decimal(s: &[u8]) -> Option<u64> {
    if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    s.iter().try_fold(0u64, |acc, &d| {
        acc.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

// ---------------------------------------------------------------------------
// Behaviours selected by the query string
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq)]
enum Stall {
    Head,
    Body,
}

/// What the query string asks for. Precedence, from first to last: `reset`,
/// `garbage`, `stall=head`, `echo=body`, `size`/`stall=body`, the default
/// report. `status` and `delay_ms` apply to every mode that sends a head.
#[derive(Default)]
struct Behaviour {
    echo_body: bool,
    size: Option<u64>,
    status: Option<u16>,
    delay_ms: u64,
    stall: Option<Stall>,
    reset: bool,
    garbage: bool,
}

fn parse_behaviour(target: &[u8]) -> Result<Behaviour, Reject> {
    let mut b = Behaviour::default();
    let Some(q) = target.iter().position(|&c| c == b'?') else {
        return Ok(b);
    };
    let query = &target[q + 1..];
    let query = &query[..query.iter().position(|&c| c == b'#').unwrap_or(query.len())];
    for pair in query.split(|&c| c == b'&') {
        let (key, value) = match pair.iter().position(|&c| c == b'=') {
            Some(eq) => (&pair[..eq], &pair[eq + 1..]),
            None => (pair, &b""[..]),
        };
        match key {
            b"echo" => match value {
                b"body" => b.echo_body = true,
                _ => return Err(reject(400, "echo must be `body`")),
            },
            b"size" => {
                b.size = Some(parse_decimal(value).ok_or(reject(400, "size must be a number"))?);
            }
            b"status" => match parse_decimal(value) {
                Some(n @ 200..=599) => b.status = Some(n as u16),
                _ => return Err(reject(400, "status must be a number in 200..=599")),
            },
            b"delay_ms" => match parse_decimal(value) {
                Some(n) if n <= MAX_DELAY_MS => b.delay_ms = n,
                _ => return Err(reject(400, "delay_ms must be a number up to 600000")),
            },
            b"stall" => match value {
                b"head" => b.stall = Some(Stall::Head),
                b"body" => b.stall = Some(Stall::Body),
                _ => return Err(reject(400, "stall must be `head` or `body`")),
            },
            b"reset" => b.reset = flag(value).ok_or(reject(400, "reset must be 0 or 1"))?,
            b"garbage" => b.garbage = flag(value).ok_or(reject(400, "garbage must be 0 or 1"))?,
            _ => {}
        }
    }
    if b.stall == Some(Stall::Body) && b.size.is_none() && !b.reset && !b.garbage {
        return Err(reject(400, "stall=body needs size=N"));
    }
    Ok(b)
}

fn flag(value: &[u8]) -> Option<bool> {
    match value {
        b"1" => Some(true),
        b"0" => Some(false),
        _ => None,
    }
}

// ---------------------------------------------------------------------------
// Request bodies
// ---------------------------------------------------------------------------

enum BodyError {
    Io(io::Error),
    /// The peer closed the connection before the end of the body.
    Eof,
    Malformed(&'static str),
}

impl From<io::Error> for BodyError {
    fn from(e: io::Error) -> Self {
        Self::Io(e)
    }
}

impl BodyError {
    fn describe(&self) -> String {
        match self {
            Self::Io(e) => format!("i/o error in request body: {e}"),
            Self::Eof => "peer closed before the end of the request body".to_owned(),
            Self::Malformed(why) => (*why).to_owned(),
        }
    }
}

#[derive(Clone, Copy)]
enum BodyState {
    Length { remaining: u64 },
    ChunkSize,
    ChunkData { remaining: u64 },
    ChunkEnd,
    Trailers { seen: usize },
    Done,
}

/// Yields a request body piece by piece, as it arrives.
struct BodyReader {
    state: BodyState,
    total: u64,
    trailers: Vec<Bytes>,
}

impl BodyReader {
    fn new(length: BodyLength) -> Self {
        let state = match length {
            BodyLength::Length(0) => BodyState::Done,
            BodyLength::Length(n) => BodyState::Length { remaining: n },
            BodyLength::Chunked => BodyState::ChunkSize,
        };
        Self {
            state,
            total: 0,
            trailers: Vec::new(),
        }
    }

    fn is_done(&self) -> bool {
        matches!(self.state, BodyState::Done)
    }

    /// The next piece of the body, or `None` at its end.
    async fn next(&mut self, conn: &mut Conn) -> Result<Option<Bytes>, BodyError> {
        loop {
            match self.state {
                BodyState::Done => return Ok(None),
                BodyState::Length { remaining } | BodyState::ChunkData { remaining } => {
                    if conn.buf.is_empty() && conn.fill().await? == 0 {
                        return Err(BodyError::Eof);
                    }
                    let n = remaining.min(conn.buf.len() as u64);
                    let left = remaining - n;
                    self.state = match self.state {
                        BodyState::Length { .. } if left == 0 => BodyState::Done,
                        BodyState::Length { .. } => BodyState::Length { remaining: left },
                        _ if left == 0 => BodyState::ChunkEnd,
                        _ => BodyState::ChunkData { remaining: left },
                    };
                    self.total += n;
                    // n <= conn.buf.len(), so it fits in usize.
                    return Ok(Some(conn.buf.split_to(n as usize).freeze()));
                }
                BodyState::ChunkSize => {
                    let line = conn.read_line(MAX_CHUNK_LINE).await?;
                    let size = parse_chunk_size(&line)?;
                    self.state = if size == 0 {
                        BodyState::Trailers { seen: 0 }
                    } else {
                        BodyState::ChunkData { remaining: size }
                    };
                }
                BodyState::ChunkEnd => {
                    while conn.buf.len() < 2 {
                        if conn.fill().await? == 0 {
                            return Err(BodyError::Eof);
                        }
                    }
                    if &conn.buf[..2] != b"\r\n" {
                        return Err(BodyError::Malformed("chunk data not followed by CRLF"));
                    }
                    conn.buf.advance(2);
                    self.state = BodyState::ChunkSize;
                }
                BodyState::Trailers { seen } => {
                    let line = conn.read_line(MAX_TRAILERS - seen).await?;
                    if line.is_empty() {
                        self.state = BodyState::Done;
                        return Ok(None);
                    }
                    if split_field(&line).is_err() {
                        return Err(BodyError::Malformed("malformed trailer field"));
                    }
                    self.state = BodyState::Trailers {
                        seen: seen + line.len() + 2,
                    };
                    self.trailers.push(line);
                }
            }
        }
    }
}

/// `chunk-size [ chunk-ext ]`: hex digits, then optionally `;` extensions,
/// which are ignored.
fn parse_chunk_size(line: &[u8]) -> Result<u64, BodyError> {
    let malformed = BodyError::Malformed("malformed chunk size");
    let digits = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    if digits == 0 {
        return Err(malformed);
    }
    let mut size: u64 = 0;
    for &d in &line[..digits] {
        // The character is a hex digit, so to_digit cannot fail.
        let v = u64::from(char::from(d).to_digit(16).unwrap_or(0));
        size = match size.checked_mul(16).and_then(|s| s.checked_add(v)) {
            Some(s) => s,
            None => return Err(BodyError::Malformed("chunk size overflows")),
        };
    }
    let rest = trim_ows(&line[digits..]);
    if !(rest.is_empty() || rest[0] == b';') || rest.iter().any(|&b| b < 0x20 && b != b'\t') {
        return Err(malformed);
    }
    Ok(size)
}

// ---------------------------------------------------------------------------
// Responses
// ---------------------------------------------------------------------------

/// How a response body is delimited.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Framing {
    Length(u64),
    Chunked,
    /// HTTP/1.0 streaming: the body ends when the connection closes.
    UntilClose,
    /// No body at all (204, 304).
    None,
}

/// The `Connection` header to send.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Persist {
    /// HTTP/1.1 keep-alive: no header.
    Default,
    /// HTTP/1.0 keep-alive: `Connection: keep-alive`.
    KeepAlive,
    Close,
}

fn response_head(status: u16, content_type: &str, framing: Framing, persist: Persist) -> Vec<u8> {
    let mut head = format!("HTTP/1.1 {status} {}\r\n", reason(status));
    if framing != Framing::None {
        let _ = write!(head, "Content-Type: {content_type}\r\n");
    }
    match framing {
        Framing::Length(n) => {
            let _ = write!(head, "Content-Length: {n}\r\n");
        }
        Framing::Chunked => head.push_str("Transfer-Encoding: chunked\r\n"),
        Framing::UntilClose | Framing::None => {}
    }
    match persist {
        Persist::Default => {}
        Persist::KeepAlive => head.push_str("Connection: keep-alive\r\n"),
        Persist::Close => head.push_str("Connection: close\r\n"),
    }
    head.push_str("\r\n");
    head.into_bytes()
}

fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        206 => "Partial Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        413 => "Content Too Large",
        421 => "Misdirected Request",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        _ => "Status",
    }
}

/// Writes a streamed response body with the framing chosen for it.
struct BodyWriter {
    framing: Framing,
    /// HEAD request: the head describes a body that is not sent.
    suppress: bool,
}

impl BodyWriter {
    async fn write(&self, conn: &mut Conn, data: &[u8]) -> io::Result<()> {
        if self.suppress || data.is_empty() {
            return Ok(());
        }
        match self.framing {
            Framing::Chunked => {
                let mut chunk = Vec::with_capacity(data.len() + 20);
                let _ = write!(chunk, "{:x}\r\n", data.len());
                chunk.extend_from_slice(data);
                chunk.extend_from_slice(b"\r\n");
                conn.write(&chunk).await
            }
            Framing::UntilClose | Framing::Length(_) => conn.write(data).await,
            Framing::None => Ok(()),
        }
    }

    async fn finish(&self, conn: &mut Conn) -> io::Result<()> {
        if !self.suppress && self.framing == Framing::Chunked {
            conn.write(b"0\r\n\r\n").await?;
        }
        Ok(())
    }
}

/// Bytes `offset..offset + len` of the `size=N` pattern: byte i is
/// `b'a' + i % 26`.
fn pattern(offset: u64, len: usize) -> Vec<u8> {
    (0..len as u64)
        .map(|j| b'a' + ((offset + j) % 26) as u8)
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

// ---------------------------------------------------------------------------
// Request handling
// ---------------------------------------------------------------------------

async fn handle(conn: &mut Conn, req: &Request) -> io::Result<Next> {
    let peer = conn.peer;
    let what = req.summary();
    let b = match parse_behaviour(&req.target) {
        Ok(b) => b,
        Err(rej) => return Ok(send_reject(conn, Some(req), rej).await),
    };
    if b.reset {
        // Abortive close: the peer sees a TCP reset instead of a FIN.
        let _ = conn.stream.set_zero_linger();
        log(format_args!("{peer} {what} reset body-bytes=0"));
        return Ok(Next::Drop);
    }
    if b.garbage {
        conn.write(GARBAGE).await?;
        log(format_args!("{peer} {what} garbage body-bytes=0"));
        return Ok(Next::Close);
    }

    let mut body = BodyReader::new(req.body);
    if req.expect_continue && !req.http10 && !body.is_done() {
        conn.write(b"HTTP/1.1 100 Continue\r\n\r\n").await?;
    }

    if b.stall == Some(Stall::Head) {
        let note = match drain(conn, &mut body).await {
            Ok(_) => "stall=head".to_owned(),
            Err(e) => format!("stall=head ({})", e.describe()),
        };
        log(format_args!(
            "{peer} {what} {note} body-bytes={}",
            body.total
        ));
        conn.stall().await;
        return Ok(Next::Drop);
    }

    let status = b.status.unwrap_or(200);
    let no_body_status = status == 204 || status == 304;
    let persist = if !req.keep_alive {
        Persist::Close
    } else if req.http10 {
        Persist::KeepAlive
    } else {
        Persist::Default
    };
    // Streamed bodies are chunked, or delimited by closing for HTTP/1.0.
    let (stream_framing, stream_persist) = if no_body_status {
        (Framing::None, persist)
    } else if req.http10 {
        (Framing::UntilClose, Persist::Close)
    } else {
        (Framing::Chunked, persist)
    };
    let writer = BodyWriter {
        framing: stream_framing,
        suppress: req.is_head(),
    };
    let after = if stream_persist == Persist::Close {
        Next::Close
    } else {
        Next::KeepAlive
    };

    if b.echo_body {
        delay(b.delay_ms).await;
        conn.write(&response_head(
            status,
            "application/octet-stream",
            stream_framing,
            stream_persist,
        ))
        .await?;
        loop {
            match body.next(conn).await {
                Ok(Some(piece)) => writer.write(conn, &piece).await?,
                Ok(None) => break,
                Err(e) => {
                    // The response has started: end it abruptly, without the
                    // final chunk, so the peer sees an incomplete body.
                    log(format_args!(
                        "{peer} {what} {status} body-bytes={} (echo aborted: {})",
                        body.total,
                        e.describe()
                    ));
                    return Ok(Next::Drop);
                }
            }
        }
        writer.finish(conn).await?;
        log(format_args!(
            "{peer} {what} {status} body-bytes={} (echo=body)",
            body.total
        ));
        return Ok(after);
    }

    let sha256 = match drain(conn, &mut body).await {
        Ok(sha256) => sha256,
        Err(BodyError::Malformed(why)) => {
            return Ok(send_reject(conn, Some(req), reject(400, why)).await);
        }
        Err(e) => {
            log(format_args!(
                "{peer} {what} - body-bytes={} ({})",
                body.total,
                e.describe()
            ));
            return Ok(Next::Drop);
        }
    };
    delay(b.delay_ms).await;

    if let Some(size) = b.size {
        conn.write(&response_head(
            status,
            "application/octet-stream",
            stream_framing,
            stream_persist,
        ))
        .await?;
        let stall = b.stall == Some(Stall::Body);
        let mut sent = 0u64;
        while sent < size {
            let len = (size - sent).min(CHUNK as u64) as usize;
            writer.write(conn, &pattern(sent, len)).await?;
            sent += len as u64;
            if stall {
                break;
            }
        }
        if stall {
            log(format_args!(
                "{peer} {what} {status} body-bytes={} (stall=body after {sent} bytes)",
                body.total
            ));
            conn.stall().await;
            return Ok(Next::Drop);
        }
        writer.finish(conn).await?;
        log(format_args!(
            "{peer} {what} {status} body-bytes={} (size={size})",
            body.total
        ));
        return Ok(after);
    }

    // The default report.
    let mut text = Vec::with_capacity(1024 + req.lines.len() * 64);
    for line in &req.lines {
        text.extend_from_slice(String::from_utf8_lossy(line).as_bytes());
        text.push(b'\n');
    }
    let _ = write!(
        text,
        "\nbody-bytes: {}\nbody-sha256: {}\n",
        body.total,
        hex(sha256.as_ref())
    );
    for trailer in &body.trailers {
        let _ = writeln!(text, "trailer: {}", String::from_utf8_lossy(trailer));
    }
    let framing = if no_body_status {
        Framing::None
    } else {
        Framing::Length(text.len() as u64)
    };
    let mut out = response_head(status, "text/plain; charset=utf-8", framing, persist);
    // Which connection carried the request (tests of upstream keep-alive).
    out.truncate(out.len() - 2);
    let _ = write!(out, "X-Echo-Peer: {peer}\r\n\r\n");
    if framing != Framing::None && !req.is_head() {
        out.extend_from_slice(&text);
    }
    conn.write(&out).await?;
    log(format_args!(
        "{peer} {what} {status} body-bytes={}",
        body.total
    ));
    Ok(if persist == Persist::Close {
        Next::Close
    } else {
        Next::KeepAlive
    })
}

/// Reads the whole request body through SHA-256, piece by piece.
async fn drain(conn: &mut Conn, body: &mut BodyReader) -> Result<digest::Digest, BodyError> {
    let mut ctx = digest::Context::new(&digest::SHA256);
    while let Some(piece) = body.next(conn).await? {
        ctx.update(&piece);
    }
    Ok(ctx.finish())
}

async fn delay(ms: u64) {
    if ms > 0 {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
}
