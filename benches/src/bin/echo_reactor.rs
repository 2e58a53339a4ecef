//! `echo_reactor`: the echo server of the benchmark, built on our `reactor` engine.
//!
//! Every length-prefixed frame a client sends comes back unchanged on the same
//! connection. By default the handler runs on the engine's worker pool, as an
//! application's that may block does: this measures the engine as such applications use
//! it (reactor → worker → reactor). With `--inline` the handler says an echo never
//! blocks (`Handler::inline`), and frames are answered on the reactor that read them.
//!
//! ```text
//! echo_reactor --port P [--reactors N] [--workers M] [--inline]
//! ```
//!
//! Once the listener is up it prints one line, `listening 127.0.0.1:P`, on stdout; it
//! stops on SIGINT or SIGTERM.

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use clap::Parser;

/// Command line of the reactor echo server.
#[derive(Parser, Debug)]
#[command(about = "Echo server on the reactor engine (length-prefixed frames)")]
struct Args {
    /// TCP port to listen on (0 picks a free one).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Address to bind.
    #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    host: IpAddr,
    /// Sub-reactor threads (default: the engine's, one per core).
    #[arg(long)]
    reactors: Option<usize>,
    /// Worker threads running the handler (default: the engine's, two per core).
    #[arg(long)]
    workers: Option<usize>,
    /// Answer on the reactor thread (`Handler::inline`), not on a worker.
    #[arg(long)]
    inline: bool,
}

/// Sends every frame straight back; `inline`: on the reactor thread that read it.
struct Echo {
    inline: bool,
}

impl reactor::Handler for Echo {
    type Session = ();

    fn on_connect(&self, _conn: &reactor::ConnHandle) {}

    fn on_frame(&self, conn: &reactor::ConnHandle, _session: &mut (), frame: Vec<u8>) {
        // A false return means the connection is closing; there is nobody to answer.
        conn.send(&frame);
    }

    fn inline(&self, _conn: &reactor::ConnHandle, _frame: &[u8]) -> bool {
        self.inline
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    // Thousands of connections need more descriptors than the usual soft limit of 1024.
    rlimit::increase_nofile_limit(u64::MAX)?;

    let mut builder = reactor::Server::builder()
        .name("echo")
        .bind(SocketAddr::new(args.host, args.port));
    if let Some(n) = args.reactors {
        builder = builder.reactors(n);
    }
    if let Some(n) = args.workers {
        builder = builder.workers(n);
    }
    let server = builder.start(Echo {
        inline: args.inline,
    })?;
    server.shutdown_handle().on_signals()?;

    let addr = server.local_addr().ok_or("the server is not listening")?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "listening {addr}")?;
    stdout.flush()?;
    drop(stdout);

    server.join();
    Ok(())
}
