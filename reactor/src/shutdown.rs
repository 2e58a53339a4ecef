//! Graceful shutdown, asked for from any thread or by SIGINT/SIGTERM.
//!
//! Order: the acceptor stops (the listener closes); sub-reactors stop reading, wait for
//! the worker pool to go idle and output to flush (bounded by the grace period), close
//! every connection and exit; the workers run the last `on_close` callbacks and exit.
//! [`crate::Server::join`] waits for all of it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use parking_lot::{Condvar, Mutex};

use crate::conn_shared::ReactorInbox;
use crate::notice::Notice;

/// Starts a server's shutdown. Cheap to clone and `Send`; asking twice is harmless.
#[derive(Clone)]
pub struct ShutdownHandle {
    inner: Arc<ShutdownState>,
}

pub(crate) struct ShutdownState {
    pub(crate) stop: Arc<AtomicBool>,
    acceptor: Option<mio::Waker>,
    reactors: Vec<Arc<ReactorInbox>>,
    requested: Mutex<bool>,
    changed: Condvar,
}

impl ShutdownHandle {
    pub(crate) fn new(
        stop: Arc<AtomicBool>,
        acceptor: Option<mio::Waker>,
        reactors: Vec<Arc<ReactorInbox>>,
    ) -> Self {
        Self {
            inner: Arc::new(ShutdownState {
                stop,
                acceptor,
                reactors,
                requested: Mutex::new(false),
                changed: Condvar::new(),
            }),
        }
    }

    /// Begins the shutdown and returns at once; [`crate::Server::join`] waits for it.
    pub fn shutdown(&self) {
        {
            let mut requested = self.inner.requested.lock();
            if *requested {
                return;
            }
            *requested = true;
        }
        self.inner.changed.notify_all();
        self.inner.stop.store(true, Ordering::Release);
        if let Some(waker) = &self.inner.acceptor {
            if let Err(e) = waker.wake() {
                log::error!("cannot wake the acceptor for shutdown: {e}");
            }
        }
        for reactor in &self.inner.reactors {
            reactor.notify(Notice::Shutdown);
        }
    }

    /// True once shutdown was asked for.
    pub fn is_requested(&self) -> bool {
        *self.inner.requested.lock()
    }

    /// Blocks until shutdown is asked for.
    pub fn wait(&self) {
        let mut requested = self.inner.requested.lock();
        while !*requested {
            self.inner.changed.wait(&mut requested);
        }
    }

    /// Starts the shutdown when the process receives SIGINT or SIGTERM. For binaries.
    pub fn on_signals(&self) -> std::io::Result<()> {
        use signal_hook::consts::{SIGINT, SIGTERM};
        let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])?;
        let handle = self.clone();
        // Essential: without it the process would no longer stop on a signal.
        crate::essential::spawn_essential("signals".into(), move || {
            if let Some(signal) = signals.forever().next() {
                // Shut down first: logging may fail (a closed stderr, for one) and
                // must not stand between the signal and the shutdown.
                handle.shutdown();
                log::info!("signal {signal} received: shutting down");
            }
        })?;
        Ok(())
    }
}
