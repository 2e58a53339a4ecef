//! `relay_floor`: the raw relay floor, the chat relay with everything but the reactor
//! taken away.
//!
//! ```text
//! relay_floor [--port 0] [--bind 127.0.0.1] [--reactors N] [--workers N]
//! ```
//!
//! A server on our reactor engine with a trivial handler: no JSON, no store, no
//! friends, no rate limit. It speaks the binary protocol of [`tools::floor`]: a client
//! logs in with `L <user>`; `S <to> <payload>` is answered with an ack (`a`, carrying a
//! server-wide `msg_id`) and the payload is pushed unchanged (`m`) to the connection
//! logged in as `<to>`, just as `startserv` acks a `send_message` and pushes the
//! message. `chatload relay --floor` drives it with the same pacing, latency and
//! exactly-once accounting as the real relay, so `relay ÷ floor` is the share of the
//! engine's relay capacity the chat server keeps once JSON and storage are added.
//!
//! Prints `listening <addr>` on stdout once bound (so `--port 0` works in scripts) and
//! runs until SIGINT or SIGTERM. Framing errors close the connection (the engine does
//! that); a request it cannot read gets an `e` response with `bad_request`. Error codes
//! are the chat protocol's (`proto::ErrorCode`).
//! May touch: its listening socket and connections, stdout (the `listening` line), stderr
//! (errors), and the SIGINT/SIGTERM handlers.

use std::collections::HashMap;
use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};

use clap::Parser;
use parking_lot::Mutex;
use proto::ErrorCode;
use reactor::{ConnHandle, Handler, LengthPrefixed, Server};
use tools::floor::{self, Request};

const SHARDS: usize = 64;

/// Command line of the floor server.
#[derive(Parser, Debug)]
#[command(
    name = "relay_floor",
    about = "Raw relay floor server for chatload relay --floor"
)]
struct Args {
    /// TCP port (0 picks a free one).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    bind: IpAddr,
    /// Reactor threads (default: the number of cores).
    #[arg(long)]
    reactors: Option<usize>,
    /// Worker threads (default: twice the number of cores).
    #[arg(long)]
    workers: Option<usize>,
}

/// Who is logged in on which connection, sharded by user id.
struct Floor {
    users: Vec<Mutex<HashMap<u32, ConnHandle>>>,
    next_msg_id: AtomicU64,
}

impl Floor {
    fn shard(&self, user: u32) -> &Mutex<HashMap<u32, ConnHandle>> {
        &self.users[user as usize % SHARDS]
    }
}

impl Handler for Floor {
    /// The user this connection logged in as.
    type Session = Option<u32>;

    fn on_connect(&self, _conn: &ConnHandle) -> Option<u32> {
        None
    }

    fn on_frame(&self, conn: &ConnHandle, session: &mut Option<u32>, frame: Vec<u8>) {
        match floor::parse_request(&frame) {
            Ok(Request::Login { seq, user }) => {
                self.shard(user).lock().insert(user, conn.clone());
                *session = Some(user);
                conn.send(&floor::encode_done(floor::R_LOGIN, seq));
            }
            Ok(Request::Send { seq, to, payload }) => {
                let Some(from) = *session else {
                    conn.send(&floor::encode_error(
                        seq,
                        floor::OP_SEND,
                        ErrorCode::Unauthenticated,
                    ));
                    return;
                };
                let target = self.shard(to).lock().get(&to).cloned();
                let Some(target) = target else {
                    conn.send(&floor::encode_error(
                        seq,
                        floor::OP_SEND,
                        ErrorCode::NoSuchUser,
                    ));
                    return;
                };
                let msg_id = self.next_msg_id.fetch_add(1, Ordering::Relaxed) + 1;
                conn.send(&floor::encode_ack(seq, msg_id));
                target.send(&floor::encode_push(msg_id, from, payload));
            }
            Ok(Request::Ping { seq }) => {
                conn.send(&floor::encode_done(floor::R_PONG, seq));
            }
            Err((seq, op)) => {
                conn.send(&floor::encode_error(seq, op, ErrorCode::BadRequest));
            }
        }
    }

    fn on_close(&self, conn: &ConnHandle, session: Option<u32>, _reason: &reactor::CloseReason) {
        if let Some(user) = session {
            let mut shard = self.shard(user).lock();
            if shard.get(&user).is_some_and(|c| c.id() == conn.id()) {
                shard.remove(&user);
            }
        }
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let handler = Floor {
        users: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
        next_msg_id: AtomicU64::new(0),
    };
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    let server = Server::builder()
        .name("floor")
        .bind(SocketAddr::new(args.bind, args.port))
        .reactors(args.reactors.unwrap_or(cores))
        .workers(args.workers.unwrap_or(cores * 2))
        .codec(LengthPrefixed::new(65_536))
        .start(handler);
    let server = match server {
        Ok(server) => server,
        Err(e) => {
            eprintln!("relay_floor: {e}");
            return ExitCode::FAILURE;
        }
    };
    let Some(addr) = server.local_addr() else {
        eprintln!("relay_floor: no listening address");
        return ExitCode::FAILURE;
    };
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "listening {addr}");
    let _ = out.flush();
    drop(out);
    if let Err(e) = server.shutdown_handle().on_signals() {
        eprintln!("relay_floor: cannot install signal handlers: {e}");
        return ExitCode::FAILURE;
    }
    server.join();
    ExitCode::SUCCESS
}
