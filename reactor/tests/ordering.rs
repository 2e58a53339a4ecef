//! Per-connection order under parallel connections, and sends from foreign threads.

mod support;

use std::io::Write;
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use reactor::{ConnHandle, Handler};
use support::*;

/// Checks each connection's frames arrive numbered 0, 1, 2, … and echoes them.
struct Sequencer {
    out_of_order: Arc<AtomicBool>,
}

impl Handler for Sequencer {
    type Session = u64;

    fn on_connect(&self, _conn: &ConnHandle) -> u64 {
        0
    }

    fn on_frame(&self, conn: &ConnHandle, expected: &mut u64, frame: Vec<u8>) {
        let got = u64::from_be_bytes(frame[..8].try_into().unwrap());
        if got != *expected {
            self.out_of_order.store(true, Ordering::SeqCst);
        }
        *expected += 1;
        conn.send(&frame);
    }
}

#[test]
fn ten_thousand_frames_per_connection_keep_order_across_parallel_connections() {
    const CONNS: usize = 8;
    const FRAMES: u64 = 10_000;
    let out_of_order = Arc::new(AtomicBool::new(false));
    let server = start(Sequencer {
        out_of_order: Arc::clone(&out_of_order),
    });
    let addr = server.local_addr().unwrap();
    let clients: Vec<_> = (0..CONNS)
        .map(|_| {
            std::thread::spawn(move || {
                let mut c = client(addr);
                let mut writer = c.try_clone().unwrap();
                let sender = std::thread::spawn(move || {
                    let mut batch = Vec::new();
                    for i in 0..FRAMES {
                        batch.extend(frame(&i.to_be_bytes()));
                        if batch.len() > 16 * 1024 {
                            writer.write_all(&batch).unwrap();
                            batch.clear();
                        }
                    }
                    writer.write_all(&batch).unwrap();
                });
                for i in 0..FRAMES {
                    assert_eq!(expect_frame(&mut c), i.to_be_bytes(), "echo out of order");
                }
                sender.join().unwrap();
            })
        })
        .collect();
    for c in clients {
        c.join().unwrap();
    }
    assert!(
        !out_of_order.load(Ordering::SeqCst),
        "handler saw frames out of order"
    );
    assert_eq!(
        server.counters().snapshot().frames_in,
        CONNS as u64 * FRAMES
    );
}

/// Hands every new connection to the test through a slot.
#[derive(Clone, Default)]
struct Grab {
    conn: Arc<Mutex<Option<ConnHandle>>>,
}

impl Handler for Grab {
    type Session = ();
    fn on_connect(&self, conn: &ConnHandle) {
        *self.conn.lock() = Some(conn.clone());
    }
    fn on_frame(&self, _conn: &ConnHandle, _s: &mut (), _frame: Vec<u8>) {}
}

/// A server with one client connected, and the server's handle to that connection.
fn one_grabbed_connection() -> (reactor::Server, TcpStream, ConnHandle) {
    let grab = Grab::default();
    let server = start(grab.clone());
    let c = client(server.local_addr().unwrap());
    assert!(wait_until(std::time::Duration::from_secs(5), || grab
        .conn
        .lock()
        .is_some()));
    let conn = grab.conn.lock().clone().unwrap();
    (server, c, conn)
}

#[test]
fn sends_from_eight_foreign_threads_never_corrupt_frames() {
    const THREADS: u32 = 8;
    const PER_THREAD: u32 = 2_000;
    let (_server, mut c, conn) = one_grabbed_connection();
    let senders: Vec<_> = (0..THREADS)
        .map(|t| {
            let conn = conn.clone();
            std::thread::spawn(move || {
                for i in 0..PER_THREAD {
                    // Varying sizes make torn frames visible: body = [t, i, i % 500 filler bytes of t].
                    let mut body = vec![t as u8];
                    body.extend_from_slice(&i.to_be_bytes());
                    body.extend(std::iter::repeat_n(t as u8, (i % 500) as usize));
                    assert!(conn.send(&body));
                }
            })
        })
        .collect();
    let mut next = vec![0u32; THREADS as usize];
    for _ in 0..THREADS * PER_THREAD {
        let body = expect_frame(&mut c);
        let t = body[0];
        let i = u32::from_be_bytes(body[1..5].try_into().unwrap());
        assert_eq!(i, next[t as usize], "thread {t}'s frames out of order");
        assert_eq!(body.len(), 5 + (i % 500) as usize, "torn frame");
        assert!(body[5..].iter().all(|&b| b == t), "interleaved bytes");
        next[t as usize] += 1;
    }
    for s in senders {
        s.join().unwrap();
    }
    assert!(next.iter().all(|&n| n == PER_THREAD));
}

/// Whether `c` has bytes to read within `wait` (without consuming them).
fn readable(c: &TcpStream, wait: std::time::Duration) -> bool {
    c.set_read_timeout(Some(wait)).unwrap();
    let mut byte = [0u8; 1];
    let ready = matches!(c.peek(&mut byte), Ok(n) if n > 0);
    c.set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .unwrap();
    ready
}

#[test]
fn a_send_batch_holds_frames_until_it_ends_and_keeps_their_order() {
    let (_server, mut c, conn) = one_grabbed_connection();

    let batch = reactor::SendBatch::begin();
    {
        let inner = reactor::SendBatch::begin(); // joins the outer batch
        for i in 0u32..100 {
            assert!(conn.send(&i.to_be_bytes()));
        }
        drop(inner);
    }
    assert!(
        !readable(&c, std::time::Duration::from_millis(300)),
        "frames left while the batch was open"
    );
    drop(batch);
    for i in 0u32..100 {
        assert_eq!(
            expect_frame(&mut c),
            i.to_be_bytes(),
            "batched frames out of order"
        );
    }

    // Past the 64 KiB cork limit a batch streams instead of holding everything.
    let batch = reactor::SendBatch::begin();
    let big = vec![7u8; 40 * 1024];
    for _ in 0..4 {
        assert!(conn.send(&big));
    }
    assert!(
        readable(&c, std::time::Duration::from_secs(2)),
        "a batch held more than its limit"
    );
    drop(batch);
    for _ in 0..4 {
        assert_eq!(expect_frame(&mut c), big);
    }

    // Without a batch, sends from this thread leave at once.
    assert!(conn.send(b"now"));
    assert!(readable(&c, std::time::Duration::from_secs(2)));
    assert_eq!(expect_frame(&mut c), b"now");
}
