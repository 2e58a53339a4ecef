//! A sub-reactor: one thread, one `mio::Poll`, a slab of connections.
//!
//! It reads sockets until `WouldBlock`, cuts the bytes into frames with the codec and
//! dispatches them to the worker pool, as long as the connection's backlog and the
//! pool's have room (else it stops reading that connection, or all of them, until the
//! workers catch up); it moves frames queued by any thread to the
//! socket with one `write` per readiness, registering for writable readiness only while
//! output is pending; and it enforces deadlines from its own timer heap. It never runs
//! application code and never blocks: everything it does is non-blocking I/O,
//! bookkeeping, or a handoff to the pool.
//!
//! It may touch: its own connections and poll, the connections' shared halves (outbox,
//! state, deadline), the worker pool's dispatch and counters.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::os::fd::AsRawFd;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use slab::Slab;

use crate::backlog::Backlog;
use crate::clock;
use crate::close_reason::CloseReason;
use crate::codec::Codec;
use crate::conn_shared::{ConnShared, ReactorInbox, ReactorNotice, CLOSED};
use crate::connection::{Connection, Phase};
use crate::counters::Counters;
use crate::handle::ConnHandle;
use crate::handler::Handler;
use crate::input_rate::{InputRate, RateBucket};
use crate::mailbox::{Event, Mailbox};
use crate::notice::{Notice, Origin};
use crate::send_batch::SendBatch;
use crate::source_limit::SourceTicket;
use crate::timer_queue::TimerQueue;
use crate::worker_pool::WorkerPool;

/// The application's "my own pending work is done" check that shutdown waits for.
pub(crate) type AppIdle = Arc<dyn Fn() -> bool + Send + Sync>;

/// The token of the reactor's waker.
pub(crate) const WAKER: Token = Token(usize::MAX);

/// Size of the per-reactor read buffer; connections keep only incomplete frames.
const READ_CHUNK: usize = 64 * 1024;
/// Reads per readiness event before other connections get a turn.
const READS_PER_TURN: usize = 16;
/// Buffers larger than this are released once empty, so idle connections stay small.
const KEEP_CAPACITY: usize = 16 * 1024;

/// How long the phases after `Open` may last.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PhaseLimits {
    /// For the application's `on_close` (or `on_rejected`) to finish.
    pub(crate) await_app: Duration,
    /// To flush output and then wait for the peer's FIN.
    pub(crate) drain: Duration,
    /// To flush everything at shutdown before connections are cut.
    pub(crate) shutdown_grace: Duration,
}

/// What every sub-reactor of a server is configured with.
#[derive(Clone)]
pub(crate) struct ReactorSettings {
    pub(crate) codec: Arc<dyn Codec>,
    pub(crate) limits: PhaseLimits,
    pub(crate) input_rate: Option<InputRate>,
    pub(crate) app_idle: Option<AppIdle>,
}

/// One sub-reactor thread's state.
pub(crate) struct SubReactor<H: Handler> {
    poll: Poll,
    notifier: Arc<ReactorInbox>,
    pool: Arc<WorkerPool<H>>,
    codec: Arc<dyn Codec>,
    counters: Arc<Counters>,
    limits: PhaseLimits,
    /// Each connection's allowed input rate, if the server limits it.
    input_rate: Option<InputRate>,
    conns: Slab<Connection<H::Session>>,
    timers: TimerQueue,
    /// Throttled connections by when they may be read again, `(at_ms, slot, id)`; each
    /// connection at most once (its `throttled` flag), so bounded by the connections.
    throttled: BinaryHeap<Reverse<(u64, usize, u64)>>,
    scratch: Box<[u8]>,
    notices: Vec<ReactorNotice>,
    /// Connections not reading because the pool is full (each one's own backlog is
    /// tracked by its `backlogged` flag instead).
    paused: Vec<(usize, u64)>,
    /// Connections that still have input to read this turn (fairness cap, resume).
    to_read: Vec<(usize, u64)>,
    /// Engine-clock time at which shutdown stops waiting for output to drain.
    stopping: Option<u64>,
    /// Shutdown has handed every open connection's close to the application.
    farewells_sent: bool,
    /// Says whether the application's own pending work is done (see the builder).
    app_idle: Option<AppIdle>,
}

impl<H: Handler> SubReactor<H> {
    pub(crate) fn new(
        poll: Poll,
        notifier: Arc<ReactorInbox>,
        pool: Arc<WorkerPool<H>>,
        counters: Arc<Counters>,
        settings: ReactorSettings,
    ) -> Self {
        let timers = TimerQueue::new(Arc::clone(&counters));
        let ReactorSettings {
            codec,
            limits,
            input_rate,
            app_idle,
        } = settings;
        Self {
            input_rate,
            throttled: BinaryHeap::new(),
            poll,
            notifier,
            pool,
            codec,
            counters,
            limits,
            conns: Slab::new(),
            timers,
            scratch: vec![0; READ_CHUNK].into_boxed_slice(),
            notices: Vec::new(),
            paused: Vec::new(),
            to_read: Vec::new(),
            stopping: None,
            farewells_sent: false,
            app_idle,
        }
    }

    /// The thread's loop; returns after shutdown has closed every connection.
    pub(crate) fn run(mut self) {
        let mut events = Events::with_capacity(1024);
        loop {
            let timeout = self.poll_timeout();
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() != io::ErrorKind::Interrupted {
                    log::error!("sub-reactor poll failed: {e}");
                    std::thread::sleep(Duration::from_millis(10));
                }
                continue;
            }
            for event in events.iter() {
                if event.token() == WAKER {
                    continue; // notices are drained below, woken or not
                }
                let hangup = event.is_read_closed() || event.is_error();
                let readable = event.is_readable() || hangup;
                let writable = event.is_writable() || event.is_write_closed();
                self.on_ready(event.token().0, readable, writable, hangup);
                if event.is_error() {
                    self.on_socket_error(event.token().0);
                }
            }
            self.drain_notices();
            self.fire_timers();
            self.unthrottle();
            self.read_again();
            if self.stopping.is_some() && self.finish_shutdown() {
                return;
            }
        }
    }

    fn poll_timeout(&self) -> Option<Duration> {
        if !self.to_read.is_empty() {
            return Some(Duration::ZERO);
        }
        let next = match (self.timers.next_deadline(), self.throttled.peek()) {
            (Some(a), Some(Reverse((b, _, _)))) => Some(a.min(*b)),
            (a, b) => a.or(b.map(|Reverse((at, _, _))| *at)),
        };
        let mut timeout = next.map(|at| Duration::from_millis(at.saturating_sub(clock::now_ms())));
        // Safety nets: resume wake-ups and shutdown progress are re-checked regularly.
        let cap = if self.stopping.is_some() {
            Some(Duration::from_millis(10))
        } else if !self.paused.is_empty() {
            Some(Duration::from_millis(100))
        } else {
            None
        };
        if let Some(cap) = cap {
            timeout = Some(timeout.map_or(cap, |t| t.min(cap)));
        }
        timeout
    }

    /// The slot of a live connection named by a shared half, if it is still here.
    fn slot_of(&self, shared: &ConnShared) -> Option<usize> {
        let slot = shared.slot.load(Ordering::Acquire);
        self.live(slot, shared.id.get()).then_some(slot)
    }

    fn live(&self, slot: usize, id: u64) -> bool {
        self.conns
            .get(slot)
            .is_some_and(|c| c.shared.id.get() == id)
    }

    fn on_ready(&mut self, slot: usize, readable: bool, writable: bool, hangup: bool) {
        let Some(conn) = self.conns.get(slot) else {
            return; // a stale event for a connection dropped earlier in this turn
        };
        if conn.phase == Phase::Connecting {
            self.finish_connect(slot);
            return;
        }
        if writable {
            self.write(slot);
        }
        if readable {
            self.read(slot, !hangup);
        }
    }

    /// The socket reported an error (a reset, usually). A connection that is reading
    /// met it in `read` or `write` already; one that is not (paused) would not notice
    /// until it resumed, while its peer is gone: drop it now.
    fn on_socket_error(&mut self, slot: usize) {
        let Some(conn) = self.conns.get(slot) else {
            return;
        };
        if conn.may_read() || conn.phase == Phase::Connecting {
            return;
        }
        if let Ok(Some(e)) | Err(e) = conn.stream.take_error() {
            self.drop_conn(slot, CloseReason::Io(e.kind()));
        }
    }

    // ---- notices -------------------------------------------------------------------

    fn drain_notices(&mut self) {
        let mut notices = std::mem::take(&mut self.notices);
        self.notifier.drain_into(&mut notices);
        for notice in notices.drain(..) {
            match notice {
                Notice::Register {
                    stream,
                    shared,
                    origin,
                    ticket,
                } => self.register(stream, shared, origin, ticket),
                Notice::Flush(shared) => {
                    if let Some(slot) = self.slot_of(&shared) {
                        self.write(slot);
                    }
                }
                Notice::Rearm(shared) => {
                    if let Some(slot) = self.slot_of(&shared) {
                        let at = shared.deadline.load(Ordering::Acquire);
                        if at != 0 && self.conns[slot].timer.is_none_or(|t| at < t) {
                            self.set_timer(slot, at);
                        }
                    }
                }
                Notice::Drained(shared) => {
                    if let Some(slot) = self.slot_of(&shared) {
                        self.drained(slot);
                    }
                }
                Notice::Close(shared) => {
                    if let Some(slot) = self.slot_of(&shared) {
                        self.close_requested(slot);
                    }
                }
                Notice::Abort(shared, reason) => {
                    if let Some(slot) = self.slot_of(&shared) {
                        self.drop_conn(slot, reason);
                    }
                }
                Notice::Resume => self.resume(),
                Notice::Shutdown => {
                    if self.stopping.is_none() {
                        self.stopping = Some(clock::after(self.limits.shutdown_grace));
                    }
                }
            }
        }
        self.notices = notices;
    }

    fn register(
        &mut self,
        stream: Arc<mio::net::TcpStream>,
        shared: Arc<ConnShared>,
        origin: Origin,
        ticket: Option<SourceTicket>,
    ) {
        let entry = self.conns.vacant_entry();
        let slot = entry.key();
        let interest = match origin {
            Origin::Connecting => Interest::READABLE | Interest::WRITABLE,
            Origin::Accepted | Origin::Rejected(_) => Interest::READABLE,
        };
        let fd = stream.as_raw_fd();
        if let Err(e) = self
            .poll
            .registry()
            .register(&mut SourceFd(&fd), Token(slot), interest)
        {
            log::error!(
                "cannot register connection {} ({}): {e}",
                shared.id,
                shared.peer
            );
            shared.state.store(CLOSED, Ordering::Release);
            shared.release_socket();
            if matches!(origin, Origin::Rejected(_)) {
                self.counters.rejected_closed();
            } else {
                self.counters.closed();
            }
            return;
        }
        shared.slot.store(slot, Ordering::Release);
        let mailbox = Arc::new(Mailbox::new(ConnHandle::new(Arc::clone(&shared))));
        let phase = match origin {
            Origin::Accepted => Phase::Open,
            Origin::Rejected(_) => Phase::AwaitingApp,
            Origin::Connecting => Phase::Connecting,
        };
        let mut conn = Connection::new(stream, shared, Arc::clone(&mailbox), phase, ticket);
        conn.want_write = origin == Origin::Connecting;
        if let Origin::Rejected(why) = origin {
            conn.close_dispatched = true;
            conn.rejected = true;
            self.pool.dispatch(&mailbox, Event::Rejected(why));
        } else {
            self.pool.dispatch(&mailbox, Event::Connect);
        }
        entry.insert(conn);
        if matches!(origin, Origin::Rejected(_)) {
            self.arm(slot, self.limits.await_app);
        }
    }

    fn finish_connect(&mut self, slot: usize) {
        let conn = &mut self.conns[slot];
        let outcome = match conn.stream.take_error() {
            Ok(None) => conn.stream.peer_addr().map(|_| ()),
            Ok(Some(e)) | Err(e) => Err(e),
        };
        match outcome {
            Ok(()) => {
                conn.phase = Phase::Open;
                if let Err(e) = conn.stream.set_nodelay(true) {
                    log::debug!("set_nodelay on {}: {e}", conn.shared.id);
                }
                self.write(slot); // sends queued before the connection completed
                self.read(slot, false);
            }
            Err(e) if e.kind() == io::ErrorKind::NotConnected => {} // not yet: wait
            Err(e) => self.drop_conn(slot, CloseReason::ConnectFailed(e.kind())),
        }
    }

    /// The application asked to close: tell it (if nobody has), then flush and shut down.
    fn close_requested(&mut self, slot: usize) {
        let conn = &mut self.conns[slot];
        match conn.phase {
            Phase::Connecting => self.drop_conn(slot, CloseReason::Local),
            Phase::Open | Phase::AwaitingApp => {
                if !conn.close_dispatched {
                    conn.close_dispatched = true;
                    self.pool
                        .dispatch(&conn.mailbox, Event::Close(CloseReason::Local));
                }
                conn.phase = Phase::Draining;
                self.arm(slot, self.limits.drain);
                self.write(slot);
            }
            Phase::Draining | Phase::Lingering => {}
        }
    }

    // ---- reading -------------------------------------------------------------------

    /// Reads until `WouldBlock` (at most `READS_PER_TURN` times). With `short_read_drains`,
    /// a read shorter than the buffer ends the turn: the receive queue was empty, and new
    /// data raises a new edge. Only valid when the event did not report a hang-up, whose
    /// edge has been consumed already.
    fn read(&mut self, slot: usize, short_read_drains: bool) {
        for _ in 0..READS_PER_TURN {
            let Some(conn) = self.conns.get_mut(slot) else {
                return;
            };
            if !conn.may_read() {
                return;
            }
            if conn.dispatches_input() {
                if self.stopping.is_some() {
                    return; // shutting down: take no new requests, leave them in the kernel
                }
                if self.pool.is_full() {
                    self.pause(slot);
                    return;
                }
                if self.over_rate(slot) {
                    return;
                }
            }
            let conn = &mut self.conns[slot];
            match (&*conn.stream).read(&mut self.scratch) {
                Ok(0) => {
                    self.on_eof(slot);
                    return;
                }
                Ok(n) => {
                    self.counters.read(n);
                    if let Some(rate) = conn.rate.as_mut() {
                        rate.charge(n, 0);
                    }
                    if conn.dispatches_input() && !self.ingest(slot, n) {
                        return; // its backlog is full; `drained` resumes it
                    }
                    if short_read_drains && n < READ_CHUNK {
                        return; // skip the read that would only say WouldBlock
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.drop_conn(slot, CloseReason::Io(e.kind()));
                    return;
                }
            }
        }
        // More may be waiting; edge-triggered readiness will not say so again.
        let id = self.conns[slot].shared.id.get();
        self.to_read.push((slot, id));
    }

    /// Cuts `scratch[..n]` (after any input kept from before) into frames and dispatches
    /// them while the connection's backlog has room; what does not fit stays in
    /// `input`. Returns false when the backlog is full: the connection is then marked
    /// `backlogged` and not read until its worker brings the backlog down to half.
    fn ingest(&mut self, slot: usize, n: usize) -> bool {
        let conn = &mut self.conns[slot];
        let fresh = &self.scratch[..n];
        let carried = !conn.input.is_empty();
        if carried {
            conn.input.extend_from_slice(fresh);
        }
        let buf: &[u8] = if carried { &conn.input } else { fresh };
        let codec = &*self.codec;
        let mode = conn.shared.mode.load(Ordering::Acquire);
        let mut pos = 0;
        let mut error = None;
        let mut decoded = 0;
        // Frames the handler takes on this thread (`Handler::inline`) run here at once,
        // while none of the connection's events waits for a worker; the first one that
        // does not goes to the mailbox, and so does everything after it.
        let mut first = None;
        // What inline frames send leaves in one write per connection, after the loop.
        let sends = SendBatch::begin();
        let mut turn = None;
        while error.is_none() {
            match codec.decode_in(mode, &buf[pos..]) {
                Ok(Some(frame)) => {
                    let body = buf[pos + frame.body.start..pos + frame.body.end].to_vec();
                    pos += frame.consumed.max(1);
                    decoded += 1;
                    let inline = self.pool.takes_inline(&conn.mailbox, &body);
                    if inline && turn.is_none() {
                        turn = self.pool.inline_turn(&conn.mailbox);
                    }
                    let given_back = match turn.as_mut() {
                        Some(t) if inline => t.run(body).err(),
                        _ => Some(body),
                    };
                    if given_back.is_some() {
                        first = given_back;
                        break;
                    }
                }
                Ok(None) => break,
                Err(e) => error = Some(e),
            }
        }
        drop(turn);
        drop(sends);
        let inline = decoded - usize::from(first.is_some());
        self.counters.frames_in(inline);
        let more = first.is_some();
        let full = self.pool.dispatch_input(&conn.mailbox, |room| {
            let mut frames = Vec::new();
            let mut cost = Backlog::default();
            if let Some(body) = first {
                cost += Backlog::frame(body.len());
                frames.push(Event::Frame(body));
            }
            while more && error.is_none() && !cost.reaches(&room) {
                match codec.decode_in(mode, &buf[pos..]) {
                    Ok(Some(frame)) => {
                        let body = buf[pos + frame.body.start..pos + frame.body.end].to_vec();
                        pos += frame.consumed.max(1);
                        cost += Backlog::frame(body.len());
                        frames.push(Event::Frame(body));
                    }
                    Ok(None) => break,
                    Err(e) => {
                        error = Some(e);
                        break;
                    }
                }
            }
            self.counters.frames_in(frames.len());
            decoded += frames.len().saturating_sub(usize::from(more));
            (frames, cost)
        });
        if let Some(rate) = conn.rate.as_mut() {
            rate.charge(0, decoded);
        }
        if let Some(e) = error {
            conn.input = Vec::new();
            log::debug!("connection {} ({}): {e}", conn.shared.id, conn.shared.peer);
            self.pool
                .dispatch(&conn.mailbox, Event::FrameError(e.clone()));
            self.hand_close_to_app(slot, CloseReason::Frame(e));
            return true;
        }
        if carried {
            conn.input.drain(..pos);
        } else {
            conn.input.extend_from_slice(&fresh[pos..]);
        }
        if conn.input.is_empty() && conn.input.capacity() > KEEP_CAPACITY {
            conn.input = Vec::new();
        }
        conn.backlogged = full;
        !full
    }

    /// An open connection ends: stop taking its input, tell the application why, and
    /// give its `on_close` a bounded time to finish (then the socket is dropped).
    fn hand_close_to_app(&mut self, slot: usize, reason: CloseReason) {
        let conn = &mut self.conns[slot];
        conn.phase = Phase::AwaitingApp;
        conn.close_dispatched = true;
        self.pool.dispatch(&conn.mailbox, Event::Close(reason));
        self.arm(slot, self.limits.await_app);
    }

    fn on_eof(&mut self, slot: usize) {
        let conn = &mut self.conns[slot];
        conn.read_closed = true;
        match conn.phase {
            Phase::Open => self.hand_close_to_app(slot, CloseReason::PeerClosed),
            Phase::Lingering => self.drop_conn(slot, CloseReason::PeerClosed),
            Phase::Connecting | Phase::AwaitingApp | Phase::Draining => {}
        }
    }

    fn pause(&mut self, slot: usize) {
        let conn = &mut self.conns[slot];
        conn.paused = true;
        self.paused.push((slot, conn.shared.id.get()));
        if self.pool.reactor_paused() {
            self.resume(); // the pool drained while we were pausing
        }
    }

    fn resume(&mut self) {
        for (slot, id) in std::mem::take(&mut self.paused) {
            if self.live(slot, id) {
                self.conns[slot].paused = false;
                self.to_read.push((slot, id));
            }
        }
    }

    /// The connection's worker brought its backlog down to half: decode what was kept
    /// back, then read again.
    fn drained(&mut self, slot: usize) {
        let conn = &mut self.conns[slot];
        if !conn.backlogged {
            return;
        }
        conn.backlogged = false;
        if conn.dispatches_input() && !conn.input.is_empty() && !self.ingest(slot, 0) {
            return;
        }
        let id = self.conns[slot].shared.id.get();
        self.to_read.push((slot, id));
    }

    /// True (and the connection throttled until its buckets refill) when it has sent
    /// more than its input rate allows.
    fn over_rate(&mut self, slot: usize) -> bool {
        let (Some(rate), conn) = (self.input_rate, &mut self.conns[slot]) else {
            return false;
        };
        let now = clock::now_ms();
        let Some(wait) = conn
            .rate
            .get_or_insert_with(|| RateBucket::new(&rate, now))
            .wait_ms(&rate, now)
        else {
            return false;
        };
        conn.throttled = true;
        self.throttled
            .push(Reverse((now + wait, slot, conn.shared.id.get())));
        true
    }

    /// Reads throttled connections again once their time has come.
    fn unthrottle(&mut self) {
        let now = clock::now_ms();
        while let Some(Reverse((at, slot, id))) = self.throttled.peek().copied() {
            if at > now {
                break;
            }
            self.throttled.pop();
            if self.live(slot, id) {
                self.conns[slot].throttled = false;
                self.to_read.push((slot, id));
            }
        }
    }

    fn read_again(&mut self) {
        for (slot, id) in std::mem::take(&mut self.to_read) {
            if self.live(slot, id) {
                self.read(slot, false);
            }
        }
    }

    // ---- writing -------------------------------------------------------------------

    /// Moves the outbox into the connection's output and makes one write attempt.
    /// While it holds unwritten bytes, senders queue behind it (no write-through).
    fn write(&mut self, slot: usize) {
        let conn = &mut self.conns[slot];
        if conn.phase == Phase::Connecting {
            return;
        }
        take_outbox(conn);
        if conn.pending_output() > 0 {
            match (&*conn.stream).write(&conn.output[conn.written..]) {
                Ok(n) => {
                    conn.written += n;
                    conn.shared.queued.fetch_sub(n, Ordering::AcqRel);
                    self.counters.wrote(n);
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                    ) => {}
                Err(e) => {
                    self.drop_conn(slot, CloseReason::Io(e.kind()));
                    return;
                }
            }
        }
        let conn = &mut self.conns[slot];
        let interest = if conn.pending_output() == 0 {
            conn.output.clear();
            conn.written = 0;
            if conn.output.capacity() > KEEP_CAPACITY {
                conn.output = Vec::new();
            }
            {
                let mut outbox = conn.shared.outbox.lock();
                if outbox.buf.is_empty() {
                    // Nothing left: senders may write through again.
                    outbox.reactor_writes = false;
                } else if !outbox.flush_scheduled {
                    // Queued while we wrote; its sender saw us writing. Take it next turn.
                    outbox.flush_scheduled = true;
                    drop(outbox);
                    self.notifier
                        .notify(Notice::Flush(Arc::clone(&conn.shared)));
                }
            }
            if conn.phase == Phase::Draining && conn.shared.queued.load(Ordering::Acquire) == 0 {
                self.shut_down_write(slot);
                return;
            }
            (conn.want_write).then_some((Interest::READABLE, false))
        } else {
            (!conn.want_write).then_some((Interest::READABLE | Interest::WRITABLE, true))
        };
        if let Some((interest, want_write)) = interest {
            let conn = &mut self.conns[slot];
            conn.want_write = want_write;
            let fd = conn.stream.as_raw_fd();
            if let Err(e) =
                self.poll
                    .registry()
                    .reregister(&mut SourceFd(&fd), Token(slot), interest)
            {
                log::error!("reregister connection {}: {e}", conn.shared.id);
                self.drop_conn(slot, CloseReason::Io(e.kind()));
            }
        }
    }

    /// Output is flushed after the application closed: send FIN, wait for the peer's.
    fn shut_down_write(&mut self, slot: usize) {
        let conn = &mut self.conns[slot];
        // Failure means the peer is gone already; dropping is all that is left either way.
        let _ = conn.stream.shutdown(Shutdown::Write);
        // Shutting down, the peer's FIN is not waited for.
        if conn.read_closed || self.stopping.is_some() {
            self.drop_conn(slot, CloseReason::Local);
        } else {
            conn.phase = Phase::Lingering;
            self.arm(slot, self.limits.drain);
        }
    }

    // ---- deadlines -----------------------------------------------------------------

    /// Sets a reactor-imposed deadline (for the phases after `Open`).
    fn arm(&mut self, slot: usize, after: Duration) {
        let at = clock::after(after);
        self.conns[slot]
            .shared
            .deadline
            .store(at, Ordering::Release);
        self.set_timer(slot, at);
    }

    /// Puts the connection's one timer entry at `at`.
    fn set_timer(&mut self, slot: usize, at: u64) {
        let conn = &mut self.conns[slot];
        let id = conn.shared.id.get();
        conn.timer = Some(self.timers.set(conn.timer, at, slot, id));
    }

    fn fire_timers(&mut self) {
        let now = clock::now_ms();
        while let Some((slot, id)) = self.timers.pop_due(now) {
            if !self.live(slot, id) {
                continue;
            }
            let conn = &mut self.conns[slot];
            conn.timer = None;
            let at = conn.shared.deadline.load(Ordering::Acquire);
            if at == 0 {
                continue;
            }
            if at > now {
                self.set_timer(slot, at); // moved later since the entry was set
                continue;
            }
            conn.shared.deadline.store(0, Ordering::Release);
            self.deadline_passed(slot);
        }
    }

    fn deadline_passed(&mut self, slot: usize) {
        let conn = &mut self.conns[slot];
        match conn.phase {
            Phase::Open => self.hand_close_to_app(slot, CloseReason::DeadlineExpired),
            Phase::Connecting => self.drop_conn(slot, CloseReason::DeadlineExpired),
            Phase::AwaitingApp | Phase::Draining | Phase::Lingering => {
                log::debug!(
                    "connection {} did not close in time; dropping it",
                    conn.shared.id
                );
                self.drop_conn(slot, CloseReason::Local);
            }
        }
    }

    // ---- closing -------------------------------------------------------------------

    /// Drops the socket now; tells the application why unless it was told already.
    fn drop_conn(&mut self, slot: usize, reason: CloseReason) {
        let conn = self.conns.remove(slot);
        self.timers.remove(conn.timer, slot, conn.shared.id.get());
        self.pool.discard_frames(&conn.mailbox);
        let fd = conn.stream.as_raw_fd();
        if let Err(e) = self.poll.registry().deregister(&mut SourceFd(&fd)) {
            log::debug!("deregister connection {}: {e}", conn.shared.id);
        }
        conn.shared.state.store(CLOSED, Ordering::Release);
        conn.shared.release_socket();
        conn.shared.deadline.store(0, Ordering::Release);
        if !conn.close_dispatched {
            log::debug!(
                "connection {} ({}) closed: {reason}",
                conn.shared.id,
                conn.shared.peer
            );
            self.pool.dispatch(&conn.mailbox, Event::Close(reason));
        }
        if conn.rejected {
            self.counters.rejected_closed();
        } else {
            self.counters.closed();
        }
    }

    /// During shutdown: once the pool and the application are idle and output is flushed,
    /// hand every open connection's close ([`CloseReason::Shutdown`]) to the application,
    /// whose last words (a WebSocket close frame, say) are flushed before each socket is
    /// dropped; when the grace period is over, drop whatever is left. Returns true when
    /// the thread may exit.
    fn finish_shutdown(&mut self) -> bool {
        let Some(deadline) = self.stopping else {
            return false;
        };
        if clock::now_ms() < deadline {
            if !self.farewells_sent {
                let flushed = self
                    .conns
                    .iter()
                    .all(|(_, c)| c.shared.queued.load(Ordering::Acquire) == 0);
                let app_idle = self.app_idle.as_ref().is_none_or(|idle| idle());
                if !(flushed && app_idle && self.pool.queued() == 0) {
                    return false;
                }
                self.farewells_sent = true;
                let open: Vec<usize> = self
                    .conns
                    .iter()
                    .filter(|(_, c)| c.phase == Phase::Open)
                    .map(|(slot, _)| slot)
                    .collect();
                for slot in open {
                    self.hand_close_to_app(slot, CloseReason::Shutdown);
                }
            }
            return self.conns.is_empty();
        }
        let slots: Vec<usize> = self.conns.iter().map(|(slot, _)| slot).collect();
        for slot in slots {
            self.drop_conn(slot, CloseReason::Shutdown);
        }
        true
    }
}

/// Moves frames queued by senders into the connection's output buffer; while any are
/// unwritten the reactor owns the output.
fn take_outbox<S>(conn: &mut Connection<S>) {
    let mut outbox = conn.shared.outbox.lock();
    outbox.flush_scheduled = false;
    if outbox.buf.is_empty() {
        return;
    }
    outbox.reactor_writes = true;
    if conn.pending_output() == 0 {
        conn.output.clear();
        conn.written = 0;
        std::mem::swap(&mut conn.output, &mut outbox.buf);
        if outbox.buf.capacity() > KEEP_CAPACITY {
            outbox.buf = Vec::new();
        }
    } else {
        conn.output.drain(..conn.written);
        conn.written = 0;
        conn.output.extend_from_slice(&outbox.buf);
        outbox.buf.clear();
    }
}
