//! Graceful shutdown with connections open joins every thread and flushes answers.
//! (Alone in its test binary: it counts the process's threads.)

mod support;

use std::io::Write;
use std::time::Duration;

use reactor::CloseReason;
use support::*;

fn engine_threads() -> Vec<String> {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .map(|name| name.trim().to_string())
        .filter(|name| name.starts_with("reactor-"))
        .collect()
}

#[test]
fn shutdown_joins_every_thread_with_connections_open() {
    let rec = Recorder::default();
    let server = start(rec.clone());
    let addr = server.local_addr().unwrap();
    // acceptor + 2 sub-reactors + 4 workers (comm cuts names to 15 bytes). Each thread
    // names itself as it starts, so wait for all of them.
    assert!(
        wait_until(Duration::from_secs(5), || engine_threads().len() == 7),
        "{:?}",
        engine_threads()
    );

    let mut clients: Vec<_> = (0..50).map(|_| client(addr)).collect();
    for c in &mut clients {
        c.write_all(&frame(b"ping")).unwrap();
    }
    for c in &mut clients {
        assert_eq!(expect_frame(c), b"ping");
    }
    assert!(wait_until(Duration::from_secs(5), || server
        .counters()
        .open()
        == 50));

    let handle = server.shutdown_handle();
    let joiner = std::thread::spawn(move || server.shutdown());
    handle.shutdown(); // asking twice, from another thread, is harmless
    joiner.join().unwrap();

    assert!(engine_threads().is_empty(), "{:?}", engine_threads());
    // Every connection was closed, and the application heard about each.
    for c in &mut clients {
        assert_eq!(read_frame(c).ok().flatten(), None);
    }
    let closes = rec.closes();
    assert_eq!(closes.len(), 50);
    assert!(closes.iter().all(|(_, r)| *r == CloseReason::Shutdown));
    // New connections are refused: the listener is closed.
    assert!(std::net::TcpStream::connect(addr).is_err());
    assert_only_workers(&rec.seen.lock());
}
