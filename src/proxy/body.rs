//! The bodies around an exchange: the client's request body signalling
//! when it has been sent whole ([`SignalOnEnd`], which starts
//! `proxy_read_timeout`), and the upstream's response body with
//! `proxy_read_timeout` between reads, giving its connection back to the
//! pool once read to the end ([`TimeoutBody`]).

use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};
use hyper::body::Incoming;
use tokio::sync::oneshot;

use super::pool::PooledConn;
use crate::body::BoxError;
use crate::io_timeout::Stall;

pin_project_lite::pin_project! {
    /// The client's request body, signalling when it has been sent whole.
    #[derive(Debug)]
    pub struct SignalOnEnd<B> {
        #[pin]
        inner: B,
        done: Option<oneshot::Sender<()>>,
    }
}

impl<B: HttpBody> SignalOnEnd<B> {
    pub(super) fn new(inner: B, done: oneshot::Sender<()>) -> Self {
        let mut this = SignalOnEnd {
            done: Some(done),
            inner,
        };
        if this.inner.is_end_stream()
            && let Some(tx) = this.done.take()
        {
            let _ = tx.send(());
        }
        this
    }
}

impl<B: HttpBody> HttpBody for SignalOnEnd<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        let frame = ready!(this.inner.poll_frame(cx));
        if frame.is_none()
            && let Some(tx) = this.done.take()
        {
            let _ = tx.send(());
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The upstream's response body: fails after `timeout` without data, and
/// returns the connection to the pool once read to the end. Dropped before
/// that (the client went away, or the upstream stalled), the connection is
/// closed instead.
pub(super) struct TimeoutBody {
    pub(super) inner: Incoming,
    pub(super) timeout: Duration,
    pub(super) stall: Stall,
    pub(super) conn: Option<PooledConn>,
}

impl TimeoutBody {
    pub(super) fn finished(&mut self) {
        if let Some(conn) = self.conn.take() {
            conn.give_back();
        }
    }
}

impl HttpBody for TimeoutBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => {
                this.stall.reset();
                match &frame {
                    None => this.finished(),
                    Some(Err(_)) => this.conn = None,
                    Some(Ok(_)) if this.inner.is_end_stream() => this.finished(),
                    Some(Ok(_)) => {}
                }
                Poll::Ready(frame.map(|f| f.map_err(Into::into)))
            }
            Poll::Pending => {
                let timeout = this.timeout;
                if !this.stall.expired(timeout, cx) {
                    return Poll::Pending;
                }
                this.conn = None;
                tracing::warn!(timeout = ?timeout, "upstream stalled mid-body (proxy_read_timeout); response cut");
                Poll::Ready(Some(Err(format!(
                    "upstream sent no data for {timeout:?} (proxy_read_timeout)"
                )
                .into())))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
