//! A complete echo server on the reactor: every frame that arrives is sent back.
//!
//! Run: `cargo run -p reactor --example echo -- 127.0.0.1:7000`, then send
//! length-prefixed frames (4-byte big-endian length, then the body).

use std::net::SocketAddr;

use reactor::{CloseReason, ConnHandle, Handler, Server};

/// The application: no per-connection state, one callback that does the work.
struct Echo;

impl Handler for Echo {
    type Session = ();

    fn on_connect(&self, conn: &ConnHandle) {
        eprintln!("{} connected from {}", conn.id(), conn.peer_addr());
    }

    fn on_frame(&self, conn: &ConnHandle, _session: &mut (), frame: Vec<u8>) {
        // Runs on a worker thread: blocking work would be fine here.
        conn.send(&frame);
    }

    fn on_close(&self, conn: &ConnHandle, _session: (), reason: &CloseReason) {
        eprintln!("{} closed: {reason}", conn.id());
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr: SocketAddr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:7000".into())
        .parse()?;
    let server = Server::builder().bind(addr).start(Echo)?;
    eprintln!("echo server on {:?}; Ctrl-C stops it", server.local_addr());
    server.shutdown_handle().on_signals()?;
    server.join(); // returns after a graceful shutdown: flushed, closed, threads joined
    Ok(())
}
