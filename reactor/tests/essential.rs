//! A panic on a reactor thread ends the process (status 101) instead of leaving it half
//! alive; a panic in a handler costs only its connection (see `framing.rs`).

mod support;

use std::io::Write;
use std::time::{Duration, Instant};

use reactor::{Codec, Decoded, FrameError, LengthPrefixed};
use support::*;

/// The contract's framing, except that a buffer starting with 0xEE panics the reactor.
struct Panicky(LengthPrefixed);

impl Codec for Panicky {
    fn decode(&self, buf: &[u8]) -> Result<Option<Decoded>, FrameError> {
        assert!(
            buf.first() != Some(&0xEE),
            "the test's deliberate codec panic"
        );
        self.0.decode(buf)
    }
    fn encode(&self, body: &[u8], out: &mut Vec<u8>) -> Result<(), FrameError> {
        self.0.encode(body, out)
    }
}

const CHILD: &str = "REACTOR_ESSENTIAL_CHILD";
const NAME: &str = "a_panic_on_a_reactor_thread_ends_the_process";

#[test]
fn a_panic_on_a_reactor_thread_ends_the_process() {
    if std::env::var_os(CHILD).is_some() {
        let server = start_with(
            reactor::Server::builder().codec(Panicky(LengthPrefixed::default())),
            Recorder::default(),
        );
        println!("ADDR {}", server.local_addr().unwrap());
        std::thread::sleep(Duration::from_secs(30));
        println!("STILL ALIVE");
        return;
    }
    let (mut child, addr) = spawn_child_server(NAME, CHILD);
    // A healthy connection first, then the poison byte.
    let mut c = client(addr);
    c.write_all(&frame(b"hello")).unwrap();
    assert_eq!(expect_frame(&mut c), b"hello");
    client(addr).write_all(&[0xEE, 0, 0, 1, 1]).unwrap();
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > Duration::from_secs(10) {
            child.kill().unwrap();
            panic!("the process lived on after its reactor thread panicked");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(101), "{status:?}");
}
