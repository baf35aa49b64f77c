//! Integration tests of the `echo-backend` binary: each test starts the real
//! binary on a free port and talks raw HTTP/1.x to it over TCP.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use aws_lc_rs::digest;

/// How long a test waits for data that should arrive.
const READ_TIMEOUT: Duration = Duration::from_secs(10);
const GARBAGE: &[u8] = b"this is not http\r\n\r\n";

/// A running `echo-backend`, killed when dropped.
struct Backend {
    child: Child,
    addr: SocketAddr,
}

impl Backend {
    fn start() -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_echo-backend"))
            .args(["--listen", "127.0.0.1:0"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            // Not piped: nobody would drain it and the server would block.
            .stderr(Stdio::null())
            .spawn()
            .expect("start echo-backend");
        let stdout = child.stdout.take().expect("stdout is piped");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read the listening line");
        let addr = line
            .strip_prefix("listening on ")
            .and_then(|rest| rest.strip_suffix('\n'))
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .parse()
            .expect("listening address");
        Self { child, addr }
    }

    fn connect(&self) -> TcpStream {
        let stream = TcpStream::connect(self.addr).expect("connect");
        stream.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
        stream.set_write_timeout(Some(READ_TIMEOUT)).unwrap();
        stream
    }

    /// Sends `request` on a new connection and reads one response.
    fn exchange(&self, request: &[u8]) -> Response {
        let mut stream = self.connect();
        stream.write_all(request).unwrap();
        read_response(&mut BufReader::new(stream), false).expect("response")
    }

    fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{name} failed");
    }

    fn wait_exit(&mut self, limit: Duration) -> ExitStatus {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(start.elapsed() < limit, "echo-backend did not exit");
            thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Debug)]
struct Response {
    status: u16,
    /// Header lines as received, without CRLF.
    header_lines: Vec<String>,
    body: Vec<u8>,
    /// Sizes of the chunks of a chunked body, in order.
    chunk_sizes: Vec<usize>,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.header_lines.iter().find_map(|line| {
            let (n, v) = line.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }

    fn text(&self) -> &str {
        std::str::from_utf8(&self.body).expect("UTF-8 body")
    }
}

fn read_line(r: &mut impl BufRead) -> io::Result<String> {
    let mut line = Vec::new();
    r.read_until(b'\n', &mut line)?;
    let line = String::from_utf8(line).map_err(io::Error::other)?;
    line.strip_suffix("\r\n")
        .map(str::to_owned)
        .ok_or_else(|| io::Error::other(format!("line not ended by CRLF: {line:?}")))
}

/// Reads one response; `head_request` says the body is omitted (HEAD).
fn read_response(r: &mut impl BufRead, head_request: bool) -> io::Result<Response> {
    let (status, header_lines) = read_response_head(r)?;
    let mut response = Response {
        status,
        header_lines,
        body: Vec::new(),
        chunk_sizes: Vec::new(),
    };
    if head_request || status == 204 || status == 304 {
        return Ok(response);
    }
    if response.header("transfer-encoding") == Some("chunked") {
        loop {
            let line = read_line(r)?;
            let size = usize::from_str_radix(&line, 16).map_err(io::Error::other)?;
            if size == 0 {
                while !read_line(r)?.is_empty() {}
                break;
            }
            response.chunk_sizes.push(size);
            let start = response.body.len();
            response.body.resize(start + size, 0);
            r.read_exact(&mut response.body[start..])?;
            if !read_line(r)?.is_empty() {
                return Err(io::Error::other("chunk not followed by CRLF"));
            }
        }
    } else if let Some(length) = response.header("content-length") {
        let length: usize = length.parse().map_err(io::Error::other)?;
        response.body.resize(length, 0);
        r.read_exact(&mut response.body)?;
    } else {
        r.read_to_end(&mut response.body)?;
    }
    Ok(response)
}

/// Reads a status line and header lines, skipping `100 Continue`.
fn read_response_head(r: &mut impl BufRead) -> io::Result<(u16, Vec<String>)> {
    loop {
        let status_line = read_line(r)?;
        let status: u16 = status_line
            .strip_prefix("HTTP/1.1 ")
            .and_then(|rest| rest.get(..3))
            .and_then(|code| code.parse().ok())
            .ok_or_else(|| io::Error::other(format!("bad status line {status_line:?}")))?;
        let mut header_lines = Vec::new();
        loop {
            let line = read_line(r)?;
            if line.is_empty() {
                break;
            }
            header_lines.push(line);
        }
        if status != 100 {
            return Ok((status, header_lines));
        }
    }
}

/// Asserts that the peer has closed the connection (FIN, no more data).
fn assert_closed(r: &mut impl Read) {
    let mut rest = Vec::new();
    r.read_to_end(&mut rest).expect("clean close");
    assert!(rest.is_empty(), "unexpected bytes after response: {rest:?}");
}

/// Asserts that nothing arrives within `wait` while the connection stays open.
fn assert_silent(stream: &mut TcpStream, wait: Duration) {
    stream.set_read_timeout(Some(wait)).unwrap();
    let mut byte = [0u8; 1];
    match stream.read(&mut byte) {
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ) => {}
        other => panic!("expected silence, got {other:?}"),
    }
    stream.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
}

fn sha256_hex(data: &[u8]) -> String {
    digest::digest(&digest::SHA256, data)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The documented `size=N` pattern: byte i is `b'a' + i % 26`.
fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| b'a' + (i % 26) as u8).collect()
}

/// Deterministic, non-repeating-looking test data.
fn test_data(len: usize) -> Vec<u8> {
    let mut x: u32 = 0x1234_5678;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 24) as u8
        })
        .collect()
}

fn summary(body: &[u8]) -> String {
    format!(
        "body-bytes: {}\nbody-sha256: {}\n",
        body.len(),
        sha256_hex(body)
    )
}

#[test]
fn default_echo_reports_request_line_and_headers_in_order_with_case_and_duplicates() {
    let backend = Backend::start();
    let response = backend.exchange(
        b"GET /api/mtls?x=1 HTTP/1.1\r\n\
          Host: localhost\r\n\
          X-SSL-Client-Verify: SUCCESS\r\n\
          x-dup: one\r\n\
          X-Dup: two\r\n\
          X-MiXeD-CaSe:   spaced\tvalue  \r\n\
          x-dup: three\r\n\
          \r\n",
    );
    assert_eq!(response.status, 200);
    assert_eq!(
        response.header("content-type"),
        Some("text/plain; charset=utf-8")
    );
    let expected = format!(
        "GET /api/mtls?x=1 HTTP/1.1\n\
         Host: localhost\n\
         X-SSL-Client-Verify: SUCCESS\n\
         x-dup: one\n\
         X-Dup: two\n\
         X-MiXeD-CaSe:   spaced\tvalue  \n\
         x-dup: three\n\
         \n{}",
        summary(b"")
    );
    assert_eq!(response.text(), expected);
    assert_eq!(
        response.header("content-length"),
        Some(expected.len().to_string().as_str())
    );
}

#[test]
fn non_utf8_header_bytes_are_reported_lossily() {
    let backend = Backend::start();
    let response = backend.exchange(b"GET / HTTP/1.1\r\nHost: h\r\nX-Bin: caf\xe9!\r\n\r\n");
    assert_eq!(response.status, 200);
    assert!(
        response.text().contains("\nX-Bin: caf\u{fffd}!\n"),
        "{}",
        response.text()
    );
}

#[test]
fn content_length_body_is_counted_and_hashed() {
    let backend = Backend::start();
    let body = test_data(300_000);
    let mut request = format!(
        "POST /upload HTTP/1.1\r\nHost: h\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(&body);
    let response = backend.exchange(&request);
    assert_eq!(response.status, 200);
    let text = response.text();
    assert!(text.ends_with(&format!("\n\n{}", summary(&body))), "{text}");
    assert!(text.starts_with("POST /upload HTTP/1.1\nHost: h\nContent-Length: 300000\n"));
}

#[test]
fn chunked_body_with_extensions_and_trailers_is_hashed_and_trailers_reported() {
    let backend = Backend::start();
    let mut stream = backend.connect();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    stream
        .write_all(
            b"POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n\
              5\r\nhello\r\n\
              7;name=value\r\n, world\r\n\
              A \r\n0123456789\r\n\
              0\r\nX-Checksum: abc\r\nx-other:  2\r\n\r\n",
        )
        .unwrap();
    let response = read_response(&mut reader, false).unwrap();
    assert_eq!(response.status, 200);
    let body = b"hello, world0123456789";
    assert!(
        response.text().ends_with(&format!(
            "\n\n{}trailer: X-Checksum: abc\ntrailer: x-other:  2\n",
            summary(body)
        )),
        "{}",
        response.text()
    );
    // The whole chunked body, trailers included, was consumed: the next
    // request on the connection is parsed from the right place.
    stream
        .write_all(b"GET /after HTTP/1.1\r\nHost: h\r\n\r\n")
        .unwrap();
    let response = read_response(&mut reader, false).unwrap();
    assert!(response.text().starts_with("GET /after HTTP/1.1\n"));
}

#[test]
fn keep_alive_serves_two_requests_on_one_connection() {
    let backend = Backend::start();
    let mut stream = backend.connect();
    let mut reader = BufReader::new(stream.try_clone().unwrap());

    stream
        .write_all(b"POST /first HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\nabcd")
        .unwrap();
    let first = read_response(&mut reader, false).unwrap();
    assert_eq!(first.header("connection"), None);
    assert!(first.text().starts_with("POST /first HTTP/1.1\n"));
    assert!(first.text().ends_with(&summary(b"abcd")));

    stream
        .write_all(b"GET /second HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
        .unwrap();
    let second = read_response(&mut reader, false).unwrap();
    assert_eq!(second.header("connection"), Some("close"));
    assert!(second.text().starts_with("GET /second HTTP/1.1\n"));
    assert!(second.text().ends_with(&summary(b"")));
    assert_closed(&mut reader);
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let backend = Backend::start();
    let mut stream = backend.connect();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    stream
        .write_all(
            b"POST /1 HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\none\
              GET /2?size=10 HTTP/1.1\r\nHost: h\r\n\r\n\
              GET /3 HTTP/1.1\r\nHost: h\r\n\r\n",
        )
        .unwrap();
    let one = read_response(&mut reader, false).unwrap();
    assert!(one.text().starts_with("POST /1 HTTP/1.1\n"));
    assert!(one.text().ends_with(&summary(b"one")));
    let two = read_response(&mut reader, false).unwrap();
    assert_eq!(two.body, b"abcdefghij");
    let three = read_response(&mut reader, false).unwrap();
    assert!(three.text().starts_with("GET /3 HTTP/1.1\n"));
}

#[test]
fn http10_request_is_answered_then_closed() {
    let backend = Backend::start();
    let mut stream = backend.connect();
    stream
        .write_all(b"GET /old HTTP/1.0\r\nHost: h\r\n\r\n")
        .unwrap();
    let mut reader = BufReader::new(stream);
    let response = read_response(&mut reader, false).unwrap();
    assert_eq!(response.status, 200);
    assert_eq!(response.header("connection"), Some("close"));
    assert!(
        response
            .text()
            .starts_with("GET /old HTTP/1.0\nHost: h\n\n")
    );
    assert_closed(&mut reader);
}

#[test]
fn http10_keep_alive_is_honoured_when_asked_for() {
    let backend = Backend::start();
    let mut stream = backend.connect();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    for path in ["/a", "/b"] {
        stream
            .write_all(format!("GET {path} HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").as_bytes())
            .unwrap();
        let response = read_response(&mut reader, false).unwrap();
        assert_eq!(response.header("connection"), Some("keep-alive"));
        assert!(
            response
                .text()
                .starts_with(&format!("GET {path} HTTP/1.0\n"))
        );
    }
}

#[test]
fn echo_body_returns_a_5_mib_body_identical() {
    let backend = Backend::start();
    let body = test_data(5 * 1024 * 1024);
    let expected_sha = sha256_hex(&body);
    let mut stream = backend.connect();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    // Write and read at once: the body comes back while it is being sent.
    let writer = thread::spawn(move || {
        stream
            .write_all(
                format!(
                    "PUT /e?echo=body HTTP/1.1\r\nHost: h\r\nContent-Length: {}\r\n\r\n",
                    body.len()
                )
                .as_bytes(),
            )
            .unwrap();
        for piece in body.chunks(50_000) {
            stream.write_all(piece).unwrap();
        }
        stream
    });
    let response = read_response(&mut reader, false).unwrap();
    let _stream = writer.join().unwrap();
    assert_eq!(response.status, 200);
    assert_eq!(response.header("transfer-encoding"), Some("chunked"));
    assert_eq!(
        response.header("content-type"),
        Some("application/octet-stream")
    );
    assert_eq!(response.body.len(), 5 * 1024 * 1024);
    assert_eq!(sha256_hex(&response.body), expected_sha);
}

#[test]
fn echo_body_streams_back_before_the_request_body_is_complete() {
    let backend = Backend::start();
    let mut stream = backend.connect();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    stream
        .write_all(
            b"POST /e?echo=body HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n\
              6\r\nfirst \r\n",
        )
        .unwrap();
    // The rest of the body has not been sent, yet the head and the first
    // piece arrive.
    let (status, headers) = read_response_head(&mut reader).unwrap();
    assert_eq!(status, 200);
    assert!(headers.contains(&"Transfer-Encoding: chunked".to_owned()));
    assert_eq!(read_line(&mut reader).unwrap(), "6");
    assert_eq!(read_line(&mut reader).unwrap(), "first ");

    stream.write_all(b"6\r\nsecond\r\n0\r\n\r\n").unwrap();
    assert_eq!(read_line(&mut reader).unwrap(), "6");
    assert_eq!(read_line(&mut reader).unwrap(), "second");
    assert_eq!(read_line(&mut reader).unwrap(), "0");
    assert_eq!(read_line(&mut reader).unwrap(), "");
    // Still usable afterwards.
    stream
        .write_all(b"GET /next HTTP/1.1\r\nHost: h\r\n\r\n")
        .unwrap();
    let next = read_response(&mut reader, false).unwrap();
    assert!(next.text().starts_with("GET /next HTTP/1.1\n"));
}

#[test]
fn size_returns_the_documented_pattern_in_64_kib_chunks() {
    let backend = Backend::start();
    let mut stream = backend.connect();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    stream
        .write_all(b"POST /s?a=b&size=200000 HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello")
        .unwrap();
    let response = read_response(&mut reader, false).unwrap();
    assert_eq!(response.status, 200);
    assert_eq!(response.header("transfer-encoding"), Some("chunked"));
    assert_eq!(response.chunk_sizes, [65536, 65536, 65536, 3392]);
    assert!(
        response.body == pattern(200_000),
        "body differs from the pattern"
    );
    // The request body was read before answering: the connection continues.
    stream
        .write_all(b"GET /?size=0 HTTP/1.1\r\nHost: h\r\n\r\n")
        .unwrap();
    let empty = read_response(&mut reader, false).unwrap();
    assert_eq!(empty.status, 200);
    assert!(empty.body.is_empty());
}

#[test]
fn status_parameter_sets_the_status_and_keeps_the_default_body() {
    let backend = Backend::start();
    let response = backend.exchange(b"GET /x?status=503 HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_eq!(response.status, 503);
    assert_eq!(
        response.text(),
        format!("GET /x?status=503 HTTP/1.1\nHost: h\n\n{}", summary(b""))
    );
}

#[test]
fn status_204_has_no_body_and_keeps_the_connection() {
    let backend = Backend::start();
    let mut stream = backend.connect();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    stream
        .write_all(
            b"GET /?status=204 HTTP/1.1\r\nHost: h\r\n\r\nGET /then HTTP/1.1\r\nHost: h\r\n\r\n",
        )
        .unwrap();
    let no_content = read_response(&mut reader, false).unwrap();
    assert_eq!(no_content.status, 204);
    assert_eq!(no_content.header("content-length"), None);
    let then = read_response(&mut reader, false).unwrap();
    assert!(then.text().starts_with("GET /then HTTP/1.1\n"));
}

#[test]
fn head_request_gets_headers_without_a_body() {
    let backend = Backend::start();
    let mut stream = backend.connect();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    stream
        .write_all(b"HEAD /h HTTP/1.1\r\nHost: h\r\n\r\nGET /g HTTP/1.1\r\nHost: h\r\n\r\n")
        .unwrap();
    let head = read_response(&mut reader, true).unwrap();
    assert_eq!(head.status, 200);
    assert!(head.header("content-length").is_some());
    let get = read_response(&mut reader, false).unwrap();
    assert!(get.text().starts_with("GET /g HTTP/1.1\n"));
}

#[test]
fn delay_ms_delays_the_response_head() {
    let backend = Backend::start();
    let start = Instant::now();
    let response = backend.exchange(b"GET /?delay_ms=400 HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_eq!(response.status, 200);
    assert!(
        start.elapsed() >= Duration::from_millis(400),
        "answered after {:?}",
        start.elapsed()
    );
}

#[test]
fn reset_closes_the_connection_with_a_tcp_reset_and_no_response() {
    let backend = Backend::start();
    let mut stream = backend.connect();
    stream
        .write_all(b"GET /?reset=1 HTTP/1.1\r\nHost: h\r\n\r\n")
        .unwrap();
    let mut buf = [0u8; 64];
    match stream.read(&mut buf) {
        Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {}
        other => panic!("expected a connection reset, got {other:?}"),
    }
}

#[test]
fn garbage_writes_non_http_bytes_then_closes() {
    let backend = Backend::start();
    let mut stream = backend.connect();
    stream
        .write_all(b"GET /?garbage=1 HTTP/1.1\r\nHost: h\r\n\r\n")
        .unwrap();
    let mut received = Vec::new();
    stream.read_to_end(&mut received).unwrap();
    assert_eq!(received, GARBAGE);
}

#[test]
fn stall_head_reads_the_request_but_never_answers() {
    let backend = Backend::start();
    let mut stream = backend.connect();
    stream
        .write_all(b"POST /?stall=head HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc")
        .unwrap();
    assert_silent(&mut stream, Duration::from_millis(800));
    // Other connections are still served meanwhile.
    let other = backend.exchange(b"GET /other HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_eq!(other.status, 200);
}

#[test]
fn stall_body_sends_the_head_and_first_64_kib_then_stalls() {
    let backend = Backend::start();
    let mut stream = backend.connect();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    stream
        .write_all(b"GET /?stall=body&size=1000000 HTTP/1.1\r\nHost: h\r\n\r\n")
        .unwrap();
    let (status, headers) = read_response_head(&mut reader).unwrap();
    assert_eq!(status, 200);
    assert!(headers.contains(&"Transfer-Encoding: chunked".to_owned()));
    assert_eq!(read_line(&mut reader).unwrap(), "10000");
    let mut chunk = vec![0u8; 65536];
    reader.read_exact(&mut chunk).unwrap();
    assert!(chunk == pattern(65536));
    assert_eq!(read_line(&mut reader).unwrap(), "");
    assert!(reader.buffer().is_empty(), "more than 64 KiB was sent");
    assert_silent(&mut stream, Duration::from_millis(800));
}

#[test]
fn expect_100_continue_gets_an_interim_response_before_the_body() {
    let backend = Backend::start();
    let mut stream = backend.connect();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    stream
        .write_all(
            b"PUT /u HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n",
        )
        .unwrap();
    assert_eq!(read_line(&mut reader).unwrap(), "HTTP/1.1 100 Continue");
    assert_eq!(read_line(&mut reader).unwrap(), "");
    stream.write_all(b"ok").unwrap();
    let response = read_response(&mut reader, false).unwrap();
    assert_eq!(response.status, 200);
    assert!(response.text().ends_with(&summary(b"ok")));
}

#[test]
fn malformed_requests_get_400_and_close() {
    let backend = Backend::start();
    let cases: &[&[u8]] = &[
        b"GARBAGE\r\n\r\n",
        b"GET  / HTTP/1.1\r\nHost: h\r\n\r\n",
        b"GET / HTTP/1.1 extra\r\n\r\n",
        b"GET / HTTX/1.1\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost h\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost : h\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: h\r\n folded\r\n\r\n",
        b"GET / HTTP/1.1\r\nX: a\x01b\r\n\r\n",
        b"GET / HTTP/1.1\r\nX: a\nY: b\r\n\r\n",
        b"POST / HTTP/1.1\r\nContent-Length: 12x\r\n\r\n",
        b"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
        b"POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
        b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n0\r\n\r\n",
        b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000000\r\n",
        b"GET /?status=abc HTTP/1.1\r\n\r\n",
        b"GET /?stall=body HTTP/1.1\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: h\r\n",
    ];
    for case in cases {
        let mut stream = backend.connect();
        stream.write_all(case).unwrap();
        // Half-close, so that a truncated head is seen as such.
        stream.shutdown(Shutdown::Write).unwrap();
        let mut reader = BufReader::new(stream);
        let response = read_response(&mut reader, false)
            .unwrap_or_else(|e| panic!("{:?}: {e}", String::from_utf8_lossy(case)));
        assert_eq!(
            response.status,
            400,
            "{:?} -> {}",
            String::from_utf8_lossy(case),
            String::from_utf8_lossy(&response.body)
        );
        assert_eq!(response.header("connection"), Some("close"));
        assert_closed(&mut reader);
    }
}

#[test]
fn unsupported_http_version_gets_505() {
    let backend = Backend::start();
    let response = backend.exchange(b"GET / HTTP/2.0\r\n\r\n");
    assert_eq!(response.status, 505);
}

#[test]
fn head_over_64_kib_gets_431_and_close() {
    let backend = Backend::start();
    let mut stream = backend.connect();
    let mut request = b"GET / HTTP/1.1\r\nHost: h\r\nX-Big: ".to_vec();
    request.resize(request.len() + 70 * 1024, b'x');
    request.extend_from_slice(b"\r\n\r\n");
    stream.write_all(&request).unwrap();
    let mut reader = BufReader::new(stream);
    let response = read_response(&mut reader, false).unwrap();
    assert_eq!(response.status, 431);
    assert_closed(&mut reader);
}

#[test]
fn head_just_under_64_kib_is_accepted() {
    let backend = Backend::start();
    let mut request = b"GET / HTTP/1.1\r\nX-Big: ".to_vec();
    request.resize(64 * 1024 - 4, b'y');
    request.extend_from_slice(b"\r\n\r\n");
    let response = backend.exchange(&request);
    assert_eq!(response.status, 200);
}

#[test]
fn server_survives_hostile_input_and_keeps_serving() {
    let backend = Backend::start();
    let junk: Vec<Vec<u8>> = vec![
        test_data(100_000),
        b"\r\n\r\n\r\n\r\n".to_vec(),
        b"\0\0\0\0\r\n\r\n".to_vec(),
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec(),
        b"GET /\xff\xfe HTTP/1.1\r\n\xff: \xff\r\n\r\n".to_vec(),
        b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\nab".to_vec(),
        b"POST / HTTP/1.1\r\nContent-Length: 18446744073709551615\r\n\r\nab".to_vec(),
        b"POST / HTTP/1.1\r\nContent-Length: 18446744073709551616\r\n\r\n".to_vec(),
        b"GET /?delay_ms=99999999999999999999 HTTP/1.1\r\n\r\n".to_vec(),
    ];
    for bytes in &junk {
        let mut stream = backend.connect();
        let _ = stream.write_all(bytes);
        let _ = stream.shutdown(Shutdown::Write);
        let mut sink = Vec::new();
        let _ = stream.read_to_end(&mut sink);
    }
    let response = backend.exchange(b"GET /alive HTTP/1.1\r\nHost: h\r\n\r\n");
    assert!(response.text().starts_with("GET /alive HTTP/1.1\n"));
}

#[test]
fn sigterm_exits_cleanly() {
    let mut backend = Backend::start();
    // An open, stalled connection does not hold the exit back.
    let mut stream = backend.connect();
    stream
        .write_all(b"GET /?stall=head HTTP/1.1\r\n\r\n")
        .unwrap();
    backend.signal("TERM");
    let status = backend.wait_exit(Duration::from_secs(5));
    assert!(status.success(), "{status:?}");
}

#[test]
fn sigint_exits_cleanly() {
    let mut backend = Backend::start();
    backend.signal("INT");
    let status = backend.wait_exit(Duration::from_secs(5));
    assert!(status.success(), "{status:?}");
}

#[test]
fn listen_on_an_address_in_use_fails() {
    let backend = Backend::start();
    let output = Command::new(env!("CARGO_BIN_EXE_echo-backend"))
        .args(["--listen", &backend.addr.to_string()])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(output.stdout.is_empty());
}
