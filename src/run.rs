//! Starting and stopping the gateway: build the runtime from a validated
//! configuration, bind every address (or refuse to start), serve until
//! SIGTERM/SIGINT, then drain in-flight requests.

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::sync::{mpsc, watch};

use crate::config::Config;
use crate::listener::{self, Shared};
use crate::runtime::Generation;

/// How long in-flight requests may take to finish after a shutdown signal.
pub const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(30);

/// Serves `config` until a shutdown signal.
///
/// # Errors
/// A message if the runtime cannot be built or an address cannot be bound;
/// nothing is served in that case.
pub async fn run(config: Config) -> Result<(), String> {
    let source = config.source.clone();
    let generation = Generation::build(config)?;
    let listeners = listener::bind(&generation).await?;
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let (alive_tx, mut alive_rx) = mpsc::channel::<()>(1);
    let addrs: Vec<_> = generation.groups.iter().map(|g| g.addr).collect();
    let shared = Arc::new(Shared {
        generation: ArcSwap::from_pointee(generation),
        shutdown: shutdown_rx,
        alive: alive_tx,
    });
    let mut loops = Vec::new();
    for (listener, configured) in listeners.into_iter().zip(addrs) {
        let bound = listener.local_addr().map_err(|e| e.to_string())?;
        tracing::info!(addr = %bound, configured = %configured, "listening on {bound}");
        loops.push(tokio::spawn(listener::accept_loop(
            listener,
            configured,
            shared.clone(),
        )));
    }
    tracing::info!(config = %source.display(), "mtls-gateway ready");

    shutdown_signal().await;
    tracing::info!("shutting down: no new connections, finishing in-flight requests");
    let _ = shutdown_tx.send(true);
    for l in loops {
        let _ = l.await;
    }
    drop(shared);
    match tokio::time::timeout(SHUTDOWN_TIMEOUT, alive_rx.recv()).await {
        Ok(_) => tracing::info!("all connections finished; exiting"),
        Err(_) => {
            tracing::warn!("connections still open after {SHUTDOWN_TIMEOUT:?}; exiting anyway")
        }
    }
    Ok(())
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let term = signal(SignalKind::terminate());
    let int = signal(SignalKind::interrupt());
    match (term, int) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
        _ => {
            // Signal handlers unavailable: fall back to Ctrl-C only.
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
