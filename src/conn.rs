//! The live side of one client connection: its [`ConnFacts`] (what
//! templates read) with the handles a connection needs while it serves (the
//! server block and configuration generation it was accepted under, metrics,
//! the access log, close and retire signals). Built once per connection in
//! the listener and shared by its requests, which it also counts: how many are in flight and since when it is idle
//! (`keepalive_timeout`), and which HTTP/2 responses wait on the client
//! (`send_timeout`).

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use tokio::sync::Notify;

use crate::access_log::AccessLogger;
use crate::facts::ConnFacts;
use crate::metrics::Metrics;
use crate::runtime::{Generation, ServerRuntime};
use crate::send_watch::{SendWatch, Waiting};
use crate::verify::access::{AccessPolicy, Decision};

/// One accepted, handshaken connection.
#[derive(Debug)]
pub struct ConnCtx {
    /// What templates and header rewrite read.
    pub facts: ConnFacts,
    /// The server block the SNI selected.
    pub server: Arc<ServerRuntime>,
    /// Wakes the connection's task: when a response asks for the
    /// connection to be closed (`close_requested`), and when the first
    /// HTTP/2 response waits on the client while the task is not ticking
    /// (`send_watch`). One `Notify` for both keeps idle connections small.
    pub(crate) wake: Notify,
    /// A response asked for the connection to be closed (the HTTP/2
    /// equivalent of `Connection: close`).
    close_requested: AtomicBool,
    /// Set when a reload replaced this connection's configuration: the
    /// next response closes the connection (HTTP/1.1 `Connection: close`,
    /// HTTP/2 GOAWAY) so the client reconnects to the new configuration.
    pub(crate) retiring: AtomicBool,
    pub metrics: Arc<Metrics>,
    pub access_log: Arc<AccessLogger>,
    /// The configuration this connection was accepted under, and the
    /// index of its listen address there (for the 421 check).
    pub generation: Arc<Generation>,
    pub group: usize,
    /// Requests whose response has not been fully sent yet.
    in_flight: AtomicUsize,
    /// When the connection was set up; `last_active` counts from it.
    born: Instant,
    /// Milliseconds after `born` when a request last started or ended.
    /// Read by the keep-alive timer when it fires, so requests never wake
    /// the connection's task.
    last_active: AtomicU64,
    /// HTTP/2 responses waiting on the client (`send_timeout`).
    pub(crate) send_watch: SendWatch,
    /// The configuration serving new connections: after a reload, the
    /// access policy of the new generation applies to this connection's
    /// next request.
    latest: Arc<ArcSwap<Generation>>,
    /// Access decisions made for this connection's identity: (generation
    /// number, location index in that generation's server, decision). The
    /// identity never changes, so a decision holds until a reload.
    access: Mutex<Vec<(u64, usize, Decision)>>,
    /// `$ssl_client_jwt` tokens signed for this connection, by audience.
    pub assertion_tokens: crate::assertion::TokenCache,
}

impl ConnCtx {
    /// A connection's context once its handshake and verdict are done.
    pub fn new(
        facts: ConnFacts,
        server: Arc<ServerRuntime>,
        generation: Arc<Generation>,
        latest: Arc<ArcSwap<Generation>>,
        group: usize,
        metrics: Arc<Metrics>,
        access_log: Arc<AccessLogger>,
    ) -> ConnCtx {
        ConnCtx {
            facts,
            server,
            wake: Notify::new(),
            close_requested: AtomicBool::new(false),
            retiring: AtomicBool::new(false),
            metrics,
            access_log,
            generation,
            group,
            in_flight: AtomicUsize::new(0),
            born: Instant::now(),
            last_active: AtomicU64::new(0),
            send_watch: SendWatch::default(),
            latest,
            access: Mutex::new(Vec::new()),
            assertion_tokens: crate::assertion::TokenCache::default(),
        }
    }

    /// The generation serving new connections, when a reload has replaced
    /// this connection's.
    pub fn newer_generation(&self) -> Option<Arc<Generation>> {
        let latest = self.latest.load();
        (latest.number != self.generation.number).then(|| arc_swap::Guard::into_inner(latest))
    }

    /// `policy`'s decision for this connection's identity at the location
    /// `location` of generation `generation`: made once, then cached until
    /// a newer generation decides.
    pub fn access_decision(
        &self,
        generation: u64,
        location: usize,
        policy: &AccessPolicy,
    ) -> Decision {
        let mut cache = self.access.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((_, _, d)) = cache
            .iter()
            .find(|(g, l, _)| *g == generation && *l == location)
        {
            return *d;
        }
        cache.retain(|(g, _, _)| *g == generation);
        let decision = policy.decide(&self.facts.peer);
        cache.push((generation, location, decision));
        decision
    }

    fn touch(&self, now: Instant) {
        let ms = now.saturating_duration_since(self.born).as_millis();
        self.last_active
            .store(u64::try_from(ms).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    /// A request of this connection started at `now`: it is in flight until
    /// the returned guard is dropped, whichever way the request ends.
    pub fn request_started(self: Arc<Self>, now: Instant) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.touch(now);
        InFlight {
            conn: self,
            waiting: None,
        }
    }

    /// Asks the connection's task to close the connection gracefully after
    /// the responses in flight (HTTP/2 GOAWAY).
    pub(crate) fn request_close(&self) {
        self.close_requested.store(true, Ordering::Release);
        self.wake.notify_one();
    }

    /// Whether a response asked for the connection to be closed.
    pub(crate) fn close_requested(&self) -> bool {
        self.close_requested.load(Ordering::Acquire)
    }

    /// A request's response was sent (or abandoned) at `now`.
    fn request_done(&self, now: Instant) {
        self.touch(now);
        self.in_flight.fetch_sub(1, Ordering::AcqRel);
    }

    /// When the connection will have been idle for `timeout`, or `None` if
    /// that is already the case (no request in flight and none started or
    /// ended within `timeout`).
    pub fn idle_deadline(&self, timeout: Duration) -> Option<Instant> {
        let last = self.born + Duration::from_millis(self.last_active.load(Ordering::Relaxed));
        let now = Instant::now();
        if self.in_flight.load(Ordering::Acquire) > 0 {
            return Some(now + timeout);
        }
        let deadline = last + timeout;
        (deadline > now).then_some(deadline)
    }

    /// Whether `host` is a name of another server block on this connection's
    /// listen address.
    pub fn names_other_server(&self, host: &str) -> bool {
        self.generation.groups.get(self.group).is_some_and(|g| {
            g.servers
                .iter()
                .any(|s| !Arc::ptr_eq(s, &self.server) && s.answers_to(host))
        })
    }
}

/// One request of a connection, from the moment hyper hands it over until
/// its response has been sent or abandoned. Dropping it is the only way to
/// end the request, so no path out of a request (a response sent, a client
/// that reset the stream or closed the connection before the answer, a
/// panic) leaves the connection counted busy forever.
pub struct InFlight {
    conn: Arc<ConnCtx>,
    /// While an HTTP/2 response waits on the client.
    waiting: Option<Waiting>,
}

impl InFlight {
    /// The connection of the request.
    pub fn conn(&self) -> &Arc<ConnCtx> {
        &self.conn
    }

    /// The HTTP/2 response handed a chunk over and waits until asked for
    /// the next one (which it is not while the client's window is 0).
    pub fn waiting(&mut self) {
        if self.waiting.is_none() {
            let (waiting, wake) = self.conn.send_watch.start();
            self.waiting = Some(waiting);
            if wake {
                self.conn.wake.notify_one();
            }
        }
    }

    /// The response is asked for its next chunk: the client takes data.
    pub fn progressed(&mut self) {
        if let Some(waiting) = self.waiting.take() {
            self.conn.send_watch.stop(waiting);
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.progressed();
        self.conn.request_done(Instant::now());
    }
}

impl std::fmt::Debug for InFlight {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InFlight")
            .field("remote", &self.conn.facts.remote)
            .field("waiting", &self.waiting)
            .finish()
    }
}
