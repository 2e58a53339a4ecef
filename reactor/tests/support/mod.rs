//! Shared helpers for the reactor's integration tests: blocking loopback clients that
//! speak the length-prefixed framing, and handlers that record what they saw.
#![allow(dead_code)]

use std::io::{self, Read};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use reactor::{CloseReason, ConnHandle, FrameError, Handler, Rejection, Server};

/// Frames `body` with a 4-byte big-endian length.
pub fn frame(body: &[u8]) -> Vec<u8> {
    let mut out = (body.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(body);
    out
}

/// Reads one frame; `Ok(None)` on a clean EOF before the header.
pub fn read_frame(stream: &mut TcpStream) -> io::Result<Option<Vec<u8>>> {
    let mut header = [0u8; 4];
    let mut got = 0;
    while got < 4 {
        let n = stream.read(&mut header[got..])?;
        if n == 0 {
            return if got == 0 {
                Ok(None)
            } else {
                Err(io::ErrorKind::UnexpectedEof.into())
            };
        }
        got += n;
    }
    let mut body = vec![0; u32::from_be_bytes(header) as usize];
    stream.read_exact(&mut body)?;
    Ok(Some(body))
}

/// Reads one frame that must be there.
pub fn expect_frame(stream: &mut TcpStream) -> Vec<u8> {
    read_frame(stream)
        .expect("read frame")
        .expect("frame before EOF")
}

/// A connected client with a read timeout.
pub fn client(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.set_nodelay(true).unwrap();
    s
}

/// Waits until `cond` holds, up to `limit`; returns whether it did.
pub fn wait_until(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    cond()
}

/// Everything a [`Recorder`] saw.
#[derive(Default)]
pub struct Seen {
    /// Name of the thread of every callback.
    pub threads: Vec<String>,
    pub closes: Vec<(u64, CloseReason)>,
    pub frame_errors: Vec<FrameError>,
    pub rejected: usize,
    pub frames: usize,
}

/// An echo handler that records every callback and the thread it ran on.
#[derive(Clone, Default)]
pub struct Recorder {
    pub seen: Arc<Mutex<Seen>>,
}

impl Recorder {
    fn note_thread(&self) {
        let name = std::thread::current().name().unwrap_or("?").to_string();
        self.seen.lock().threads.push(name);
    }

    pub fn closes(&self) -> Vec<(u64, CloseReason)> {
        self.seen.lock().closes.clone()
    }
}

impl Handler for Recorder {
    type Session = ();

    fn on_connect(&self, _conn: &ConnHandle) {
        self.note_thread();
    }

    fn on_frame(&self, conn: &ConnHandle, _s: &mut (), frame: Vec<u8>) {
        self.note_thread();
        self.seen.lock().frames += 1;
        conn.send(&frame);
    }

    fn on_frame_error(&self, conn: &ConnHandle, _s: &mut (), error: &FrameError) {
        self.note_thread();
        self.seen.lock().frame_errors.push(error.clone());
        conn.send(format!("error: {error}").as_bytes());
    }

    fn on_close(&self, conn: &ConnHandle, _s: (), reason: &CloseReason) {
        self.note_thread();
        self.seen
            .lock()
            .closes
            .push((conn.id().get(), reason.clone()));
    }

    fn on_rejected(&self, conn: &ConnHandle, why: Rejection) {
        self.note_thread();
        self.seen.lock().rejected += 1;
        conn.send(match why {
            Rejection::ServerFull => b"server_full".as_slice(),
            Rejection::TooManyFromAddress => b"too_many_from_address",
        });
    }
}

/// Starts a server on a free loopback port.
pub fn start<H: Handler>(handler: H) -> Server {
    start_with(reactor::Server::builder(), handler)
}

/// Starts a configured server on a free loopback port.
pub fn start_with<H: Handler>(builder: reactor::Builder, handler: H) -> Server {
    builder
        .bind("127.0.0.1:0".parse().unwrap())
        .reactors(2)
        .workers(4)
        .start(handler)
        .expect("start server")
}

/// Every recorded callback ran on a worker thread.
pub fn assert_only_workers(seen: &Seen) {
    assert!(!seen.threads.is_empty());
    for name in &seen.threads {
        assert!(
            name.starts_with("reactor-worker-"),
            "handler ran on thread {name:?}"
        );
    }
}

/// Runs this test binary's test `name` again as a child process with `env_var` set (the
/// child starts a server and prints `ADDR <addr>`), for tests that must end or cripple
/// their process. Returns the child and the address it printed.
pub fn spawn_child_server(name: &str, env_var: &str) -> (std::process::Child, SocketAddr) {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env(env_var, "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let addr = loop {
        let line = lines
            .next()
            .expect("the child printed its address")
            .unwrap();
        // The harness may print its "test ... " prefix on the same line.
        if let Some(at) = line.find("ADDR ") {
            break line[at + 5..].trim().parse().unwrap();
        }
    };
    (child, addr)
}
