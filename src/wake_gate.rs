//! [`Gated`]: a future polled only after its own waker fired.
//!
//! A connection's task (`listener::serve`) waits on its HTTP connection and,
//! beside it, on signals that fire about once in its life: shutdown, a
//! reload retiring its configuration, a close request. `select!` polls every
//! branch whenever the task wakes, and the task wakes several times per
//! request for the HTTP connection alone; polling a `watch::Receiver::changed`
//! or `Notify::notified` future takes the lock of its waiter list, and the
//! shutdown and reload channels are shared by every connection of every
//! worker. Wrapped in [`Gated`], such a future is polled once to register,
//! then again only when it woke the task itself: the other wake-ups cost one
//! atomic swap.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};

pin_project_lite::pin_project! {
    /// `inner`, polled on the first poll and after each wake-up of its own.
    pub struct Gated<F> {
        #[pin]
        inner: F,
        gate: Arc<Gate>,
    }
}

/// The waker `inner` is polled with: it notes the wake-up and passes it on
/// to the task.
struct Gate {
    woken: AtomicBool,
    /// The waker of the task that polls the [`Gated`], stored when `inner`
    /// is polled.
    task: Mutex<Option<Waker>>,
}

impl Wake for Gate {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::Release);
        // A poisoned lock only means a panic elsewhere while it was held;
        // the waker inside is still whole.
        let task = self.task.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(task) = task.as_ref() {
            task.wake_by_ref();
        }
    }
}

impl<F> Gated<F> {
    pub fn new(inner: F) -> Gated<F> {
        Gated {
            inner,
            gate: Arc::new(Gate {
                // Polled on the first poll, to register.
                woken: AtomicBool::new(true),
                task: Mutex::new(None),
            }),
        }
    }
}

impl<F: Future> Future for Gated<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        if !this.gate.woken.swap(false, Ordering::AcqRel) {
            return Poll::Pending;
        }
        {
            let mut task = this.gate.task.lock().unwrap_or_else(|e| e.into_inner());
            if !task.as_ref().is_some_and(|t| t.will_wake(cx.waker())) {
                *task = Some(cx.waker().clone());
            }
        }
        let waker = Waker::from(this.gate.clone());
        this.inner.poll(&mut Context::from_waker(&waker))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use tokio::sync::{Notify, watch};

    /// Counts the polls of a future that is never ready on its own.
    struct CountPolls<'a> {
        polls: &'a AtomicUsize,
        notified: Pin<Box<tokio::sync::futures::Notified<'a>>>,
    }

    impl Future for CountPolls<'_> {
        type Output = ();
        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            self.polls.fetch_add(1, Ordering::Relaxed);
            self.notified.as_mut().poll(cx)
        }
    }

    struct NoopWake(AtomicUsize);
    impl Wake for NoopWake {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    #[test]
    fn polled_only_after_its_own_wake_up_and_passes_it_on() {
        let notify = Notify::new();
        let polls = AtomicUsize::new(0);
        let mut gated = Box::pin(Gated::new(CountPolls {
            polls: &polls,
            notified: Box::pin(notify.notified()),
        }));
        let task = Arc::new(NoopWake(AtomicUsize::new(0)));
        let waker = Waker::from(task.clone());
        let mut cx = Context::from_waker(&waker);
        assert!(gated.as_mut().poll(&mut cx).is_pending());
        assert_eq!(polls.load(Ordering::Relaxed), 1, "the first poll registers");
        // Woken for other reasons: the inner future is not polled.
        for _ in 0..10 {
            assert!(gated.as_mut().poll(&mut cx).is_pending());
        }
        assert_eq!(polls.load(Ordering::Relaxed), 1);
        // Its own wake-up reaches the task, and the next poll polls it.
        notify.notify_waiters();
        assert_eq!(task.0.load(Ordering::Relaxed), 1, "the task was woken");
        assert!(gated.as_mut().poll(&mut cx).is_ready());
        assert_eq!(polls.load(Ordering::Relaxed), 2);
    }

    #[tokio::test]
    async fn a_watch_change_gets_through() {
        let (tx, mut rx) = watch::channel(false);
        let changed = Gated::new(rx.changed());
        tokio::pin!(changed);
        let sender = tokio::spawn(async move {
            tokio::task::yield_now().await;
            tx.send(true).unwrap();
            tx
        });
        tokio::time::timeout(std::time::Duration::from_secs(5), changed)
            .await
            .unwrap()
            .unwrap();
        drop(sender.await.unwrap());
    }
}
