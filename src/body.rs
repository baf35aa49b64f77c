//! Bodies: the type of every response body the gateway sends ([`Body`]),
//! and the client's request body on its way upstream ([`LimitedBody`]): at most
//! `client_max_body_size` bytes, and no more than `client_body_timeout`
//! between two reads (nginx's limits). Either violation aborts the body,
//! which aborts the upstream request rather than passing a truncated one on.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};
use hyper::body::Incoming;

use crate::io_timeout::Stall;

use http_body_util::{BodyExt, Full, combinators::BoxBody};

/// Error type of response bodies.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
/// The body of every response the gateway sends.
pub type Body = BoxBody<Bytes, BoxError>;

/// A whole body from bytes.
pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed()
}

/// Why a request body was cut.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("request body exceeds client_max_body_size ({limit} bytes)")]
    TooLarge { limit: u64 },
    #[error("client sent no body data for {0:?} (client_body_timeout)")]
    Timeout(Duration),
    #[error("reading the request body: {0}")]
    Client(#[from] hyper::Error),
}

pin_project_lite::pin_project! {
    /// See the module documentation.
    #[derive(Debug)]
    pub struct LimitedBody {
        #[pin]
        inner: Incoming,
        // 0 = unlimited.
        limit: u64,
        seen: u64,
        timeout: Duration,
        stall: Stall,
    }
}

impl LimitedBody {
    pub fn new(inner: Incoming, limit: u64, timeout: Duration) -> LimitedBody {
        LimitedBody {
            inner,
            limit,
            seen: 0,
            timeout,
            stall: Stall::default(),
        }
    }
}

impl HttpBody for LimitedBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.project();
        match this.inner.poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                this.stall.reset();
                if let Some(data) = frame.data_ref() {
                    *this.seen = this
                        .seen
                        .saturating_add(u64::try_from(data.len()).unwrap_or(u64::MAX));
                    if *this.limit > 0 && *this.seen > *this.limit {
                        tracing::info!(
                            limit = *this.limit,
                            "request body too large; upstream request aborted"
                        );
                        return Poll::Ready(Some(Err(
                            BodyError::TooLarge { limit: *this.limit }.into()
                        )));
                    }
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(BodyError::Client(e).into()))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => {
                let timeout = *this.timeout;
                if !this.stall.expired(timeout, cx) {
                    return Poll::Pending;
                }
                tracing::info!(timeout = ?timeout, "client stalled its request body (client_body_timeout)");
                Poll::Ready(Some(Err(BodyError::Timeout(timeout).into())))
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
