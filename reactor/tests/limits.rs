//! The engine's limits: output high-water mark, deadlines, back-pressure, max connections.

mod support;

use std::io::{Read, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use reactor::{CloseReason, ConnHandle, Handler};
use support::*;

/// On any frame, tries to send 400 frames of 64 KiB (25 MiB) to a client that never reads.
#[derive(Clone, Default)]
struct Flood {
    refused: Arc<AtomicUsize>,
    max_queued: Arc<AtomicUsize>,
    reason: Arc<Mutex<Option<CloseReason>>>,
}

impl Handler for Flood {
    type Session = ();
    fn on_connect(&self, _conn: &ConnHandle) {}
    fn on_frame(&self, conn: &ConnHandle, _s: &mut (), _frame: Vec<u8>) {
        let chunk = vec![7u8; 64 * 1024];
        for _ in 0..400 {
            if !conn.send(&chunk) {
                self.refused.fetch_add(1, Ordering::SeqCst);
            }
            self.max_queued
                .fetch_max(conn.queued_bytes(), Ordering::SeqCst);
        }
    }
    fn on_close(&self, _conn: &ConnHandle, _s: (), reason: &CloseReason) {
        *self.reason.lock() = Some(reason.clone());
    }
}

fn rss_kib() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn client_that_never_reads_is_closed_at_the_high_water_mark() {
    const HIGH_WATER: usize = 1024 * 1024;
    let flood = Flood::default();
    let server = start_with(
        reactor::Server::builder().high_water(HIGH_WATER),
        flood.clone(),
    );
    let rss_before = rss_kib();
    let mut c = client(server.local_addr().unwrap());
    c.write_all(&frame(b"go")).unwrap();
    assert!(wait_until(Duration::from_secs(10), || flood
        .reason
        .lock()
        .is_some()));
    match flood.reason.lock().clone() {
        Some(CloseReason::OutputOverflow { limit, .. }) => assert_eq!(limit, HIGH_WATER),
        other => panic!("closed for {other:?}"),
    }
    // Most of the 25 MiB was refused, never queued: the queue stayed under the mark.
    assert!(flood.refused.load(Ordering::SeqCst) > 300);
    assert!(flood.max_queued.load(Ordering::SeqCst) <= HIGH_WATER);
    let grown_kib = rss_kib().saturating_sub(rss_before);
    assert!(grown_kib < 16 * 1024, "RSS grew by {grown_kib} KiB");
    // The client sees the connection end (possibly after reading what did get through).
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut sink = vec![0u8; 1 << 16];
    loop {
        match c.read(&mut sink) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
    }
}

/// Sets a deadline on connect and resets it on every frame.
struct Deadline {
    after: Duration,
    closes: Arc<Mutex<Vec<(CloseReason, Instant)>>>,
}

impl Handler for Deadline {
    type Session = ();
    fn on_connect(&self, conn: &ConnHandle) {
        conn.set_deadline(self.after);
    }
    fn on_frame(&self, conn: &ConnHandle, _s: &mut (), frame: Vec<u8>) {
        conn.set_deadline(self.after);
        conn.send(&frame);
    }
    fn on_close(&self, _conn: &ConnHandle, _s: (), reason: &CloseReason) {
        self.closes.lock().push((reason.clone(), Instant::now()));
    }
}

#[test]
fn deadlines_fire_and_reset() {
    let closes = Arc::new(Mutex::new(Vec::new()));
    let server = start(Deadline {
        after: Duration::from_millis(300),
        closes: Arc::clone(&closes),
    });
    let addr = server.local_addr().unwrap();

    // Idle: closed after about 300 ms.
    let started = Instant::now();
    let mut idle = client(addr);
    assert_eq!(read_frame(&mut idle).unwrap(), None, "closed by the server");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(290),
        "fired early: {waited:?}"
    );
    assert!(waited < Duration::from_secs(3), "fired late: {waited:?}");

    // Busy for 1.5 s with a frame every 100 ms: each frame pushes the deadline back.
    let mut busy = client(addr);
    let started = Instant::now();
    while started.elapsed() < Duration::from_millis(1500) {
        busy.write_all(&frame(b"tick")).unwrap();
        assert_eq!(expect_frame(&mut busy), b"tick");
        std::thread::sleep(Duration::from_millis(100));
    }
    // Then quiet: closed about 300 ms after the last frame.
    assert_eq!(read_frame(&mut busy).unwrap(), None);
    assert!(wait_until(Duration::from_secs(2), || closes.lock().len() == 2));
    assert!(closes
        .lock()
        .iter()
        .all(|(r, _)| *r == CloseReason::DeadlineExpired));
}

/// A slow handler that records how deep the pool's queue gets.
struct Slow {
    counters: Arc<Mutex<Option<Arc<reactor::Counters>>>>,
    max_depth: Arc<AtomicUsize>,
}

impl Handler for Slow {
    type Session = u32;
    fn on_connect(&self, _conn: &ConnHandle) -> u32 {
        0
    }
    fn on_frame(&self, conn: &ConnHandle, next: &mut u32, frame: Vec<u8>) {
        assert_eq!(u32::from_be_bytes(frame[..4].try_into().unwrap()), *next);
        *next += 1;
        if let Some(c) = &*self.counters.lock() {
            self.max_depth
                .fetch_max(c.snapshot().queued_events, Ordering::SeqCst);
        }
        std::thread::sleep(Duration::from_micros(20));
        conn.send(&frame);
    }
}

#[test]
fn full_worker_queue_pauses_reading_instead_of_growing() {
    const CAPACITY: usize = 64;
    const FRAMES: u32 = 20_000;
    let counters = Arc::new(Mutex::new(None));
    let max_depth = Arc::new(AtomicUsize::new(0));
    let server = start_with(
        reactor::Server::builder().queue_capacity(CAPACITY),
        Slow {
            counters: Arc::clone(&counters),
            max_depth: Arc::clone(&max_depth),
        },
    );
    *counters.lock() = Some(Arc::clone(server.counters()));
    let addr = server.local_addr().unwrap();
    // 4 clients each blast 20,000 8-byte frames (160 KB) in one go; the pool can hold 64
    // events. Reactors read far faster than the workers drain, so without back-pressure
    // nearly all 80,000 events would be queued at once.
    let clients: Vec<_> = (0..4)
        .map(|_| {
            std::thread::spawn(move || {
                let mut c = client(addr);
                let mut w = c.try_clone().unwrap();
                let writer = std::thread::spawn(move || {
                    let mut all = Vec::new();
                    for i in 0..FRAMES {
                        all.extend(frame(&i.to_be_bytes()));
                    }
                    w.write_all(&all).unwrap();
                });
                for i in 0..FRAMES {
                    assert_eq!(expect_frame(&mut c), i.to_be_bytes());
                }
                writer.join().unwrap();
            })
        })
        .collect();
    for c in clients {
        c.join().unwrap();
    }
    // The documented bound is capacity plus one 64 KiB read (8,192 of these frames) per
    // reactor: 64 + 2 * 8,192.
    let depth = max_depth.load(Ordering::SeqCst);
    assert!(depth <= CAPACITY + 2 * 8_192, "queue depth reached {depth}");
    assert_eq!(server.counters().snapshot().frames_in, 4 * FRAMES as u64);
}

#[test]
fn over_max_connections_the_application_answers_then_the_socket_closes() {
    let rec = Recorder::default();
    let server = start_with(reactor::Server::builder().max_connections(2), rec.clone());
    let addr = server.local_addr().unwrap();
    let mut first = client(addr);
    let mut second = client(addr);
    first.write_all(&frame(b"1")).unwrap();
    second.write_all(&frame(b"2")).unwrap();
    assert_eq!(expect_frame(&mut first), b"1");
    assert_eq!(expect_frame(&mut second), b"2");
    let mut third = client(addr);
    third.write_all(&frame(b"let me in")).unwrap();
    assert_eq!(expect_frame(&mut third), b"server_full");
    assert_eq!(read_frame(&mut third).unwrap(), None);
    assert_eq!(rec.seen.lock().rejected, 1);
    assert_eq!(server.counters().snapshot().rejected, 1);
    // Once one closes, a new connection is served again.
    drop(first);
    assert!(wait_until(Duration::from_secs(5), || server
        .counters()
        .open()
        == 1));
    let mut fourth = client(addr);
    fourth.write_all(&frame(b"4")).unwrap();
    assert_eq!(expect_frame(&mut fourth), b"4");
    assert_only_workers(&rec.seen.lock());
}
