//! Framing over real sockets: any split, any coalescing, and both violations.

mod support;

use std::io::Write;
use std::time::Duration;

use reactor::{CloseReason, FrameError};
use support::*;

#[test]
fn frames_split_into_single_bytes_decode_exactly() {
    let rec = Recorder::default();
    let server = start(rec.clone());
    let mut c = client(server.local_addr().unwrap());
    let bodies: Vec<Vec<u8>> = (0..20).map(|i| vec![b'a' + i as u8; 1 + i * 37]).collect();
    for body in &bodies {
        for byte in frame(body) {
            c.write_all(&[byte]).unwrap();
            c.flush().unwrap();
        }
    }
    for body in &bodies {
        assert_eq!(&expect_frame(&mut c), body);
    }
    drop(c);
    assert!(wait_until(Duration::from_secs(5), || rec.closes().len() == 1));
    assert_eq!(rec.closes()[0].1, CloseReason::PeerClosed);
    assert_only_workers(&rec.seen.lock());
}

#[test]
fn hundred_frames_coalesced_in_one_write_decode_exactly() {
    let rec = Recorder::default();
    let server = start(rec.clone());
    let mut c = client(server.local_addr().unwrap());
    let mut burst = Vec::new();
    for i in 0..100u32 {
        burst.extend(frame(format!("frame-{i}").as_bytes()));
    }
    c.write_all(&burst).unwrap();
    for i in 0..100u32 {
        assert_eq!(expect_frame(&mut c), format!("frame-{i}").into_bytes());
    }
    assert_eq!(rec.seen.lock().frames, 100);
}

#[test]
fn oversize_frame_is_answered_then_closed_and_others_keep_working() {
    let rec = Recorder::default();
    let builder = reactor::Server::builder().codec(reactor::LengthPrefixed::new(1024));
    let server = start_with(builder, rec.clone());
    let addr = server.local_addr().unwrap();
    let mut bystander = client(addr);
    let mut bad = client(addr);
    bad.write_all(&frame(b"fine")).unwrap();
    assert_eq!(expect_frame(&mut bad), b"fine");
    // Announce 1025 bytes and send some of them: the server must not wait for the rest.
    let mut oversize = 1025u32.to_be_bytes().to_vec();
    oversize.extend_from_slice(&[b'x'; 300]);
    bad.write_all(&oversize).unwrap();
    let answer = expect_frame(&mut bad);
    assert_eq!(
        String::from_utf8(answer).unwrap(),
        "error: frame of 1025 bytes exceeds the limit of 1024 bytes"
    );
    assert_eq!(support::read_frame(&mut bad).unwrap(), None, "then EOF");
    assert!(wait_until(Duration::from_secs(5), || rec.closes().len() == 1));
    assert_eq!(
        rec.closes()[0].1,
        CloseReason::Frame(FrameError::TooLarge {
            len: 1025,
            max: 1024
        })
    );
    bystander.write_all(&frame(b"still here")).unwrap();
    assert_eq!(expect_frame(&mut bystander), b"still here");
    assert_only_workers(&rec.seen.lock());
}

#[test]
fn zero_length_frame_is_answered_then_closed() {
    let rec = Recorder::default();
    let server = start(rec.clone());
    let mut c = client(server.local_addr().unwrap());
    let mut bytes = frame(b"before");
    bytes.extend_from_slice(&[0, 0, 0, 0]);
    bytes.extend(frame(b"after: never decoded"));
    c.write_all(&bytes).unwrap();
    assert_eq!(expect_frame(&mut c), b"before");
    assert_eq!(expect_frame(&mut c), b"error: zero-length frame");
    assert_eq!(support::read_frame(&mut c).unwrap(), None);
    assert_eq!(rec.seen.lock().frame_errors, vec![FrameError::Empty]);
    assert_eq!(rec.seen.lock().frames, 1);
}

#[test]
fn request_then_half_close_is_answered_then_closed_promptly() {
    let rec = Recorder::default();
    let server = start(rec.clone());
    let addr = server.local_addr().unwrap();
    for _ in 0..20 {
        let mut c = client(addr);
        c.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        // Data and FIN leave back to back, usually in the same readiness event.
        c.write_all(&frame(b"last words")).unwrap();
        c.shutdown(std::net::Shutdown::Write).unwrap();
        assert_eq!(expect_frame(&mut c), b"last words");
        assert_eq!(
            support::read_frame(&mut c).unwrap(),
            None,
            "server closed after answering"
        );
    }
    assert!(wait_until(Duration::from_secs(5), || rec.closes().len() == 20));
    assert!(rec
        .closes()
        .iter()
        .all(|(_, r)| *r == CloseReason::PeerClosed));
}
