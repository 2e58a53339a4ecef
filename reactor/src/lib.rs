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
//! * [`handle`]: [`ConnHandle`], the `Send` name of a connection; `conn_id`: [`ConnId`].
//! * `conn_shared`: the half of a connection its reactor and its handles share;
//!   `outbox`: the frames queued for it and write-through to its socket.
//! * `send_batch`: [`SendBatch`], the one corking mechanism (see "Write path" below).
//! * `backlog`: what queued input costs, and its bounds (see "Input bounds" below);
//!   `input_rate`: [`InputRate`], how fast a connection may send.
//! * `source_limit`: connections per source address ([`source_key`]).
//! * `notice` and `notifier`: what other threads ask of a reactor, and the queue and
//!   waker through which they ask.
//! * `timer_queue` and `clock`: per-reactor deadlines, one entry per connection.
//! * `essential`: [`spawn_essential`], threads whose panic ends the process.
//! * [`handler`]: the [`Handler`] trait an application implements; `close_reason`:
//!   [`CloseReason`] and [`Rejection`].
//! * [`counters`]: [`Counters`] for export. [`shutdown`]: [`ShutdownHandle`].
//!
//! Guarantees: handlers run on workers, never on reactor threads, unless a handler says
//! a frame may run inline ([`Handler::inline`]: no hand-off, for work that never blocks);
//! one connection's callbacks run one at a time in arrival order; every queue is bounded (see `worker_pool` and
//! `notifier`); a frame's header and body leave in the same `write` call.
//!
//! # Write path: when bytes reach the socket
//!
//! [`ConnHandle::send`] encodes the frame into the connection's outbox and counts it
//! against the high-water mark (past it the connection is closed, see
//! [`CloseReason::OutputOverflow`]). Then one of three things happens:
//! 1. **Held**: a [`SendBatch`] is open on the sending thread. The frame waits; when the
//!    batch ends (or the connection's held bytes pass [`SendBatch::LIMIT`]) each
//!    connection it touched is written once. Every worker runs each turn of a
//!    connection's callbacks inside a batch, so a handler's answers and pushes leave in
//!    one write per connection without it asking.
//! 2. **Written through**: no batch, and the reactor holds nothing unwritten for the
//!    connection: the sending thread writes the outbox to the socket at once, with one
//!    non-blocking `write` under the outbox's lock.
//! 3. **Left to the reactor**: the socket pushed back (a partial write), the connection
//!    is still being established, or the reactor is already writing: the frame waits in
//!    the outbox and the owning sub-reactor (told once, by a `Flush` notice) writes it on
//!    writable readiness, until the outbox is empty and write-through resumes.
//!
//! Frames from one thread keep their order; frames from different threads never
//! interleave their bytes (the outbox's lock). The reactor owns the descriptor: when it
//! drops a connection it takes the socket out of the outbox first, so no sender can
//! write to a closed (or reused) descriptor.
//!
//! # Input bounds: one connection cannot hurt the others
//!
//! Frames read and not yet handled are charged to their connection and to the pool,
//! each frame its body plus 64 bytes ([`Builder::conn_input_limit`],
//! [`Builder::queue_bytes`], [`Builder::queue_capacity`]):
//! * **Per connection** (default 256 KiB or 1,024 frames): at the bound its reactor stops
//!   decoding and reading that connection; the rest waits in the kernel's buffer and TCP
//!   flow control slows the sender. Its worker resumes it at half. A flood therefore
//!   costs the server at most the bound plus one read (64 KiB) and one frame.
//! * **Per connection, in time** ([`Builder::conn_input_rate`], default unlimited): a
//!   connection that sends faster than its byte and frame rates is not read until its
//!   buckets refill, so a flood costs no more decoding and handling than the rate.
//! * **Workers are shared fairly**: a connection holds at most one worker at a time, for
//!   at most 32 frames or 2 ms, then goes to the back of the run queue.
//! * **In total** (default 256 MiB or 65,536 events): at the bound every reactor stops
//!   reading until the workers bring the total down to half. With the defaults it takes
//!   1,024 connections, each at its own bound, to get there.
//! * **A connection that is gone** (reset, closed by the application, or dropped for not
//!   reading its output) has its waiting frames dropped, not run: their answers could not
//!   be delivered. For a request/response protocol that means a request the peer sent
//!   just before it vanished may never have been executed; the peer, not having its
//!   answer, must treat it as unknown and retry (an idempotent request makes that safe).
//!   A peer that only half-closes (shuts down its sending side) still gets every answer.
//! * **Per source address** (default unlimited, [`Builder::max_connections_per_ip`]):
//!   over the cap a new connection is turned away through
//!   [`Handler::on_rejected`].
//! * **Essential threads**: a panic on the acceptor or a sub-reactor ends the process
//!   (see [`spawn_essential`]); a panic in a callback closes only its connection.
//!
//! See `examples/echo.rs` for a complete server in a few dozen lines.

#![deny(missing_docs)]

mod acceptor;
mod backlog;
mod clock;
mod close_reason;
pub mod codec;
mod conn_id;
mod conn_shared;
mod connection;
pub mod counters;
mod error;
mod essential;
pub mod handle;
pub mod handler;
mod input_rate;
mod listener;
mod loop_pool;
mod mailbox;
mod notice;
mod notifier;
mod outbox;
mod run_queue;
mod send_batch;
pub mod server;
pub mod shutdown;
mod source_limit;
mod sub_reactor;
mod timer_queue;
mod worker_pool;

pub use close_reason::{CloseReason, Rejection};
pub use codec::{Codec, Decoded, FrameError, LengthPrefixed};
pub use conn_id::ConnId;
pub use counters::{Counters, CountersSnapshot};
pub use error::Error;
pub use essential::spawn_essential;
pub use handle::{ConnHandle, SendError};
pub use handler::Handler;
pub use input_rate::InputRate;
pub use send_batch::SendBatch;
pub use server::{Builder, Server};
pub use shutdown::ShutdownHandle;
pub use source_limit::source_key;
