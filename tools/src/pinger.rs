//! A pinger: one logged-in connection (`"push": false`, so every frame it gets is a
//! response) that sends `ping` on a fixed schedule and records each round trip.
//!
//! The pinger registers its own user and logs in ([`Pinger::start`]), then a thread
//! sends a ping every `interval` (on schedule, whether or not the previous one was
//! answered) until [`Pinger::stop`] or its time limit. Round trips are recorded into
//! the [`PingWindow`] current when the ping was sent, and only if it was sent inside
//! that window's measured span ([`Pinger::measure`]); a scenario with several phases
//! opens one window per phase. Its requests are `proto::Request`s.
//! May touch: its own connection and thread, and the windows it records into.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde_json::{json, Value};

use crate::accounts::{source_addr, Accounts};
use crate::args::Resolved;
use crate::client::{wait_until, CountPushes, Engine, Failure, Peer, Retry};
use crate::dialect::Wire;
use crate::error::LoadError;
use crate::stats::{Percentiles, Recorder};

/// The pings of one measured span.
pub struct PingWindow {
    from: Instant,
    to: Instant,
    rtt: Recorder,
    sent: AtomicU64,
    answered: AtomicU64,
    failed: AtomicU64,
}

impl PingWindow {
    fn new(from: Instant, to: Instant) -> PingWindow {
        PingWindow {
            from,
            to,
            rtt: Recorder::default(),
            sent: AtomicU64::new(0),
            answered: AtomicU64::new(0),
            failed: AtomicU64::new(0),
        }
    }

    fn covers(&self, t: Instant) -> bool {
        t >= self.from && t < self.to
    }

    /// What the window saw so far.
    pub fn stats(&self) -> PingStats {
        PingStats {
            rtt: Percentiles::of(&self.rtt.merged()),
            sent: self.sent.load(Ordering::Relaxed),
            answered: self.answered.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
        }
    }
}

/// The pings of a window.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PingStats {
    /// Round-trip times of the pings sent in the window and answered.
    pub rtt: Percentiles,
    /// Pings sent in the window.
    pub sent: u64,
    /// Of those, answered `ok`.
    pub answered: u64,
    /// Of those, answered with an error or lost with the connection.
    pub failed: u64,
}

impl PingStats {
    /// As JSON.
    pub fn json(&self) -> Value {
        json!({
            "rtt_us": self.rtt.json(),
            "sent": self.sent,
            "answered": self.answered,
            "failed": self.failed,
        })
    }
}

/// A pinging connection (see the module doc).
pub struct Pinger {
    peer: Arc<Peer>,
    window: Arc<Mutex<Arc<PingWindow>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Pinger {
    /// Connects as account `index` of `accounts` (from that index's source address),
    /// registers it (an existing one is fine) and logs in with `"push": false` within
    /// `setup_timeout`, then pings every `interval` for at most `limit`.
    pub fn start(
        engine: &Engine,
        common: &Resolved,
        accounts: &Accounts,
        index: usize,
        retry: &Retry,
        (interval, setup_timeout, limit): (Duration, Duration, Duration),
    ) -> Result<Pinger, LoadError> {
        let local = source_addr(common.spread, common.addr, index);
        let peer = engine
            .connect(
                index,
                local,
                common.addr,
                Wire::Json,
                Arc::new(CountPushes::default()),
            )
            .map_err(|e| LoadError::Setup(format!("pinger connection: {e}")))?;
        let outcome: Arc<Mutex<Option<Result<(), String>>>> = Arc::new(Mutex::new(None));
        let login = accounts.login_request(index, false);
        let out = Arc::clone(&outcome);
        let r = retry.clone();
        // Log in once the registration is answered (an existing account is fine).
        retry.request(
            &peer,
            accounts.register_request(index),
            Box::new(move |peer, _| {
                r.request(
                    peer,
                    login,
                    Box::new(move |peer, r| {
                        *out.lock() = Some(match r {
                            Ok(f) => {
                                peer.set_user_id(f.user_id.unwrap_or(0));
                                Ok(())
                            }
                            Err(Failure::Server(e)) => Err(e.code.to_string()),
                            Err(Failure::Closed) => Err("closed".into()),
                        });
                    }),
                );
            }),
        );
        wait_until(Instant::now() + setup_timeout, || outcome.lock().is_some());
        match outcome.lock().take() {
            Some(Ok(())) => {}
            Some(Err(why)) => {
                peer.close();
                return Err(LoadError::Setup(format!(
                    "the pinger's login failed: {why}"
                )));
            }
            None => {
                peer.close();
                return Err(LoadError::Setup("the pinger's login timed out".into()));
            }
        }
        let never = Instant::now();
        let window = Arc::new(Mutex::new(Arc::new(PingWindow::new(never, never))));
        let stop = Arc::new(AtomicBool::new(false));
        let (p, w, s) = (Arc::clone(&peer), Arc::clone(&window), Arc::clone(&stop));
        let thread = std::thread::Builder::new()
            .name("chatload-pinger".into())
            .spawn(move || ping_loop(&p, &w, &s, interval, limit))
            .map_err(LoadError::io("spawn the pinger thread"))?;
        Ok(Pinger {
            peer,
            window,
            stop,
            thread: Some(thread),
        })
    }

    /// Opens a window: pings sent from `from` until `to` are recorded in it (and
    /// nowhere else from now on). Read it with [`PingWindow::stats`] once it is over.
    pub fn measure(&self, from: Instant, to: Instant) -> Arc<PingWindow> {
        let w = Arc::new(PingWindow::new(from, to));
        *self.window.lock() = Arc::clone(&w);
        w
    }

    /// Stops pinging and closes the connection.
    pub fn stop(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.peer.close();
    }
}

fn ping_loop(
    peer: &Arc<Peer>,
    window: &Mutex<Arc<PingWindow>>,
    stop: &AtomicBool,
    interval: Duration,
    limit: Duration,
) {
    let until = Instant::now() + limit;
    let mut next = Instant::now();
    while !stop.load(Ordering::Relaxed) && !peer.is_closed() {
        let now = Instant::now();
        if now >= until {
            return;
        }
        if now < next {
            std::thread::sleep((next - now).min(Duration::from_millis(20)));
            continue;
        }
        // On schedule; after a stall (this thread starved), start again from now.
        let base = if now - next > interval { now } else { next };
        next = base + interval;
        let w = Arc::clone(&window.lock());
        let t0 = Instant::now();
        let counted = w.covers(t0);
        if counted {
            w.sent.fetch_add(1, Ordering::Relaxed);
        }
        peer.ping(Box::new(move |_, outcome| {
            if !counted {
                return;
            }
            match outcome {
                Ok(_) => {
                    w.rtt.record(0, t0.elapsed().as_micros() as u64);
                    w.answered.fetch_add(1, Ordering::Relaxed);
                }
                Err(_) => {
                    w.failed.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_covers_its_span_only() {
        let t = Instant::now();
        let w = PingWindow::new(t, t + Duration::from_secs(1));
        assert!(w.covers(t));
        assert!(w.covers(t + Duration::from_millis(999)));
        assert!(!w.covers(t + Duration::from_secs(1)));
        w.rtt.record(0, 1500);
        w.sent.fetch_add(2, Ordering::Relaxed);
        w.answered.fetch_add(1, Ordering::Relaxed);
        let s = w.stats();
        assert_eq!((s.sent, s.answered, s.rtt.count), (2, 1, 1));
        assert_eq!(s.json()["rtt_us"]["count"], 1);
    }
}
