//! The main reactor: one thread that accepts connections and hands them to sub-reactors.
//!
//! It accepts until `WouldBlock` on every readiness event. Above `max_connections` it
//! still accepts (so the client is answered rather than left in the backlog) and hands
//! the socket over as rejected: the application's `on_rejected` answers and it closes.
//! The same happens to a connection whose source address (see `source_limit`) already
//! has `max_connections_per_ip` open. When even that would use too many descriptors,
//! the socket is closed at once.
//!
//! Out of file descriptors (`EMFILE`/`ENFILE`) it uses muduo's spare-descriptor trick:
//! close the spare, accept the pending connection, close it, reopen the spare. That
//! refuses the connection cleanly instead of leaving it to fire readiness forever. If
//! the spare cannot be reopened it backs off for 100 ms instead of spinning.

use std::fs::File;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::{Events, Interest, Poll, Token};

use crate::close_reason::Rejection;
use crate::loop_pool::LoopPool;
use crate::notice::Origin;
use crate::source_limit::SourceLimit;

const LISTENER: Token = Token(0);
pub(crate) const ACCEPTOR_WAKER: Token = Token(1);
/// Rejected connections being answered at once, at most.
const MAX_REJECTING: usize = 256;
const BACKOFF: Duration = Duration::from_millis(100);

/// The acceptor thread's state.
pub(crate) struct Acceptor {
    poll: Poll,
    listener: mio::net::TcpListener,
    loops: Arc<LoopPool>,
    max_connections: usize,
    per_source: Arc<SourceLimit>,
    stop: Arc<AtomicBool>,
    spare_fd: Option<File>,
    last_fd_warning: Option<Instant>,
}

impl Acceptor {
    pub(crate) fn new(
        poll: Poll,
        mut listener: mio::net::TcpListener,
        loops: Arc<LoopPool>,
        max_connections: usize,
        per_source: Arc<SourceLimit>,
        stop: Arc<AtomicBool>,
    ) -> io::Result<Self> {
        poll.registry()
            .register(&mut listener, LISTENER, Interest::READABLE)?;
        Ok(Self {
            poll,
            listener,
            loops,
            max_connections,
            per_source,
            stop,
            spare_fd: File::open("/dev/null").ok(),
            last_fd_warning: None,
        })
    }

    /// The thread's loop; returns once shutdown is requested. The listener closes then.
    pub(crate) fn run(mut self) {
        let mut events = Events::with_capacity(64);
        let mut backoff = false;
        while !self.stop.load(Ordering::Acquire) {
            let timeout = backoff.then_some(BACKOFF);
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() != io::ErrorKind::Interrupted {
                    log::error!("acceptor poll failed: {e}");
                    std::thread::sleep(BACKOFF);
                }
                continue;
            }
            // After a back-off nothing may have fired (edge-triggered): accept anyway.
            let listener_ready = backoff || events.iter().any(|e| e.token() == LISTENER);
            if listener_ready && !self.stop.load(Ordering::Acquire) {
                backoff = self.accept_all();
            }
        }
        log::debug!("acceptor stopped");
    }

    /// Accepts until `WouldBlock`; returns true when it must back off and retry.
    fn accept_all(&mut self) -> bool {
        loop {
            match self.listener.accept() {
                Ok((stream, peer)) => {
                    let counters = self.loops.counters();
                    counters.accepted();
                    if let Err(e) = stream.set_nodelay(true) {
                        log::debug!("set_nodelay for {peer}: {e}");
                    }
                    let verdict = if counters.open() >= self.max_connections {
                        Err(Rejection::ServerFull)
                    } else {
                        self.per_source
                            .admit(peer.ip())
                            .ok_or(Rejection::TooManyFromAddress)
                    };
                    match verdict {
                        Ok(ticket) => {
                            self.loops
                                .assign(stream, peer, Origin::Accepted, Some(ticket));
                        }
                        Err(why) => self.reject(stream, peer, why),
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return false,
                Err(e) if is_transient(&e) => {}
                Err(e) if is_out_of_fds(&e) => {
                    if !self.refuse_one(&e) {
                        return true;
                    }
                }
                Err(e) => {
                    log::error!("accept failed: {e}");
                    return true;
                }
            }
        }
    }

    /// Hands a turned-away socket to a reactor for the application's answer, or closes
    /// it at once when too many are being answered already.
    fn reject(&self, stream: mio::net::TcpStream, peer: std::net::SocketAddr, why: Rejection) {
        let counters = self.loops.counters();
        counters.rejected();
        if counters.rejecting.load(Ordering::Relaxed) <= MAX_REJECTING {
            self.loops.assign(stream, peer, Origin::Rejected(why), None);
        } else {
            counters.rejected_closed();
            drop(stream);
        }
    }

    /// Frees the spare descriptor to accept and close one pending connection.
    fn refuse_one(&mut self, error: &io::Error) -> bool {
        let now = Instant::now();
        if self
            .last_fd_warning
            .is_none_or(|at| now.duration_since(at) >= Duration::from_secs(1))
        {
            self.last_fd_warning = Some(now);
            log::warn!("accept: {error}; refusing new connections until descriptors free up");
        }
        if self.spare_fd.take().is_none() {
            return false;
        }
        if let Ok((stream, _)) = self.listener.accept() {
            drop(stream);
        }
        self.spare_fd = File::open("/dev/null").ok();
        self.spare_fd.is_some()
    }
}

fn is_out_of_fds(e: &io::Error) -> bool {
    // EMFILE: this process is out of descriptors; ENFILE: the whole system is.
    matches!(e.raw_os_error(), Some(libc::EMFILE) | Some(libc::ENFILE))
}

fn is_transient(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::Interrupted
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}
