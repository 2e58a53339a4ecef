//! Outgoing connections owned by the same sub-reactors (`Server::connect`).

mod support;

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use reactor::{CloseReason, ConnHandle, Handler};
use support::*;

/// Collects frames and close reasons of outgoing connections.
#[derive(Clone, Default)]
struct Collect {
    frames: Arc<Mutex<Vec<Vec<u8>>>>,
    closes: Arc<Mutex<Vec<CloseReason>>>,
}

impl Handler for Collect {
    type Session = ();
    fn on_connect(&self, _conn: &ConnHandle) {}
    fn on_frame(&self, _conn: &ConnHandle, _s: &mut (), frame: Vec<u8>) {
        self.frames.lock().push(frame);
    }
    fn on_close(&self, _conn: &ConnHandle, _s: (), reason: &CloseReason) {
        self.closes.lock().push(reason.clone());
    }
}

#[test]
fn connect_sends_before_and_after_the_connection_completes() {
    let echo = start(Recorder::default());
    let collect = Collect::default();
    let client = reactor::Server::builder()
        .name("reactor-client")
        .reactors(1)
        .workers(1)
        .start(collect.clone())
        .unwrap();
    let conns: Vec<ConnHandle> = (0..10)
        .map(|_| client.connect(echo.local_addr().unwrap()).unwrap())
        .collect();
    for (i, c) in conns.iter().enumerate() {
        assert!(
            c.send(format!("early {i}").as_bytes()),
            "queued before connect completes"
        );
    }
    assert!(wait_until(Duration::from_secs(5), || collect
        .frames
        .lock()
        .len()
        == 10));
    for c in &conns {
        assert!(c.send(b"later"));
    }
    assert!(wait_until(Duration::from_secs(5), || collect
        .frames
        .lock()
        .len()
        == 20));
    let mut frames = collect.frames.lock().clone();
    frames.sort();
    assert!(frames.contains(&b"early 7".to_vec()));
    assert_eq!(
        frames.iter().filter(|f| f.as_slice() == b"later").count(),
        10
    );
    for c in &conns {
        c.close();
    }
    assert!(wait_until(Duration::from_secs(5), || collect
        .closes
        .lock()
        .len()
        == 10));
    assert!(collect
        .closes
        .lock()
        .iter()
        .all(|r| *r == CloseReason::Local));
    assert!(
        !conns[0].send(b"after close"),
        "sending to a closed connection is refused"
    );
}

#[test]
fn connect_failure_is_reported_as_a_close() {
    // A port nobody listens on: bind one, note it, close it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let collect = Collect::default();
    let client = reactor::Server::builder()
        .reactors(1)
        .workers(1)
        .start(collect.clone())
        .unwrap();
    let conn = client.connect(port).unwrap();
    assert!(wait_until(Duration::from_secs(5), || !collect
        .closes
        .lock()
        .is_empty()));
    assert_eq!(
        collect.closes.lock()[0],
        CloseReason::ConnectFailed(std::io::ErrorKind::ConnectionRefused)
    );
    assert!(!conn.is_open());
    assert!(!conn.send(b"x"));
}
