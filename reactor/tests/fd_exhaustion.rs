//! Out of file descriptors: the acceptor refuses new connections cleanly (muduo's spare
//! descriptor: accept, close), keeps serving the connections it has, and accepts again
//! once descriptors free up. The server runs in a child process whose descriptor limit
//! is lowered, so the rest of the tests keep theirs.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use support::*;

const CHILD: &str = "REACTOR_FD_EXHAUSTION_CHILD";
const NAME: &str = "running_out_of_descriptors_refuses_new_connections_and_recovers";
/// The child's descriptor limit: the listener, polls, wakers and a few dozen sockets.
const LIMIT: u64 = 64;

/// Whether the server closed `c` (EOF or reset) within `wait`.
fn closed_within(c: &mut TcpStream, wait: Duration) -> bool {
    c.set_read_timeout(Some(wait)).unwrap();
    let mut buf = [0u8; 64];
    match c.read(&mut buf) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => !matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
    }
}

fn echo(c: &mut TcpStream, text: &[u8]) {
    c.write_all(&frame(text)).unwrap();
    assert_eq!(expect_frame(c), text);
}

#[test]
fn running_out_of_descriptors_refuses_new_connections_and_recovers() {
    if std::env::var_os(CHILD).is_some() {
        rlimit::setrlimit(rlimit::Resource::NOFILE, LIMIT, LIMIT).unwrap();
        let server = start(Recorder::default());
        println!("ADDR {}", server.local_addr().unwrap());
        std::thread::sleep(Duration::from_secs(60));
        return;
    }
    let (mut child, addr) = spawn_child_server(NAME, CHILD);
    let mut first = client(addr);
    echo(&mut first, b"before");
    // Twice the limit: the kernel completes every handshake, the server can accept only
    // until it runs out; the rest are accepted with the spare descriptor and closed.
    let mut others: Vec<TcpStream> = (0..2 * LIMIT).map(|_| client(addr)).collect();
    let started = Instant::now();
    std::thread::sleep(Duration::from_millis(500)); // time for the refusals
    let refused = others
        .iter_mut()
        .map(|c| closed_within(c, Duration::from_millis(10)))
        .filter(|&closed| closed)
        .count();
    assert!(
        refused > 0,
        "no connection was refused at {LIMIT} descriptors"
    );
    assert!(
        refused < others.len(),
        "every connection was refused ({:?})",
        started.elapsed()
    );
    // The connections it has are still served.
    echo(&mut first, b"during");
    // Descriptors free up: new connections are served again.
    drop(others);
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut served = false;
    while Instant::now() < deadline && !served {
        let mut c = client(addr);
        c.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
        served = c.write_all(&frame(b"after")).is_ok()
            && read_frame(&mut c).ok().flatten().as_deref() == Some(&b"after"[..]);
        if !served {
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    echo(&mut first, b"still");
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        served,
        "no new connection was served after descriptors freed up"
    );
}
