//! 5,000 concurrent connections, each echoing correctly.

mod support;

use std::io::Write;
use std::net::TcpStream;

use support::*;

#[test]
fn five_thousand_concurrent_connections_echo_correctly() {
    const CONNS: usize = 5_000;
    // 5,000 client and 5,000 server sockets live in this one process.
    let (_, hard) = rlimit::getrlimit(rlimit::Resource::NOFILE).unwrap();
    rlimit::setrlimit(rlimit::Resource::NOFILE, hard, hard).unwrap();
    assert!(
        hard >= 2 * CONNS as u64 + 100,
        "hard file limit {hard} is too low"
    );

    let rec = Recorder::default();
    let server = start(rec.clone());
    let addr = server.local_addr().unwrap();
    let mut clients: Vec<TcpStream> = (0..CONNS).map(|_| client(addr)).collect();
    // All are open at once before any frame is sent.
    assert!(wait_until(std::time::Duration::from_secs(20), || server
        .counters()
        .open()
        == CONNS));
    for (i, c) in clients.iter_mut().enumerate() {
        c.write_all(&frame(format!("hello from {i}").as_bytes()))
            .unwrap();
    }
    for (i, c) in clients.iter_mut().enumerate() {
        assert_eq!(expect_frame(c), format!("hello from {i}").into_bytes());
    }
    let snapshot = server.counters().snapshot();
    assert_eq!(snapshot.accepted, CONNS as u64);
    assert_eq!(snapshot.frames_in, CONNS as u64);
    drop(clients);
    assert!(wait_until(std::time::Duration::from_secs(20), || server
        .counters()
        .open()
        == 0));
    assert_only_workers(&rec.seen.lock());
}
