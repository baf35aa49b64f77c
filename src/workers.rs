//! Shared-nothing workers: one per CPU the process may run on, each a
//! thread with its own single-threaded tokio runtime, as nginx's worker
//! processes, HAProxy's threads and Envoy's workers are. A connection is
//! served from its accept to its close on one worker, with the upstream
//! connections of that worker ([`crate::proxy`] keeps a pool per worker),
//! so a request never wakes a task on another thread and nothing on the
//! request path is shared between threads but atomic counters.
//!
//! Worker 0 is the main thread's runtime, which also runs the accept
//! loops, signals, reloads and the admin listener; workers 1.. are threads
//! of their own. The accept loop hands each connection to the worker with
//! the fewest open connections (worker 0 when there is only one, without
//! a hand-over), so a few long-lived connections (HTTP/2) spread evenly,
//! which `SO_REUSEPORT`'s hashing does not promise.

use std::cell::Cell;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::JoinHandle;

use tokio::net::TcpStream;
use tokio::runtime::Handle;
use tokio::sync::oneshot;

/// Workers started ([`Workers::start`]); 1 until then.
static COUNT: AtomicUsize = AtomicUsize::new(1);

/// How many workers the process runs (1 before they are started, and in
/// tests and benches): the number of upstream pools a location keeps.
pub fn count() -> usize {
    COUNT.load(Ordering::Relaxed).max(1)
}

thread_local! {
    /// The index of the worker running on this thread (0 elsewhere).
    static INDEX: Cell<usize> = const { Cell::new(0) };
}

/// The index of the worker running on this thread: 0 on the main thread
/// and on threads that are no worker (tests, benches).
pub fn current() -> usize {
    INDEX.with(Cell::get)
}

/// How many workers the process runs: one per CPU it may run on (its
/// affinity mask, e.g. `taskset`, and cgroup quota), at least one.
pub fn default_count() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
}

/// One worker: where its connections are spawned, and how many it has.
struct Worker {
    /// `None` for worker 0 (the current runtime of the accept loop).
    handle: Option<Handle>,
    open: AtomicUsize,
}

/// The running workers.
pub struct Workers {
    workers: Box<[Worker]>,
    /// Where the search for the least-loaded worker starts (rotates, so
    /// ties spread).
    next: AtomicUsize,
    stops: std::sync::Mutex<Vec<(oneshot::Sender<()>, JoinHandle<()>)>>,
}

impl std::fmt::Debug for Workers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Workers")
            .field("count", &self.workers.len())
            .finish_non_exhaustive()
    }
}

/// A connection counted on its worker until dropped.
struct Open(Arc<Workers>, usize);

impl Drop for Open {
    fn drop(&mut self) {
        if let Some(w) = self.0.workers.get(self.1) {
            w.open.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

impl Workers {
    /// Starts `count - 1` worker threads (worker 0 is the calling thread's
    /// runtime, which must be a tokio runtime).
    ///
    /// # Errors
    /// A thread or its runtime could not be started.
    pub fn start(count: usize) -> std::io::Result<Arc<Workers>> {
        let count = count.max(1);
        let mut workers = vec![Worker {
            handle: None,
            open: AtomicUsize::new(0),
        }];
        let mut stops = Vec::new();
        for index in 1..count {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let handle = runtime.handle().clone();
            let (stop_tx, stop_rx) = oneshot::channel::<()>();
            let thread = std::thread::Builder::new()
                .name(format!("worker-{index}"))
                .spawn(move || {
                    INDEX.with(|i| i.set(index));
                    // Until the process stops the workers; their
                    // connections have ended by then (or are cut).
                    let _ = runtime.block_on(stop_rx);
                })?;
            stops.push((stop_tx, thread));
            workers.push(Worker {
                handle: Some(handle),
                open: AtomicUsize::new(0),
            });
        }
        COUNT.store(workers.len(), Ordering::Relaxed);
        Ok(Arc::new(Workers {
            workers: workers.into_boxed_slice(),
            next: AtomicUsize::new(0),
            stops: std::sync::Mutex::new(stops),
        }))
    }

    /// How many workers there are.
    pub fn count(&self) -> usize {
        self.workers.len()
    }

    /// Open connections on each worker.
    pub fn open_connections(&self) -> Vec<usize> {
        self.workers
            .iter()
            .map(|w| w.open.load(Ordering::Relaxed))
            .collect()
    }

    /// The worker with the fewest open connections (ties: in turn).
    fn pick(&self) -> usize {
        let n = self.workers.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed) % n;
        (0..n)
            .map(|k| (start + k) % n)
            .min_by_key(|&i| self.workers[i].open.load(Ordering::Relaxed))
            .unwrap_or(0)
    }

    /// Serves the accepted `tcp` on the least-loaded worker: `serve` runs
    /// there, with the stream registered with that worker's reactor.
    pub fn dispatch<F, Fut>(self: &Arc<Self>, tcp: TcpStream, serve: F)
    where
        F: FnOnce(TcpStream) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let index = self.pick();
        self.workers[index].open.fetch_add(1, Ordering::Relaxed);
        let open = Open(self.clone(), index);
        match &self.workers[index].handle {
            None => {
                tokio::spawn(async move {
                    serve(tcp).await;
                    drop(open);
                });
            }
            Some(handle) => {
                // Moved to the worker's reactor: deregistered here,
                // registered there.
                let std = match tcp.into_std() {
                    Ok(std) => std,
                    Err(e) => {
                        tracing::debug!(error = %e, "cannot hand a connection to a worker");
                        return;
                    }
                };
                handle.spawn(async move {
                    match TcpStream::from_std(std) {
                        Ok(tcp) => serve(tcp).await,
                        Err(e) => {
                            tracing::debug!(error = %e, "worker cannot take a connection")
                        }
                    }
                    drop(open);
                });
            }
        }
    }

    /// Stops the worker threads (their remaining tasks are dropped) and
    /// waits for them.
    pub fn stop(&self) {
        let stops = std::mem::take(&mut *self.stops.lock().unwrap_or_else(|p| p.into_inner()));
        for (stop, thread) in stops {
            let _ = stop.send(());
            let _ = thread.join();
        }
    }
}
