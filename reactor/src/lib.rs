//! A multi-reactor TCP engine on mio, in the style of muduo's `net/`.
//!
//! ```text
//!  acceptor thread ──round-robin──► sub-reactor 0..N ──frames──► worker pool ──► Handler
//!  (listen, accept)                 (read, decode,                (your callbacks,
//!                                    write, timers)                may block)
//!        any thread ── ConnHandle::send ──► outbox ──► owning sub-reactor ──► socket
//! ```
//!
//! Layout, one idea per file:
//! * [`server`]: [`Builder`] and [`Server`]: configuration, threads, `connect`, shutdown.
//! * `acceptor`: the main reactor; accepts and hands sockets out (`loop_pool`).
//! * `listener`: the socket2-made listener (backlog 4096) and outgoing sockets.
//! * `sub_reactor`: one `mio::Poll` per thread; reads, decodes, writes, fires deadlines.
//! * `connection`: a socket's reactor-side state and life cycle.
//! * [`codec`]: the [`Codec`] trait and the [`LengthPrefixed`] framing.
//! * `worker_pool`, `mailbox` and `run_queue`: ordered per-connection dispatch with
//!   back-pressure; idle workers park without spinning.
//! * [`handle`]: [`ConnHandle`], the `Send` name of a connection; its outbox.
//! * `send_batch`: [`SendBatch`], one write per connection for a thread's fan-out.
//! * `notifier`: the queue and waker through which other threads reach a reactor.
//! * `timer_heap` and `clock`: per-reactor deadlines.
//! * [`handler`]: the [`Handler`] trait an application implements, and [`CloseReason`].
//! * [`counters`]: [`Counters`] for export. [`shutdown`]: [`ShutdownHandle`].
//!
//! Guarantees: handlers never run on reactor threads; one connection's callbacks run
//! one at a time in arrival order; every queue is bounded (see `worker_pool` and
//! `notifier`); a frame's header and body leave in the same `write` call.
//!
//! See `examples/echo.rs` for a complete server in a few dozen lines.

#![deny(missing_docs)]

mod acceptor;
mod clock;
pub mod codec;
mod connection;
pub mod counters;
mod error;
pub mod handle;
pub mod handler;
mod listener;
mod loop_pool;
mod mailbox;
mod notifier;
mod run_queue;
mod send_batch;
pub mod server;
pub mod shutdown;
mod sub_reactor;
mod timer_heap;
mod worker_pool;

pub use codec::{Codec, Decoded, FrameError, LengthPrefixed};
pub use counters::{Counters, CountersSnapshot};
pub use error::Error;
pub use handle::{ConnHandle, ConnId, SendError};
pub use handler::{CloseReason, Handler};
pub use send_batch::SendBatch;
pub use server::{Builder, Server};
pub use shutdown::ShutdownHandle;
