//! Idle keep-alive connections of one location ([`Pool`]): the most
//! recently used is taken first, at most `keepalive` stay open, and a sweep
//! task closes those idle past `keepalive_timeout`. A [`PooledConn`] is the
//! connection a response is being read from, given back when its body has
//! been read whole.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use super::Sender;
use crate::config::UpstreamKeepalive;

/// Longest interval between two sweeps of expired idle connections.
const MAX_SWEEP_INTERVAL: Duration = Duration::from_secs(15);

/// Idle keep-alive connections of one location, most recently used last.
#[derive(Debug)]
pub(super) struct Pool {
    idle: Mutex<Vec<IdleConn>>,
    settings: UpstreamKeepalive,
    /// Whether the task that closes expired idle connections runs.
    sweeping: AtomicBool,
}

#[derive(Debug)]
struct IdleConn {
    sender: Sender,
    addr: Arc<str>,
    since: Instant,
}

impl IdleConn {
    fn usable(&self, timeout: Duration) -> bool {
        !self.sender.is_closed() && self.since.elapsed() < timeout
    }
}

impl Pool {
    pub(super) fn new(settings: UpstreamKeepalive) -> Pool {
        Pool {
            idle: Mutex::new(Vec::new()),
            settings,
            sweeping: AtomicBool::new(false),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<IdleConn>> {
        self.idle.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The most recently used idle connection (LIFO keeps the fewest open).
    pub(super) fn checkout(&self) -> Option<(Sender, Arc<str>)> {
        let mut idle = self.lock();
        while let Some(conn) = idle.pop() {
            if conn.usable(self.settings.timeout) {
                return Some((conn.sender, conn.addr));
            }
        }
        None
    }

    /// Returns a connection whose exchange is complete.
    pub(super) fn give_back(self: &Arc<Self>, sender: Sender, addr: Arc<str>) {
        if sender.is_closed() {
            return;
        }
        {
            let mut idle = self.lock();
            if idle.len() >= self.settings.max_idle {
                return; // dropping the sender closes the connection
            }
            idle.push(IdleConn {
                sender,
                addr,
                since: Instant::now(),
            });
        }
        if !self.sweeping.swap(true, Ordering::Relaxed)
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            runtime.spawn(sweep(Arc::downgrade(self)));
        }
    }
}

/// Closes idle connections past `keepalive_timeout` (and forgets those the
/// upstream closed) until the pool is dropped with its configuration.
async fn sweep(pool: Weak<Pool>) {
    let Some(timeout) = pool.upgrade().map(|p| p.settings.timeout) else {
        return;
    };
    let interval = (timeout / 4).clamp(Duration::from_millis(50), MAX_SWEEP_INTERVAL);
    loop {
        tokio::time::sleep(interval).await;
        let Some(pool) = pool.upgrade() else { return };
        pool.lock().retain(|c| c.usable(timeout));
    }
}

/// The connection a response is being read from; back to the pool when the
/// response body has been read whole.
#[derive(Debug)]
pub(super) struct PooledConn {
    pub(super) sender: Sender,
    pub(super) addr: Arc<str>,
    pub(super) pool: Arc<Pool>,
}

impl PooledConn {
    pub(super) fn give_back(self) {
        self.pool.give_back(self.sender, self.addr);
    }
}
