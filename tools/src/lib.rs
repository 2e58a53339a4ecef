//! Operator tools for the chat server: `chatload`, the load generator, and
//! `relay_floor`, the raw relay floor it is compared with.
//!
//! `chatload` drives `startserv` over the wire contract (`docs/protocol.md`) with
//! the project's own reactor engine used as a client: one engine, many outgoing
//! connections, callbacks on worker threads. Its subcommands live in the binary
//! (`src/bin/chatload.rs`); everything they share is in this library. The protocol's
//! one typed definition is the `proto` crate: every JSON request chatload sends is a
//! `proto::Request`, and every JSON frame it reads is read as a `proto` response or
//! push.
//!
//! Layout, one concept per file (the dialect files import in one direction:
//! `dialect` → `floor` → `wire`):
//! * [`wire`]: [`wire::Frame`], the decoded form of every frame the server sends
//!   (responses and pushes), read from JSON through `proto`, with the checks that make a
//!   frame [`wire::Malformed`].
//! * [`floor`]: the minimal binary protocol spoken to `relay_floor` (`chatload relay
//!   --floor`), encoder and decoder on both sides; decodes into [`wire::Frame`].
//! * [`dialect`]: [`dialect::Wire`], the dialect of a connection (JSON or floor), which
//!   sends encoding and decoding to one or the other.
//! * [`client`]: [`client::Engine`] (the reactor in client mode) and [`client::Peer`] (one
//!   connection: pipelined requests matched to responses by `seq`, pushes handed to a
//!   [`client::PushSink`], every anomaly counted in [`client::Health`], never a panic).
//!   Its connections go over TCP or WebSocket ([`client::Transport`]).
//! * [`ws_codec`]: the client side of WebSocket (RFC 6455) on that engine: the upgrade
//!   handshake, masked text frames out, server frames in (`chatload relay --ws`).
//! * [`accounts`]: user names, the run prefix, source-address spreading and bulk
//!   registration.
//! * [`relay`]: the relay scenario (closed or open loop, ack and delivery latency,
//!   exactly-once check with a `sync` to tell lost from late, timeline position check,
//!   pairs straddling the nodes of a cluster); its set-up and its measured runs are
//!   reusable pieces ([`relay::setup`], [`relay::phase`]).
//! * [`ledger`]: the pure exactly-once accounting the relay scenario ends with.
//! * [`proc_cpu`]: other processes' CPU time over the measured window (`relay
//!   --cpu-of NAME=PID`: CPU per message of the server and the database).
//! * [`timeline`]: the pure per-connection check that timeline positions (pushes and own
//!   acks) arrive gapless, once each and pushes in order (protocol v2, guarantee 3).
//! * [`conns`]: many idle logged-in connections, spread over processes (`--procs`).
//! * [`login`]: the login storm.
//! * [`abuse`]: the relay and a pinger, without and then with attackers; latency, RSS
//!   and losses side by side.
//! * [`attack`]: the attackers (big frames never read, pipelined logins, half-open
//!   frames), each from a source address of its own.
//! * [`rawconn`]: plain non-blocking sockets from a chosen source address, and `poll`.
//! * [`pinger`]: one `push: false` connection pinging on a schedule, round trips recorded.
//! * [`rss`]: the server's `VmRSS`, once or sampled every 100 ms.
//! * [`argon2_rate`]: raw argon2id hashes per second on all cores.
//! * [`stats`]: HdrHistogram recording, merging and percentiles; keyed counters.
//! * [`report`]: the summary table (stderr), the final JSON line (stdout), progress bars.
//! * [`args`]: command-line options shared by the subcommands and their validation.
//! * [`error`]: why a run stops ([`error::LoadError`]).
//!
//! May touch: nothing itself; each module says what it may touch.

#![deny(missing_docs)]

pub mod abuse;
pub mod accounts;
pub mod argon2_rate;
pub mod args;
pub mod attack;
pub mod client;
pub mod conns;
pub mod dialect;
pub mod error;
pub mod floor;
pub mod ledger;
pub mod login;
pub mod pinger;
pub mod proc_cpu;
pub mod rawconn;
pub mod relay;
pub mod report;
pub mod rss;
pub mod stats;
pub mod timeline;
pub mod wire;
pub mod ws_codec;

pub use error::LoadError;
