//! `startserv`, the chat server, as a library (the binary is `main.rs`).
//!
//! The send path, file by file (socket → frame → handler → store → ack/push):
//!
//! ```text
//! reactor (socket, frame) ─► handler.rs ─► cmd/send_message.rs ─► writer.rs ─► store/
//!   (reactor thread when it never   (friendship, a ticket in the     (batched commit,
//!    blocks, else a worker: parse,  reply queue, a send_job::Job)    one transaction)
//!    rate limit, dispatch)
//!                                                                         │ Committed
//!                  ack in request order ◄─ send_job.rs ◄─ delivery.rs ◄───┘
//!                  `message` pushes ◄───── hub.rs ◄───────┘
//! ```
//!
//! Layout:
//! * [`server`]: start-up and shutdown wiring (it starts every thread); [`config`] and
//!   [`logging`].
//! * [`handler`]: the reactor [`reactor::Handler`]; [`session`]: per-connection state.
//! * [`protocol`]: request parsing, error codes, response and push shapes.
//! * [`cmd`]: one file per operation of the contract.
//! * [`send_job`]: a `send_message` on its way, and every answer it can get; [`writer`]:
//!   the batched durable writer ([`admission`]: which messages it takes, by expected
//!   wait); [`watchdog`]: answers for jobs stuck behind a hung
//!   store; [`delivery`]: acks and pushes after commit ([`delivery_mark`]: how far it
//!   has caught up); [`reply_queue`]: ordered
//!   responses.
//! * [`push_route`]: the delivery seam; [`hub`]: this node's online connections and
//!   pushes; [`sequencer`]: each connection's pushes in timeline order; [`gap_fill`]:
//!   reads from the store what a connection's pushes miss; [`presence`];
//!   [`friend_cache`].
//! * [`store`]: the `Store` trait, SQLite and MySQL implementations; [`model`]: records.
//! * [`janitor`]: purges expired session tokens.
//! * [`metrics`]: every figure of `GET /metrics`; [`health`]: whether the store and
//!   Redis answer (probe threads); [`http_api`]: the HTTP listener (`--http-port`) that
//!   serves both; [`store_errors`]: failed store calls, counted process-wide.
//! * [`auth`]: argon2id passwords and tokens; [`password_guard`]: who may make the server
//!   hash, and when; [`rate_limit`]: token buckets.
//! * [`app`]: the shared state every command sees.
//! * [`cluster`]: cluster mode (`--redis`): routes, presence and pushes across nodes;
//!   [`node_events`]: what the cluster asks of this node.
//!
//! Threads: reactors do I/O, and run the requests that never block (a logged-in
//! `ping`, `send_message` to a friend whose friendship is cached: `handler.rs`,
//! `on_frame_inline`); every other command (and so every store call and password hash)
//! runs on the engine's workers; message commits run on the writer thread (watched by
//! the watchdog), their acks and pushes on the delivery thread. A panic on any of these
//! but a worker or an inline request ends the process (see
//! [`reactor::spawn_essential`]). With `--http-port`, the web client, the WebSocket
//! transport, `/healthz` and `/metrics` are served by an engine of their own, and the
//! health probes run on threads of their own.

pub mod admission;
pub mod app;
pub mod auth;
pub mod cluster;
pub mod cmd;
pub mod config;
pub mod delivery;
pub mod delivery_mark;
pub mod friend_cache;
pub mod gap_fill;
pub mod handler;
pub mod health;
pub mod http_api;
pub mod hub;
pub mod janitor;
pub mod logging;
pub mod metrics;
pub mod model;
pub mod node_events;
pub mod password_guard;
pub mod presence;
pub mod protocol;
pub mod push_route;
pub mod rate_limit;
pub mod reply_queue;
pub mod send_job;
pub mod sequencer;
pub mod server;
pub mod session;
pub mod store;
pub mod store_errors;
pub mod watchdog;
pub mod writer;
