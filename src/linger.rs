//! Lingering close (nginx's `lingering_close`).
//!
//! When the gateway ends a connection while the client is still sending
//! (an answer such as 431, 413 or 400 sent before the request was read to
//! the end), closing the socket at once makes the kernel answer the unread
//! input with a TCP reset. A client still busy sending then fails on its
//! next write and never reads the answer waiting for it. So the close is
//! done in two steps:
//!
//! 1. the write side is shut down: TLS `close_notify`, then the TCP FIN,
//!    which delivers everything written before;
//! 2. input is read and discarded until the client closes, no input came
//!    for `lingering_timeout`, `lingering_time` passed in all, or
//!    [`LINGER_MAX_BYTES`] were discarded. Only then is the socket closed.
//!
//! hyper awaits the IO's `poll_shutdown` when it closes an HTTP/1.1 (or
//! HTTP/2) connection, so [`LingeringClose`] does this there. It lingers
//! only when the close comes right after an answer ([`RECENT_ANSWER`]) or
//! when input is waiting; a client that closed first, or an idle keep-alive
//! connection closed by `keepalive_timeout`, closes at once. The lingering
//! state (a timer) is allocated when lingering starts; an open connection
//! pays a few bytes and one clock read per flushed answer.

use std::io;
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::{Instant, Sleep};

/// A close this soon after output was flushed follows an answer, whose
/// request may not have been read to the end: every answer hyper or the
/// gateway sends before closing (errors, `Connection: close`) is flushed
/// just before the close, in the same poll. An idle keep-alive connection
/// is closed `keepalive_timeout` after its last answer and does not linger
/// unless input is waiting.
pub const RECENT_ANSWER: Duration = Duration::from_secs(1);

/// At most this much input is discarded per lingering close. It covers the
/// usual early answers (the rest of a head over `max_request_header_size`,
/// itself at most 1 MiB; a body refused on its `Content-Length` a few MiB
/// over `client_max_body_size`) and bounds the reading one closing
/// connection can cause: without it a fast client could keep the gateway
/// reading at full speed for all of `lingering_time`. A client that sends
/// more after its answer is reset then, as nginx resets one that sends for
/// longer than `lingering_time`.
pub const LINGER_MAX_BYTES: u64 = 8 << 20;

/// Bytes discarded per read, in a buffer on the stack of the poll.
const DISCARD_CHUNK: usize = 8 << 10;

/// How long a lingering close may last (per server, from the configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lingering {
    /// `lingering_time`: the whole lingering, from the end of the write side.
    pub time: Duration,
    /// `lingering_timeout`: the longest wait for more input.
    pub timeout: Duration,
}

impl Lingering {
    fn enabled(&self) -> bool {
        !self.time.is_zero() && !self.timeout.is_zero()
    }
}

/// A stream whose raw TCP socket can be read once its own write side is
/// shut down: lingering discards the client's input below TLS, without
/// decrypting it.
pub trait Socket: AsyncRead + AsyncWrite + Unpin {
    fn tcp(&mut self) -> &mut TcpStream;
}

impl Socket for TcpStream {
    fn tcp(&mut self) -> &mut TcpStream {
        self
    }
}

impl Socket for tokio_rustls::server::TlsStream<TcpStream> {
    fn tcp(&mut self) -> &mut TcpStream {
        self.get_mut().0
    }
}

/// A client stream that closes lingeringly (see the module documentation).
#[derive(Debug)]
pub struct LingeringClose<S> {
    inner: S,
    limits: Lingering,
    /// When written output was last flushed.
    flushed_at: Option<Instant>,
    /// Output was written and not flushed yet.
    unflushed: bool,
    /// The client closed its side, or reading failed: nothing to wait for.
    peer_done: bool,
    close: Close,
}

#[derive(Debug)]
enum Close {
    Open,
    Lingering(Pin<Box<Linger>>),
    Closed,
}

pin_project_lite::pin_project! {
    /// The state of a lingering close, allocated when it starts.
    #[derive(Debug)]
    struct Linger {
        // Fires `lingering_timeout` after the last input, at the latest at `until`.
        #[pin]
        timer: Sleep,
        until: Instant,
        discarded: u64,
    }
}

impl<S: Socket> LingeringClose<S> {
    pub fn new(inner: S, limits: Lingering) -> LingeringClose<S> {
        LingeringClose {
            inner,
            limits,
            flushed_at: None,
            unflushed: false,
            peer_done: false,
            close: Close::Open,
        }
    }

    /// The wrapped stream.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// Whether to linger once the write side is shut down, and the input
    /// a probe already discarded.
    fn should_linger(&mut self, cx: &mut Context<'_>) -> Option<u64> {
        if self.peer_done || !self.limits.enabled() {
            return None;
        }
        let answered =
            self.unflushed || self.flushed_at.is_some_and(|t| t.elapsed() < RECENT_ANSWER);
        if answered {
            return Some(0);
        }
        // No answer just now (an idle connection closed by a timer, a reload
        // or shutdown): linger only if input is waiting.
        let mut chunk = [MaybeUninit::<u8>::uninit(); 512];
        let mut buf = ReadBuf::uninit(&mut chunk);
        match Pin::new(self.inner.tcp()).poll_read(cx, &mut buf) {
            Poll::Ready(Ok(())) if !buf.filled().is_empty() => {
                Some(u64::try_from(buf.filled().len()).unwrap_or(u64::MAX))
            }
            _ => None,
        }
    }
}

impl Linger {
    fn start(limits: Lingering, discarded: u64) -> Pin<Box<Linger>> {
        let now = Instant::now();
        let until = now + limits.time;
        Box::pin(Linger {
            timer: tokio::time::sleep_until((now + limits.timeout).min(until)),
            until,
            discarded,
        })
    }

    /// Discards input until the client closes or a bound is reached.
    fn poll_discard(
        self: Pin<&mut Self>,
        tcp: &mut TcpStream,
        timeout: Duration,
        cx: &mut Context<'_>,
    ) -> Poll<()> {
        let mut this = self.project();
        // Not zeroed: discarded input is never looked at.
        let mut chunk = [MaybeUninit::<u8>::uninit(); DISCARD_CHUNK];
        let mut got_input = false;
        loop {
            if *this.discarded >= LINGER_MAX_BYTES {
                return Poll::Ready(());
            }
            let mut buf = ReadBuf::uninit(&mut chunk);
            match Pin::new(&mut *tcp).poll_read(cx, &mut buf) {
                Poll::Ready(Ok(())) if buf.filled().is_empty() => return Poll::Ready(()),
                Poll::Ready(Ok(())) => {
                    *this.discarded = this
                        .discarded
                        .saturating_add(u64::try_from(buf.filled().len()).unwrap_or(u64::MAX));
                    got_input = true;
                }
                Poll::Ready(Err(_)) => return Poll::Ready(()),
                Poll::Pending => break,
            }
        }
        if got_input {
            let next = (Instant::now() + timeout).min(*this.until);
            this.timer.as_mut().reset(next);
        }
        this.timer.poll(cx)
    }
}

impl<S: Socket> AsyncRead for LingeringClose<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let room = buf.remaining() > 0;
        let before = buf.filled().len();
        let result = ready!(Pin::new(&mut this.inner).poll_read(cx, buf));
        match &result {
            Ok(()) if room && buf.filled().len() == before => this.peer_done = true,
            Ok(()) => {}
            Err(_) => this.peer_done = true,
        }
        Poll::Ready(result)
    }
}

impl<S: Socket> AsyncWrite for LingeringClose<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let result = ready!(Pin::new(&mut this.inner).poll_write(cx, buf));
        if matches!(result, Ok(n) if n > 0) {
            this.unflushed = true;
        }
        Poll::Ready(result)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let result = ready!(Pin::new(&mut this.inner).poll_write_vectored(cx, bufs));
        if matches!(result, Ok(n) if n > 0) {
            this.unflushed = true;
        }
        Poll::Ready(result)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let result = ready!(Pin::new(&mut this.inner).poll_flush(cx));
        if result.is_ok() && this.unflushed {
            this.unflushed = false;
            this.flushed_at = Some(Instant::now());
        }
        Poll::Ready(result)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            match &mut this.close {
                Close::Open => {
                    // Step 1: close_notify and FIN deliver what was written.
                    if let Err(e) = ready!(Pin::new(&mut this.inner).poll_shutdown(cx)) {
                        this.close = Close::Closed;
                        return Poll::Ready(Err(e));
                    }
                    this.close = match this.should_linger(cx) {
                        Some(discarded) => Close::Lingering(Linger::start(this.limits, discarded)),
                        None => Close::Closed,
                    };
                }
                Close::Lingering(linger) => {
                    // Step 2: discard input within the bounds.
                    ready!(
                        linger
                            .as_mut()
                            .poll_discard(this.inner.tcp(), this.limits.timeout, cx)
                    );
                    this.close = Close::Closed;
                }
                Close::Closed => return Poll::Ready(Ok(())),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant as StdInstant;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    const LIMITS: Lingering = Lingering {
        time: Duration::from_secs(2),
        timeout: Duration::from_millis(500),
    };

    /// A connected pair: (server side, client side).
    async fn pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (client, server) = tokio::join!(TcpStream::connect(addr), listener.accept());
        (server.unwrap().0, client.unwrap())
    }

    /// A client that sends `len` bytes, then reads until EOF: what it read,
    /// or the error that stopped it.
    fn send_then_read(
        mut client: TcpStream,
        len: usize,
    ) -> tokio::task::JoinHandle<io::Result<Vec<u8>>> {
        tokio::spawn(async move {
            client.write_all(&vec![b'x'; len]).await?;
            let mut answer = Vec::new();
            client.read_to_end(&mut answer).await?;
            Ok(answer)
        })
    }

    /// Reads `n` bytes, answers, flushes and closes as hyper does.
    async fn answer_early(server: &mut LingeringClose<TcpStream>, n: usize) {
        let mut head = vec![0u8; n];
        server.read_exact(&mut head).await.unwrap();
        server.write_all(b"answer").await.unwrap();
        server.flush().await.unwrap();
        server.shutdown().await.unwrap();
    }

    #[tokio::test]
    async fn a_client_still_sending_reads_an_early_answer() {
        let (server, client) = pair().await;
        let client = send_then_read(client, 4 << 20);
        let mut server = LingeringClose::new(server, LIMITS);
        answer_early(&mut server, 1000).await;
        drop(server);
        let answer = client.await.unwrap().expect("the client was reset");
        assert_eq!(answer, b"answer");
    }

    #[tokio::test]
    async fn without_lingering_the_same_client_is_reset() {
        // The failure the module prevents, on the same exchange.
        let (server, client) = pair().await;
        let client = send_then_read(client, 4 << 20);
        let mut server = LingeringClose::new(
            server,
            Lingering {
                time: Duration::ZERO,
                timeout: Duration::ZERO,
            },
        );
        answer_early(&mut server, 1000).await;
        drop(server);
        assert!(client.await.unwrap().is_err());
    }

    #[tokio::test]
    async fn an_idle_close_does_not_linger() {
        // Nothing answered recently and nothing waiting (a keep-alive
        // connection closed by its timer): closed at once, although the
        // client keeps its side open.
        let (server, _client) = pair().await;
        let mut server = LingeringClose::new(server, LIMITS);
        let started = StdInstant::now();
        server.shutdown().await.unwrap();
        assert!(started.elapsed() < Duration::from_millis(300));
        assert!(matches!(server.close, Close::Closed));
    }

    #[tokio::test]
    async fn waiting_input_makes_an_idle_close_linger() {
        let (server, client) = pair().await;
        let client = send_then_read(client, 1 << 20);
        tokio::time::sleep(Duration::from_millis(100)).await;
        let mut server = LingeringClose::new(server, LIMITS);
        server.shutdown().await.unwrap();
        drop(server);
        assert_eq!(client.await.unwrap().unwrap(), b"");
    }

    #[tokio::test]
    async fn a_client_that_closed_first_is_not_waited_for() {
        let (server, mut client) = pair().await;
        client.write_all(b"request").await.unwrap();
        client.shutdown().await.unwrap();
        let mut server = LingeringClose::new(server, LIMITS);
        let mut request = Vec::new();
        server.read_to_end(&mut request).await.unwrap();
        server.write_all(b"answer").await.unwrap();
        let started = StdInstant::now();
        server.shutdown().await.unwrap();
        assert!(started.elapsed() < Duration::from_millis(300));
        let mut answer = Vec::new();
        client.read_to_end(&mut answer).await.unwrap();
        assert_eq!(answer, b"answer");
    }

    #[tokio::test]
    async fn a_silent_client_is_left_after_lingering_timeout() {
        let (server, _client) = pair().await;
        let mut server = LingeringClose::new(server, LIMITS);
        server.write_all(b"answer").await.unwrap();
        let started = StdInstant::now();
        server.shutdown().await.unwrap();
        let took = started.elapsed();
        assert!(
            took >= Duration::from_millis(450) && took < Duration::from_millis(1500),
            "{took:?}"
        );
    }

    #[tokio::test]
    async fn a_trickling_client_is_left_after_lingering_time() {
        let (server, mut client) = pair().await;
        let trickle = tokio::spawn(async move {
            // A byte every 100 ms, within lingering_timeout, for 10 s at most.
            for _ in 0..100 {
                if client.write_all(b"x").await.is_err() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        let mut server = LingeringClose::new(server, LIMITS);
        server.write_all(b"answer").await.unwrap();
        let started = StdInstant::now();
        server.shutdown().await.unwrap();
        let took = started.elapsed();
        assert!(
            took >= Duration::from_millis(1900) && took < Duration::from_secs(4),
            "{took:?}"
        );
        drop(server);
        trickle.abort();
    }

    #[tokio::test]
    async fn a_client_sending_without_end_is_left_after_the_byte_cap() {
        let (server, mut client) = pair().await;
        let flood = tokio::spawn(async move {
            let chunk = vec![b'x'; 64 << 10];
            while client.write_all(&chunk).await.is_ok() {}
        });
        let long = Lingering {
            time: Duration::from_secs(30),
            timeout: Duration::from_secs(30),
        };
        let mut server = LingeringClose::new(server, long);
        server.write_all(b"answer").await.unwrap();
        let started = StdInstant::now();
        server.shutdown().await.unwrap();
        assert!(started.elapsed() < Duration::from_secs(10));
        match &server.close {
            Close::Closed => {}
            other => panic!("{other:?}"),
        }
        drop(server);
        flood.await.unwrap();
    }
}
