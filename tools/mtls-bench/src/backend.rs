//! `mtls-bench backend`: a minimal static HTTP/1.x upstream for load tests.
//!
//! It answers every request with a fixed `200 OK` and a short body, keeps
//! connections alive unless the request is HTTP/1.0 without keep-alive or
//! says `Connection: close` (nginx as seeded sends both), and can require a
//! header (`--require-header "x-ssl-client-verify: SUCCESS"`), answering
//! `403` without it: a proxy that forgets the identity headers is caught by
//! the load generator's status check instead of looking faster.
//!
//! Request bodies are skipped by `Content-Length`; chunked bodies are not
//! supported (`501`, then close): the load generator sends none.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const MAX_HEAD: usize = 64 * 1024;
const BODY: &[u8] = b"ok\n";

/// Serves until the process is ended.
///
/// # Errors
/// The listen address cannot be bound.
pub async fn serve(listen: SocketAddr, require: Option<(String, String)>) -> std::io::Result<()> {
    let listener = TcpListener::bind(listen).await?;
    println!("listening on {}", listener.local_addr()?);
    let require = std::sync::Arc::new(require);
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let require = require.clone();
        tokio::spawn(async move {
            let _ = connection(tcp, &require).await;
        });
    }
}

struct Head {
    len: usize,
    keep_alive: bool,
    body: usize,
    chunked: bool,
    has_required: bool,
}

fn find_head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4)
}

fn parse_head(head: &[u8], require: &Option<(String, String)>) -> Head {
    let text = String::from_utf8_lossy(head);
    let mut lines = text.split("\r\n");
    let request_line = lines.next().unwrap_or("");
    let http10 = request_line.ends_with("HTTP/1.0");
    let mut keep_alive = !http10;
    let mut body = 0;
    let mut chunked = false;
    let mut has_required = require.is_none();
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let name = name.trim();
        let value = value.trim();
        if name.eq_ignore_ascii_case("connection") {
            for token in value.split(',').map(str::trim) {
                if token.eq_ignore_ascii_case("close") {
                    keep_alive = false;
                } else if token.eq_ignore_ascii_case("keep-alive") {
                    keep_alive = true;
                }
            }
        } else if name.eq_ignore_ascii_case("content-length") {
            body = value.parse().unwrap_or(0);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = true;
        }
        if let Some((want_name, want_value)) = require
            && name.eq_ignore_ascii_case(want_name)
            && value == want_value
        {
            has_required = true;
        }
    }
    Head {
        len: head.len(),
        keep_alive,
        body,
        chunked,
        has_required,
    }
}

async fn connection(mut tcp: TcpStream, require: &Option<(String, String)>) -> std::io::Result<()> {
    let mut buf: Vec<u8> = Vec::with_capacity(4096);
    let mut chunk = [0u8; 16 * 1024];
    let mut out = Vec::with_capacity(256);
    loop {
        let end = loop {
            if let Some(end) = find_head_end(&buf) {
                break end;
            }
            if buf.len() > MAX_HEAD {
                return Ok(());
            }
            let n = tcp.read(&mut chunk).await?;
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&chunk[..n]);
        };
        let head = parse_head(&buf[..end], require);
        out.clear();
        if head.chunked {
            out.extend_from_slice(
                b"HTTP/1.1 501 Not Implemented\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            );
            tcp.write_all(&out).await?;
            return Ok(());
        }
        // Skip the body.
        let mut skip = head.body;
        let have = buf.len() - head.len;
        if have >= skip {
            buf.drain(..head.len + skip);
        } else {
            skip -= have;
            buf.clear();
            while skip > 0 {
                let n = tcp.read(&mut chunk[..skip.min(16 * 1024)]).await?;
                if n == 0 {
                    return Ok(());
                }
                skip -= n;
            }
        }
        let (status, body): (&[u8], &[u8]) = if head.has_required {
            (b"200 OK", BODY)
        } else {
            (b"403 Forbidden", b"identity header missing\n")
        };
        out.extend_from_slice(b"HTTP/1.1 ");
        out.extend_from_slice(status);
        out.extend_from_slice(b"\r\nContent-Type: text/plain\r\nContent-Length: ");
        out.extend_from_slice(body.len().to_string().as_bytes());
        if !head.keep_alive {
            out.extend_from_slice(b"\r\nConnection: close");
        }
        out.extend_from_slice(b"\r\n\r\n");
        out.extend_from_slice(body);
        tcp.write_all(&out).await?;
        if !head.keep_alive {
            let _ = tcp.shutdown().await;
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads() {
        let req = Some(("X-SSL-Client-Verify".to_string(), "SUCCESS".to_string()));
        let h = parse_head(
            b"GET / HTTP/1.0\r\nHost: a\r\nConnection: close\r\nX-Ssl-Client-Verify: SUCCESS\r\n\r\n",
            &req,
        );
        assert!(!h.keep_alive && h.has_required);
        let h = parse_head(b"GET / HTTP/1.1\r\nContent-Length: 5\r\n\r\n", &req);
        assert!(h.keep_alive && !h.has_required && h.body == 5);
        assert_eq!(find_head_end(b"GET / HTTP/1.1\r\n\r\nxx"), Some(18));
    }
}
