//! One connection cannot hurt the others: per-connection input bounds, frames of a
//! connection that is gone, connections per source address, timer entries.

mod support;

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reactor::{ConnHandle, Handler};
use support::*;

/// Frames starting with `F` cost their handler `slow`; the rest are echoed at once.
#[derive(Clone)]
struct Costly {
    slow: Duration,
    handled_slow: Arc<AtomicUsize>,
}

impl Costly {
    fn new(slow: Duration) -> Self {
        Self {
            slow,
            handled_slow: Arc::default(),
        }
    }
}

impl Handler for Costly {
    type Session = ();
    fn on_connect(&self, _conn: &ConnHandle) {}
    fn on_frame(&self, conn: &ConnHandle, _s: &mut (), frame: Vec<u8>) {
        if frame.first() == Some(&b'F') {
            self.handled_slow.fetch_add(1, Ordering::SeqCst);
            std::thread::sleep(self.slow);
        } else {
            conn.send(&frame);
        }
    }
}

/// Writes `F`-frames of `size` bytes as fast as the socket takes them until `stop`.
fn flood(addr: SocketAddr, size: usize, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut c = client(addr);
        let mut body = vec![b'x'; size];
        body[0] = b'F';
        let f = frame(&body);
        c.set_write_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        while !stop.load(Ordering::SeqCst) {
            if let Err(e) = c.write_all(&f) {
                if e.kind() != std::io::ErrorKind::WouldBlock
                    && e.kind() != std::io::ErrorKind::TimedOut
                {
                    return;
                }
            }
        }
    })
}

#[test]
fn a_flooding_connection_is_paused_alone_and_its_backlog_stays_bounded() {
    const BYTES: usize = 128 * 1024;
    const FRAMES: usize = 64;
    let handler = Costly::new(Duration::from_millis(2));
    let server = start_with(
        reactor::Server::builder().conn_input_limit(BYTES, FRAMES),
        handler.clone(),
    );
    let addr = server.local_addr().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let flooders: Vec<_> = (0..2)
        .map(|_| flood(addr, 60 * 1024, Arc::clone(&stop)))
        .collect();
    let mut pinger = client(addr);
    let mut worst = Duration::ZERO;
    let mut max_bytes = 0;
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(3) {
        let sent = Instant::now();
        pinger.write_all(&frame(b"ping")).unwrap();
        assert_eq!(expect_frame(&mut pinger), b"ping");
        worst = worst.max(sent.elapsed());
        max_bytes = max_bytes.max(server.counters().snapshot().queued_bytes);
        std::thread::sleep(Duration::from_millis(20));
    }
    stop.store(true, Ordering::SeqCst);
    for f in flooders {
        f.join().unwrap();
    }
    assert!(
        handler.handled_slow.load(Ordering::SeqCst) > 10,
        "the flood was read"
    );
    assert!(worst < Duration::from_secs(1), "a ping waited {worst:?}");
    // Each flooder: its bound plus the one frame that crossed it.
    let bound = 2 * (BYTES + 64 * 1024);
    assert!(
        max_bytes <= bound,
        "queued {max_bytes} bytes, bound {bound}"
    );
}

#[test]
fn frames_of_a_connection_that_is_gone_are_dropped_not_run() {
    let handler = Costly::new(Duration::from_millis(5));
    let server = start(handler.clone());
    let addr = server.local_addr().unwrap();
    // 1,000 slow frames (5 s of work), then a reset: the peer is gone.
    let c = client(addr);
    let mut all = Vec::new();
    for _ in 0..1000 {
        all.extend(frame(b"F slow"));
    }
    (&c).write_all(&all).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let sock = socket2::SockRef::from(&c);
    sock.set_linger(Some(Duration::ZERO)).unwrap();
    drop(c);
    let gone = Instant::now();
    assert!(
        wait_until(Duration::from_secs(2), || server
            .counters()
            .snapshot()
            .queued_events
            == 0),
        "the pool still holds {} events",
        server.counters().snapshot().queued_events
    );
    let run = handler.handled_slow.load(Ordering::SeqCst);
    assert!(
        run < 200,
        "{run} frames of the reset connection were run ({:?} after the reset)",
        gone.elapsed()
    );
}

#[test]
fn connections_per_source_address_are_capped() {
    let rec = Recorder::default();
    let server = start_with(
        reactor::Server::builder().max_connections_per_ip(2),
        rec.clone(),
    );
    let addr = server.local_addr().unwrap();
    let mut a = client(addr);
    let mut b = client(addr);
    for c in [&mut a, &mut b] {
        c.write_all(&frame(b"hi")).unwrap();
        assert_eq!(expect_frame(c), b"hi");
    }
    let mut third = client(addr);
    assert_eq!(expect_frame(&mut third), b"too_many_from_address");
    assert_eq!(read_frame(&mut third).unwrap(), None);
    // Another source address is not affected.
    let other = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    other
        .bind(&SocketAddr::from(([127, 0, 0, 2], 0)).into())
        .unwrap();
    other.connect(&addr.into()).unwrap();
    let mut other: TcpStream = other.into();
    other.write_all(&frame(b"elsewhere")).unwrap();
    assert_eq!(expect_frame(&mut other), b"elsewhere");
    // A place given back is usable again.
    drop(a);
    assert!(wait_until(Duration::from_secs(5), || server
        .counters()
        .open()
        == 2));
    let mut fourth = client(addr);
    fourth.write_all(&frame(b"back")).unwrap();
    assert_eq!(expect_frame(&mut fourth), b"back");
}

/// Moves the deadline earlier and later on every frame, as a login/logout cycle does.
struct Juggler;

impl Handler for Juggler {
    type Session = u32;
    fn on_connect(&self, conn: &ConnHandle) -> u32 {
        conn.set_deadline(Duration::from_secs(60));
        0
    }
    fn on_frame(&self, conn: &ConnHandle, n: &mut u32, frame: Vec<u8>) {
        *n += 1;
        let secs = if n.is_multiple_of(2) { 120 } else { 30 };
        conn.set_deadline(Duration::from_secs(secs));
        conn.send(&frame);
    }
}

#[test]
fn moving_deadlines_keep_one_timer_entry_per_connection() {
    let server = start(Juggler);
    let addr = server.local_addr().unwrap();
    let mut clients: Vec<TcpStream> = (0..4).map(|_| client(addr)).collect();
    for round in 0..2_000 {
        for c in &mut clients {
            c.write_all(&frame(b"t")).unwrap();
            assert_eq!(expect_frame(c), b"t", "round {round}");
        }
    }
    let timers = server.counters().snapshot().timers;
    assert!(
        timers <= clients.len(),
        "{timers} timer entries for 4 connections"
    );
    drop(clients);
    assert!(wait_until(Duration::from_secs(5), || server
        .counters()
        .snapshot()
        .timers
        == 0));
}

/// Counts the bytes of the frames it handles.
#[derive(Clone, Default)]
struct Tally {
    bytes: Arc<AtomicUsize>,
}

impl Handler for Tally {
    type Session = ();
    fn on_connect(&self, _conn: &ConnHandle) {}
    fn on_frame(&self, conn: &ConnHandle, _s: &mut (), frame: Vec<u8>) {
        if frame.first() == Some(&b'F') {
            self.bytes.fetch_add(frame.len() + 4, Ordering::SeqCst);
        } else {
            conn.send(&frame);
        }
    }
}

#[test]
fn a_connection_is_read_no_faster_than_its_input_rate() {
    const RATE: f64 = 200_000.0;
    let tally = Tally::default();
    let server = start_with(
        reactor::Server::builder().conn_input_rate(reactor::InputRate {
            bytes_per_sec: RATE,
            bytes_burst: RATE,
            frames_per_sec: 1e9,
            frames_burst: 1e9,
        }),
        tally.clone(),
    );
    let addr = server.local_addr().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let flooder = flood(addr, 16 * 1024, Arc::clone(&stop));
    let mut pinger = client(addr);
    while started.elapsed() < Duration::from_secs(2) {
        let sent = Instant::now();
        pinger.write_all(&frame(b"ping")).unwrap();
        assert_eq!(expect_frame(&mut pinger), b"ping");
        assert!(sent.elapsed() < Duration::from_secs(1));
        std::thread::sleep(Duration::from_millis(50));
    }
    let elapsed = started.elapsed().as_secs_f64();
    let read = tally.bytes.load(Ordering::SeqCst) as f64;
    stop.store(true, Ordering::SeqCst);
    flooder.join().unwrap();
    // The burst, the rate over the time, and one read of slack; and not starved either.
    let allowed = RATE + RATE * elapsed + 64.0 * 1024.0 + 16.0 * 1024.0;
    assert!(
        read <= allowed,
        "read {read} bytes in {elapsed:.2} s, allowed {allowed}"
    );
    assert!(
        read >= RATE * elapsed * 0.5,
        "read only {read} bytes in {elapsed:.2} s"
    );
}
