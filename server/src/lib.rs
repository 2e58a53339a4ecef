//! `startserv`, the chat server, as a library (the binary is `main.rs`).
//!
//! The data path, one file a step:
//!
//! ```text
//! socket ─► reactor (frame) ─► handler.rs ─► protocol/request.rs ─► cmd/<op>.rs
//!                                                                     │
//!          store/ (reads, friend ops) ◄───────────────────────────────┤
//!          writer.rs (send_message: batched commit) ◄─────────────────┘
//!                │ after commit: delivery.rs
//!                ├─► reply_queue.rs ─► ack to the sender, in request order
//!                └─► hub.rs ─► `message` push to the recipient's connections
//! ```
//!
//! Layout:
//! * [`server`]: start-up and shutdown wiring; [`config`] and [`logging`].
//! * [`handler`]: the reactor [`reactor::Handler`]; [`session`]: per-connection state.
//! * [`protocol`]: request parsing, error codes, response and push shapes.
//! * [`cmd`]: one file per operation of the contract.
//! * [`writer`]: the batched durable writer; [`delivery`]: acks and pushes after commit;
//!   [`reply_queue`]: ordered responses.
//! * [`hub`]: online connections and pushes; [`presence`]; [`friend_cache`].
//! * [`store`]: the `Store` trait, SQLite and MySQL implementations; [`model`]: records.
//! * [`auth`]: argon2id passwords and tokens; [`rate_limit`]: per-connection limiter.
//! * [`app`]: the shared state every command sees.
//!
//! Threads: reactors only do I/O; commands (and so every store call and password hash)
//! run on the engine's workers; message commits run on the writer thread, their acks and
//! pushes on the delivery thread.

pub mod app;
pub mod auth;
pub mod cmd;
pub mod config;
pub mod delivery;
pub mod friend_cache;
pub mod handler;
pub mod hub;
pub mod logging;
pub mod model;
pub mod password_guard;
pub mod presence;
pub mod protocol;
pub mod rate_limit;
pub mod reply_queue;
pub mod server;
pub mod session;
pub mod store;
pub mod writer;
