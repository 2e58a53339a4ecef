//! Frames a handler takes inline (`Handler::inline`) run on the reactor thread that read
//! them, unless `on_frame_inline` gives them back; the others run on workers. One
//! connection's frames still run one at a time and in order when the kinds are mixed,
//! and a panic in an inline frame costs only its connection.

mod support;

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use reactor::{ConnHandle, Handler};
use support::*;

/// Echoes frames with the name of the thread that ran them. Frames starting with `!`
/// are inline; `slow` sleeps 100 ms on its worker first; `!panic` panics.
#[derive(Default)]
struct Mixed {
    threads: Arc<Mutex<Vec<Ran>>>,
}

/// A frame and the thread it ran on.
type Ran = (Vec<u8>, String);

impl Handler for Mixed {
    type Session = u64;

    fn on_connect(&self, _conn: &ConnHandle) -> u64 {
        0
    }

    fn on_frame(&self, conn: &ConnHandle, count: &mut u64, frame: Vec<u8>) {
        *count += 1;
        if frame == b"slow" {
            std::thread::sleep(Duration::from_millis(100));
        }
        assert!(frame != b"!panic", "the test's deliberate inline panic");
        let thread = std::thread::current().name().unwrap_or("?").to_owned();
        self.threads.lock().push((frame.clone(), thread));
        let mut answer = frame;
        answer.extend_from_slice(format!(" #{count}").as_bytes());
        conn.send(&answer);
    }

    fn inline(&self, _conn: &ConnHandle, frame: &[u8]) -> bool {
        frame.first() == Some(&b'!')
    }

    /// `!w…` turns out to need a worker after all: given back.
    fn on_frame_inline(
        &self,
        conn: &ConnHandle,
        count: &mut u64,
        frame: Vec<u8>,
    ) -> Result<(), Vec<u8>> {
        if frame.starts_with(b"!w") {
            return Err(frame);
        }
        self.on_frame(conn, count, frame);
        Ok(())
    }
}

#[test]
fn inline_frames_run_on_the_reactor_in_order() {
    let handler = Mixed::default();
    let threads = Arc::clone(&handler.threads);
    let server = start(handler);
    let addr = server.local_addr().unwrap();

    let mut c = client(addr);
    c.write_all(&frame(b"!a")).unwrap();
    // The first frame may find `on_connect` still with a worker: it then waits its turn.
    assert_eq!(expect_frame(&mut c), b"!a #1");
    // A slow frame on a worker, then inline ones sent at once: they wait their turn.
    let burst = [frame(b"slow"), frame(b"!b"), frame(b"!c")].concat();
    c.write_all(&burst).unwrap();
    assert_eq!(expect_frame(&mut c), b"slow #2");
    assert_eq!(expect_frame(&mut c), b"!b #3");
    assert_eq!(expect_frame(&mut c), b"!c #4");
    // Once the worker is done, inline frames run on the reactor again.
    std::thread::sleep(Duration::from_millis(50));
    c.write_all(&frame(b"!d")).unwrap();
    assert_eq!(expect_frame(&mut c), b"!d #5");

    // A frame given back goes to a worker, and the frames after it follow it there.
    c.write_all(&[frame(b"!e"), frame(b"!w"), frame(b"!f")].concat())
        .unwrap();
    assert_eq!(expect_frame(&mut c), b"!e #6");
    assert_eq!(expect_frame(&mut c), b"!w #7");
    assert_eq!(expect_frame(&mut c), b"!f #8");

    let seen = threads.lock().clone();
    let thread_of = |f: &[u8]| {
        seen.iter()
            .find(|(frame, _)| frame == f)
            .map(|(_, t)| t.clone())
            .unwrap()
    };
    assert!(thread_of(b"!d").starts_with("reactor-sub-"), "{seen:?}");
    assert!(
        thread_of(b"slow").starts_with("reactor-worker-"),
        "{seen:?}"
    );
    assert!(thread_of(b"!e").starts_with("reactor-sub-"), "{seen:?}");
    assert!(thread_of(b"!w").starts_with("reactor-worker-"), "{seen:?}");

    // A panic in an inline frame closes its connection only.
    let mut other = client(addr);
    let mut victim = client(addr);
    victim.write_all(&frame(b"!panic")).unwrap();
    assert!(read_frame(&mut victim).unwrap().is_none(), "closed");
    other.write_all(&frame(b"!still here")).unwrap();
    assert_eq!(expect_frame(&mut other), b"!still here #1");
}
