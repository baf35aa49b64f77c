//! `send_timeout` for single HTTP/2 streams.
//!
//! A client that keeps a stream's flow-control window at 0 makes hyper stop
//! polling that stream's response body, so the body cannot time itself out,
//! and the connection's socket keeps moving (other streams, PINGs), so the
//! connection's write timeout ([`crate::io_timeout`]) does not fire either.
//! Left alone, each such stream holds its upstream connection for ever.
//!
//! So each HTTP/2 response body reports when it starts waiting on the client
//! (it handed a chunk over) and when it stops (it is asked for the next one,
//! or dropped), and the connection's task checks in ticks of `send_timeout /
//! SEND_TICKS` whether one has waited for `send_timeout`; then it closes the
//! connection, which drops every response body and upstream request on it.
//! (hyper offers no way to reset one stream whose body it is not polling.)
//!
//! Waiting bodies are counted per tick in which they started waiting, in a
//! ring of `SEND_TICKS + 1` counters: a new tick reuses the oldest counter,
//! whose bodies started waiting before the tick `SEND_TICKS` ticks ago
//! began, so it must be zero. A stalled body is found between `send_timeout`
//! and `send_timeout * (1 + 1 / SEND_TICKS)` after it started waiting. This
//! costs two atomic operations per chunk, no timer and no allocation per
//! response; the task ticks only while a body waits, and the first body to
//! wait wakes it.

use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, Ordering};

/// Ticks per `send_timeout`: the check's resolution.
pub const SEND_TICKS: u32 = 4;
/// Counters in the ring: one per tick of the window, plus the one reused.
#[allow(clippy::as_conversions)] // const context (`From` is not const); 4 + 1 fits a u8
const SLOTS: u8 = SEND_TICKS as u8 + 1;
/// `SLOTS` as an array length.
#[allow(clippy::as_conversions)] // const context; a u8 fits every usize
const SLOT_COUNT: usize = SLOTS as usize;

/// What a tick found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendTick {
    /// No body waits on the client: ticking can stop until one does.
    Quiet,
    /// Bodies wait, none for `send_timeout` yet.
    Waiting,
    /// A body has waited on the client for `send_timeout`.
    Stalled,
}

/// One connection's waiting HTTP/2 response bodies (see the module docs).
#[derive(Debug, Default)]
pub struct SendWatch {
    /// Bodies waiting, by the tick in which they started (a ring of slots).
    waiting: [AtomicU32; SLOT_COUNT],
    /// The current tick's slot; only the connection's task advances it.
    slot: AtomicU8,
    /// Whether the connection's task is ticking.
    ticking: AtomicBool,
}

/// A body's place in the count while it waits; give it back with
/// [`SendWatch::stop`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Waiting(u8);

impl SendWatch {
    /// A body starts waiting on the client. `true` asks the caller to wake
    /// the connection's task: it is not ticking (and now will be).
    #[must_use]
    pub fn start(&self) -> (Waiting, bool) {
        let slot = self.slot.load(Ordering::Relaxed);
        self.waiting[usize::from(slot)].fetch_add(1, Ordering::SeqCst);
        let wake =
            !self.ticking.load(Ordering::SeqCst) && !self.ticking.swap(true, Ordering::SeqCst);
        (Waiting(slot), wake)
    }

    /// The body stopped waiting: asked for more, or dropped.
    pub fn stop(&self, waiting: Waiting) {
        self.waiting[usize::from(waiting.0)].fetch_sub(1, Ordering::SeqCst);
    }

    /// Whether the connection's task should be ticking (a body started
    /// waiting since the last [`SendTick::Quiet`]).
    pub fn ticking(&self) -> bool {
        self.ticking.load(Ordering::SeqCst)
    }

    /// Starts the next tick (the connection's task, every `send_timeout /
    /// SEND_TICKS` while not [`SendTick::Quiet`]).
    pub fn tick(&self) -> SendTick {
        let slot = (self.slot.load(Ordering::Relaxed) + 1) % SLOTS;
        self.slot.store(slot, Ordering::Relaxed);
        // The slot the new tick reuses counts the bodies that started
        // waiting SEND_TICKS + 1 ticks ago, that is before the tick
        // SEND_TICKS ticks ago began.
        if self.waiting[usize::from(slot)].load(Ordering::SeqCst) > 0 {
            return SendTick::Stalled;
        }
        let quiet = || self.waiting.iter().all(|w| w.load(Ordering::SeqCst) == 0);
        if !quiet() {
            return SendTick::Waiting;
        }
        // Stop ticking. A body that starts waiting from here on sees
        // `ticking` false and has the task woken: with SeqCst on both
        // sides, either the check below sees its count, or it sees `false`.
        self.ticking.store(false, Ordering::SeqCst);
        if quiet() {
            SendTick::Quiet
        } else {
            self.ticking.store(true, Ordering::SeqCst);
            SendTick::Waiting
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_that_keeps_waiting_is_stalled_after_send_ticks_whole_ticks() {
        let watch = SendWatch::default();
        let (w, wake) = watch.start();
        assert!(wake, "the first waiting body wakes the task");
        // Ticks 1..=SEND_TICKS: it has waited less than SEND_TICKS whole ticks.
        for _ in 0..SEND_TICKS {
            assert_eq!(watch.tick(), SendTick::Waiting);
        }
        assert_eq!(watch.tick(), SendTick::Stalled);
        watch.stop(w);
    }

    #[test]
    fn bodies_that_make_progress_are_never_stalled() {
        let watch = SendWatch::default();
        for _ in 0..100 {
            // Each waits a little under a tick, then is asked for more.
            let (w, _) = watch.start();
            assert_eq!(watch.tick(), SendTick::Waiting);
            watch.stop(w);
        }
        assert_eq!(watch.tick(), SendTick::Quiet);
    }

    #[test]
    fn a_late_stall_among_busy_bodies_is_found() {
        let watch = SendWatch::default();
        let (stalled, _) = watch.start();
        for i in 0..SEND_TICKS {
            // Another body comes and goes every tick.
            let (w, _) = watch.start();
            assert_eq!(watch.tick(), SendTick::Waiting, "tick {i}");
            watch.stop(w);
        }
        assert_eq!(watch.tick(), SendTick::Stalled);
        watch.stop(stalled);
    }

    #[test]
    fn ticking_stops_when_quiet_and_the_next_waiting_body_wakes_it() {
        let watch = SendWatch::default();
        let (w, wake) = watch.start();
        assert!(wake && watch.ticking());
        watch.stop(w);
        assert_eq!(watch.tick(), SendTick::Quiet);
        assert!(!watch.ticking());
        let (w, wake) = watch.start();
        assert!(wake, "a body waiting after Quiet wakes the task");
        // While ticking, more waiting bodies do not wake it again.
        let (w2, wake) = watch.start();
        assert!(!wake);
        watch.stop(w);
        watch.stop(w2);
    }
}
