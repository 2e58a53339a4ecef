//! `echo_tokio`: the reference echo server of the benchmark, on tokio.
//!
//! A good-faith fast tokio server: a multi-thread runtime, one task per connection that
//! reads into a growable buffer, decodes every complete length-prefixed frame the read
//! brought, re-encodes each echo (prefix + body) into one output buffer and sends all the
//! echoes of that read with a single `write_all`. Handlers run inline on the runtime's
//! threads, with no hand-off to another thread.
//!
//! ```text
//! echo_tokio --port P [--threads T]
//! ```
//!
//! Once the listener is up it prints one line, `listening 127.0.0.1:P`, on stdout; it
//! stops on SIGINT or SIGTERM.

use std::io::{self, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use clap::Parser;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// Bytes in the length prefix.
const PREFIX: usize = 4;
/// Largest body accepted, as in `reactor::LengthPrefixed::default()`.
const MAX_FRAME: usize = 65_536;
/// Listen backlog, as the reactor's (tokio's `TcpListener::bind` uses 1024, which
/// overflows when 1000 clients connect at once and costs them a 1 s SYN retry).
const BACKLOG: u32 = 4096;
/// Free room made in the input buffer before each read.
const READ_ROOM: usize = 64 * 1024;

/// Command line of the tokio echo server.
#[derive(Parser, Debug)]
#[command(about = "Echo server on tokio (length-prefixed frames)")]
struct Args {
    /// TCP port to listen on (0 picks a free one).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Address to bind.
    #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    host: IpAddr,
    /// Runtime worker threads (default: the number of cores).
    #[arg(long)]
    threads: Option<usize>,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let (runtime, _) = benches::tokio_runtime(args.threads, "echo-tokio")?;
    runtime.block_on(serve(SocketAddr::new(args.host, args.port)))
}

async fn serve(addr: SocketAddr) -> Result<(), Box<dyn std::error::Error>> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    let listener = socket.listen(BACKLOG)?;
    let local = listener.local_addr()?;
    {
        let mut stdout = io::stdout().lock();
        writeln!(stdout, "listening {local}")?;
        stdout.flush()?;
    }

    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => {
                    tokio::spawn(async move {
                        // A broken peer only ends its own connection.
                        let _ = echo(stream).await;
                    });
                }
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    eprintln!("echo_tokio: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            },
            _ = tokio::signal::ctrl_c() => break,
            _ = sigterm.recv() => break,
        }
    }
    Ok(())
}

/// Echoes one connection's frames until it closes or breaks the framing.
async fn echo(mut stream: TcpStream) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let mut input: Vec<u8> = Vec::with_capacity(READ_ROOM);
    let mut output: Vec<u8> = Vec::with_capacity(READ_ROOM);
    loop {
        if input.capacity() - input.len() < READ_ROOM / 4 {
            input.reserve(READ_ROOM);
        }
        if stream.read_buf(&mut input).await? == 0 {
            return Ok(());
        }
        let mut pos = 0;
        while let Some(header) = input[pos..].first_chunk::<PREFIX>() {
            let len = u32::from_be_bytes(*header) as usize;
            if len == 0 || len > MAX_FRAME {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("bad frame length {len}"),
                ));
            }
            let end = pos + PREFIX + len;
            if input.len() < end {
                break;
            }
            // Decode, then encode the echo: prefix and body go out in one buffer.
            let body = &input[pos + PREFIX..end];
            output.extend_from_slice(&(body.len() as u32).to_be_bytes());
            output.extend_from_slice(body);
            pos = end;
        }
        if pos > 0 {
            input.drain(..pos);
        }
        if !output.is_empty() {
            stream.write_all(&output).await?;
            output.clear();
        }
    }
}
