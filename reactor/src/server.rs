//! [`Builder`] and [`Server`]: configure the engine, start its threads, connect out, stop.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use mio::{Poll, Waker};

use crate::acceptor::{Acceptor, ACCEPTOR_WAKER};
use crate::backlog::Backlog;
use crate::codec::{Codec, LengthPrefixed};
use crate::conn_shared::ReactorInbox;
use crate::counters::Counters;
use crate::error::Error;
use crate::essential::spawn_essential;
use crate::handle::ConnHandle;
use crate::handler::Handler;
use crate::input_rate::InputRate;
use crate::listener;
use crate::loop_pool::LoopPool;
use crate::notice::Origin;
use crate::shutdown::ShutdownHandle;
use crate::source_limit::SourceLimit;
use crate::sub_reactor::{AppIdle, PhaseLimits, ReactorSettings, SubReactor, WAKER};
use crate::worker_pool::{InputLimits, WorkerPool};

/// Configuration of a [`Server`]. Every setting has a default.
pub struct Builder {
    name: String,
    bind: Option<SocketAddr>,
    backlog: i32,
    reactors: usize,
    workers: usize,
    codec: Arc<dyn Codec>,
    high_water: usize,
    max_connections: usize,
    max_connections_per_ip: usize,
    input: InputLimits,
    input_rate: Option<InputRate>,
    limits: PhaseLimits,
    app_idle: Option<AppIdle>,
}

impl Default for Builder {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self {
            name: "reactor".into(),
            bind: None,
            backlog: 4096,
            reactors: cores,
            workers: cores * 2,
            codec: Arc::new(LengthPrefixed::default()),
            high_water: 4 * 1024 * 1024,
            max_connections: usize::MAX,
            max_connections_per_ip: usize::MAX,
            input: InputLimits {
                per_conn: Backlog::limit(256 * 1024, 1024),
                total: Backlog::limit(256 * 1024 * 1024, 65_536),
            },
            input_rate: None,
            limits: PhaseLimits {
                await_app: Duration::from_secs(30),
                drain: Duration::from_secs(10),
                shutdown_grace: Duration::from_secs(5),
            },
            app_idle: None,
        }
    }
}

impl Builder {
    /// Prefix of thread names: `NAME-main`, `NAME-sub-I`, `NAME-worker-I` (default `reactor`).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Listen on `addr` (port 0 picks a free port). Without it the server only connects out.
    pub fn bind(mut self, addr: SocketAddr) -> Self {
        self.bind = Some(addr);
        self
    }

    /// Listen backlog (default 4096; the kernel caps it at `net.core.somaxconn`).
    pub fn backlog(mut self, backlog: i32) -> Self {
        self.backlog = backlog.max(1);
        self
    }

    /// Sub-reactor threads (default: the number of cores).
    pub fn reactors(mut self, n: usize) -> Self {
        self.reactors = n.max(1);
        self
    }

    /// Worker threads running the handler (default: twice the number of cores).
    pub fn workers(mut self, n: usize) -> Self {
        self.workers = n.max(1);
        self
    }

    /// Framing (default: [`LengthPrefixed`] with a 65,536-byte limit).
    pub fn codec(mut self, codec: impl Codec) -> Self {
        self.codec = Arc::new(codec);
        self
    }

    /// Per-connection output high-water mark in bytes (default 4 MiB). A send that would
    /// pass it closes the connection with [`crate::CloseReason::OutputOverflow`].
    pub fn high_water(mut self, bytes: usize) -> Self {
        self.high_water = bytes.max(1);
        self
    }

    /// Open connections above which new ones are rejected (default: unlimited).
    pub fn max_connections(mut self, n: usize) -> Self {
        self.max_connections = n;
        self
    }

    /// Connections one source address may hold open (IPv6: one /64; default: unlimited).
    /// Over it, new ones from there are turned away like those over `max_connections`,
    /// with [`crate::Rejection::TooManyFromAddress`].
    pub fn max_connections_per_ip(mut self, n: usize) -> Self {
        self.max_connections_per_ip = n.max(1);
        self
    }

    /// Input one connection may have waiting for the workers: `bytes` (each frame is
    /// charged its body plus 64 bytes) and `frames` (defaults 256 KiB and 1,024). At
    /// either, its reactor stops reading *that* connection until its worker has brought
    /// the backlog down to half; the rest of the bytes wait in the kernel, and TCP flow
    /// control slows the peer. Other connections are not affected.
    pub fn conn_input_limit(mut self, bytes: usize, frames: usize) -> Self {
        self.input.per_conn = Backlog::limit(bytes, frames);
        self
    }

    /// The input rate each connection may sustain (default: unlimited). A connection
    /// that sends faster is not read until its buckets refill: its data waits in the
    /// kernel and TCP flow control slows the peer, so a flood costs the server no more
    /// decoding and handling than `rate` allows, however fast the peer writes.
    pub fn conn_input_rate(mut self, rate: InputRate) -> Self {
        self.input_rate = Some(rate);
        self
    }

    /// Events the worker pool may hold in total before every reactor stops reading
    /// (default 65,536).
    pub fn queue_capacity(mut self, n: usize) -> Self {
        self.input.total.frames = n.max(1);
        self
    }

    /// Bytes of input the worker pool may hold in total (charged as for
    /// [`Builder::conn_input_limit`]) before every reactor stops reading (default
    /// 256 MiB). Reaching it takes `bytes / conn_input_limit` connections at their own
    /// bound; reading resumes when the workers bring the total down to half.
    pub fn queue_bytes(mut self, bytes: usize) -> Self {
        self.input.total.bytes = bytes.max(1);
        self
    }

    /// How long shutdown may take (default 5 s): it waits for the pool to go idle and
    /// output to flush, then runs each open connection's `on_close` with
    /// [`crate::CloseReason::Shutdown`] and drops the socket once what that sent is
    /// written; at the end of the grace period whatever is left is dropped.
    pub fn shutdown_grace(mut self, grace: Duration) -> Self {
        self.limits.shutdown_grace = grace;
        self
    }

    /// Work of the application's own that graceful shutdown waits for (within the grace
    /// period) before closing connections: the reactors poll `idle` and close only once
    /// it says true. For answers produced off the worker pool, such as a batched
    /// writer's acknowledgements. Called often during shutdown: keep it cheap.
    pub fn shutdown_waits_until(mut self, idle: impl Fn() -> bool + Send + Sync + 'static) -> Self {
        self.app_idle = Some(Arc::new(idle));
        self
    }

    /// How long a closing connection may take to flush and see the peer close (default
    /// 10 s), and how long `on_close` may take before the socket is dropped (default 30 s).
    pub fn close_timeouts(mut self, drain: Duration, await_app: Duration) -> Self {
        self.limits.drain = drain;
        self.limits.await_app = await_app;
        self
    }

    /// Starts every thread and returns the running server.
    pub fn start<H: Handler>(self, handler: H) -> Result<Server, Error> {
        let listener = match self.bind {
            Some(addr) => Some(
                listener::listen(addr, self.backlog)
                    .map_err(|source| Error::Listen { addr, source })?,
            ),
            None => None,
        };
        let local_addr = match &listener {
            Some(l) => Some(
                l.local_addr()
                    .map_err(Error::os("read the listener's address"))?,
            ),
            None => None,
        };

        let mut polls = Vec::with_capacity(self.reactors);
        let mut notifiers = Vec::with_capacity(self.reactors);
        for _ in 0..self.reactors {
            let poll = Poll::new().map_err(Error::os("create a poll"))?;
            let waker = Waker::new(poll.registry(), WAKER).map_err(Error::os("create a waker"))?;
            notifiers.push(Arc::new(ReactorInbox::new(waker)));
            polls.push(poll);
        }
        let acceptor_poll = match listener {
            Some(_) => Some(Poll::new().map_err(Error::os("create a poll"))?),
            None => None,
        };
        let acceptor_waker = match &acceptor_poll {
            Some(poll) => Some(
                Waker::new(poll.registry(), ACCEPTOR_WAKER).map_err(Error::os("create a waker"))?,
            ),
            None => None,
        };

        let counters = Arc::new(Counters::default());
        let stop = Arc::new(AtomicBool::new(false));
        let shutdown = ShutdownHandle::new(Arc::clone(&stop), acceptor_waker, notifiers.clone());
        let loops = Arc::new(LoopPool::new(
            notifiers.clone(),
            Arc::clone(&self.codec),
            self.high_water,
            Arc::clone(&counters),
        ));
        let pool = WorkerPool::new(
            Arc::new(handler),
            Arc::clone(&counters),
            self.input,
            notifiers.clone(),
        );
        let stop_pool = Arc::clone(&pool);
        let mut server = Server {
            local_addr,
            loops: Arc::clone(&loops),
            shutdown,
            counters: Arc::clone(&counters),
            grace: self.limits.shutdown_grace,
            stop_workers: Box::new(move |n| stop_pool.stop_workers(n)),
            acceptor: None,
            reactors: Vec::new(),
            workers: Vec::new(),
        };

        for i in 0..self.workers {
            let pool = Arc::clone(&pool);
            let thread = spawn(format!("{}-worker-{i}", self.name), move || {
                pool.run_worker()
            })?;
            server.workers.push(thread);
        }
        for (i, (poll, notifier)) in polls.into_iter().zip(notifiers).enumerate() {
            let settings = ReactorSettings {
                codec: Arc::clone(&self.codec),
                limits: self.limits,
                input_rate: self.input_rate,
                app_idle: self.app_idle.clone(),
            };
            let reactor = SubReactor::new(
                poll,
                notifier,
                Arc::clone(&pool),
                Arc::clone(&counters),
                settings,
            );
            let thread = spawn_essential(format!("{}-sub-{i}", self.name), move || reactor.run())
                .map_err(Error::os("spawn a thread"))?;
            server.reactors.push(thread);
        }
        if let (Some(listener), Some(poll)) = (listener, acceptor_poll) {
            let per_source = SourceLimit::new(self.max_connections_per_ip);
            let acceptor = Acceptor::new(
                poll,
                listener,
                loops,
                self.max_connections,
                per_source,
                stop,
            )
            .map_err(Error::os("register the listener"))?;
            server.acceptor = Some(
                spawn_essential(format!("{}-main", self.name), move || acceptor.run())
                    .map_err(Error::os("spawn a thread"))?,
            );
        }
        if let Some(addr) = local_addr {
            log::debug!(
                "{}: listening on {addr} with {} sub-reactors and {} workers",
                self.name,
                server.reactors.len(),
                server.workers.len()
            );
        }
        Ok(server)
    }
}

fn spawn(name: String, f: impl FnOnce() + Send + 'static) -> Result<JoinHandle<()>, Error> {
    std::thread::Builder::new()
        .name(name)
        .spawn(f)
        .map_err(Error::os("spawn a thread"))
}

/// A running engine: acceptor (if bound), sub-reactors and workers.
///
/// Dropping it shuts it down and waits for every thread.
pub struct Server {
    local_addr: Option<SocketAddr>,
    loops: Arc<LoopPool>,
    shutdown: ShutdownHandle,
    counters: Arc<Counters>,
    grace: Duration,
    stop_workers: Box<dyn Fn(usize) + Send + Sync>,
    acceptor: Option<JoinHandle<()>>,
    reactors: Vec<JoinHandle<()>>,
    workers: Vec<JoinHandle<()>>,
}

impl Server {
    /// A builder with the defaults.
    pub fn builder() -> Builder {
        Builder::default()
    }

    /// The address the listener is bound to, if the server listens.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.local_addr
    }

    /// The server's live counters.
    pub fn counters(&self) -> &Arc<Counters> {
        &self.counters
    }

    /// A handle that starts the shutdown from any thread.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        self.shutdown.clone()
    }

    /// Starts an outgoing connection handled by the same handler. The handle is usable at
    /// once: frames sent before the connection completes are written when it does; a
    /// failure arrives as `on_close` with [`crate::CloseReason::ConnectFailed`].
    pub fn connect(&self, addr: SocketAddr) -> io::Result<ConnHandle> {
        self.connect_from(None, addr)
    }

    /// Like [`Server::connect`], binding the local end to `local` first (to spread source
    /// addresses across 127.0.0.0/8, for instance).
    pub fn connect_from(
        &self,
        local: Option<SocketAddr>,
        addr: SocketAddr,
    ) -> io::Result<ConnHandle> {
        if self.shutdown.is_requested() {
            return Err(io::Error::other("server is shutting down"));
        }
        let stream = listener::connect(local, addr)?;
        Ok(self.loops.assign(stream, addr, Origin::Connecting, None))
    }

    /// Starts the shutdown and waits for every thread to finish.
    pub fn shutdown(mut self) {
        self.shutdown.shutdown();
        self.join_threads();
    }

    /// Waits until the server has been shut down (by a [`ShutdownHandle`] or a signal)
    /// and every thread has finished.
    pub fn join(mut self) {
        self.shutdown.wait();
        self.join_threads();
    }

    fn join_threads(&mut self) {
        let threads = self
            .acceptor
            .take()
            .into_iter()
            .chain(self.reactors.drain(..));
        for thread in threads {
            if thread.join().is_err() {
                log::error!("a reactor thread panicked");
            }
        }
        // Reactors are gone: no new events. Let the workers finish the queued ones.
        let deadline = Instant::now() + self.grace;
        while self.counters.snapshot().queued_events > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(2));
        }
        (self.stop_workers)(self.workers.len());
        for thread in self.workers.drain(..) {
            if thread.join().is_err() {
                log::error!("a worker thread panicked");
            }
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if !self.reactors.is_empty() || !self.workers.is_empty() {
            self.shutdown.shutdown();
            self.join_threads();
        }
    }
}
