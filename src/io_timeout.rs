//! A connection whose writes fail after a time without progress: nginx's
//! `send_timeout` towards clients and `proxy_send_timeout` towards
//! upstreams ("between two successive write operations").
//!
//! The timer exists only while a write or flush is blocked: a connection
//! that writes without waiting, or that has nothing to write (an idle
//! keep-alive connection), holds none. On expiry the write fails with
//! `TimedOut`, which ends hyper's connection, and with it every request on
//! it (their upstream requests are dropped, and their upstream connections
//! closed).
//!
//! [`Stall`] is that timer on its own, also used by the bodies that time out
//! between two reads (`client_body_timeout`, `proxy_read_timeout`).

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::rt::{Read, ReadBufCursor, Write};
use tokio::time::Sleep;

/// A timer armed only while something waits for progress: nothing is
/// allocated until the first wait, and progress disarms it.
#[derive(Debug, Default)]
pub struct Stall(Option<Pin<Box<Sleep>>>);

impl Stall {
    /// Whether a wait is being timed (a timer is allocated).
    pub fn is_armed(&self) -> bool {
        self.0.is_some()
    }

    /// Progress was made: the next wait starts a new timer.
    pub fn reset(&mut self) {
        self.0 = None;
    }

    /// Still waiting: whether `timeout` has passed since the wait began
    /// (`cx` is woken when it does).
    pub fn expired(&mut self, timeout: Duration, cx: &mut Context<'_>) -> bool {
        self.0
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)))
            .as_mut()
            .poll(cx)
            .is_ready()
    }
}

/// Who stopped taking data, for the error text.
#[derive(Debug, Clone, Copy)]
pub enum Peer {
    /// The client (`send_timeout`).
    Client,
    /// The upstream (`proxy_send_timeout`).
    Upstream,
}

/// See the module documentation.
#[derive(Debug)]
pub struct WriteTimeout<T> {
    inner: T,
    timeout: Duration,
    peer: Peer,
    /// Armed when a write blocks, dropped when one makes progress.
    stall: Stall,
}

impl<T> WriteTimeout<T> {
    pub fn new(inner: T, timeout: Duration, peer: Peer) -> Self {
        WriteTimeout {
            inner,
            timeout,
            peer,
            stall: Stall::default(),
        }
    }

    /// A write or flush returned `Pending`: fails once it has been blocked
    /// for the timeout.
    fn blocked<R>(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<R>> {
        let timeout = self.timeout;
        if !self.stall.expired(timeout, cx) {
            return Poll::Pending;
        }
        let text = match self.peer {
            Peer::Client => format!("client accepted no data for {timeout:?} (send_timeout)"),
            Peer::Upstream => {
                format!("upstream accepted no data for {timeout:?} (proxy_send_timeout)")
            }
        };
        Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, text)))
    }

    fn checked<R>(
        &mut self,
        cx: &mut Context<'_>,
        poll: Poll<io::Result<R>>,
    ) -> Poll<io::Result<R>> {
        match poll {
            Poll::Pending => self.blocked(cx),
            ready => {
                self.stall.reset();
                ready
            }
        }
    }
}

impl<T: Read + Unpin> Read for WriteTimeout<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: Write + Unpin> Write for WriteTimeout<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let poll = Pin::new(&mut this.inner).poll_write(cx, buf);
        this.checked(cx, poll)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let poll = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        this.checked(cx, poll)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let poll = Pin::new(&mut this.inner).poll_flush(cx);
        this.checked(cx, poll)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let poll = Pin::new(&mut this.inner).poll_shutdown(cx);
        this.checked(cx, poll)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper_util::rt::TokioIo;
    use tokio::io::AsyncReadExt;

    async fn write(
        io: &mut WriteTimeout<TokioIo<tokio::io::DuplexStream>>,
        buf: &[u8],
    ) -> io::Result<usize> {
        std::future::poll_fn(|cx| Pin::new(&mut *io).poll_write(cx, buf)).await
    }

    #[tokio::test]
    async fn a_write_blocked_for_the_timeout_fails_and_progress_restarts_it() {
        let timeout = Duration::from_millis(200);
        let (ours, mut peer) = tokio::io::duplex(16);
        let mut io = WriteTimeout::new(TokioIo::new(ours), timeout, Peer::Client);
        assert_eq!(write(&mut io, &[0; 16]).await.unwrap(), 16);
        assert!(!io.stall.is_armed(), "no timer while writes go through");
        // The peer takes one byte now and then, each within the timeout:
        // the write waits, but never times out.
        let reader = tokio::spawn(async move {
            let mut byte = [0u8; 1];
            for _ in 0..3 {
                tokio::time::sleep(timeout / 2).await;
                peer.read_exact(&mut byte).await.unwrap();
            }
            peer
        });
        for _ in 0..3 {
            assert_eq!(write(&mut io, &[0; 1]).await.unwrap(), 1);
        }
        let _peer = reader.await.unwrap();
        // Then it stops reading.
        let started = std::time::Instant::now();
        let err = write(&mut io, &[0; 1]).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert!(started.elapsed() >= timeout);
        assert_eq!(
            err.to_string(),
            "client accepted no data for 200ms (send_timeout)"
        );
    }
}
