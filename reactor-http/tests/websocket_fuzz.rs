//! Replays the `websocket` fuzz target's inputs through its property checks
//! (`fuzz/props/websocket.rs`): every seed in `fuzz/seeds/websocket/`, every crash kept in
//! `fuzz/regressions/websocket/`, and streams cut at every point. Runs on stable with
//! plain `cargo test`; see fuzz/README.md.

#[path = "../../fuzz/props/websocket.rs"]
mod props;
#[path = "../../fuzz/props/replay.rs"]
mod replay;

use props::{check, codec, feed, input};
use replay::replay;

#[test]
fn seeds() {
    assert!(
        replay("seeds/websocket", check) >= 5,
        "the seed corpus went missing"
    );
}

#[test]
fn regressions() {
    replay("regressions/websocket", check);
}

/// A masked client frame.
fn frame(first: u8, payload: &[u8]) -> Vec<u8> {
    let mask = [7, 1, 200, 9];
    let mut out = vec![first, 0x80 | payload.len() as u8];
    out.extend_from_slice(&mask);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    out
}

#[test]
fn every_pair_of_cuts_through_three_frames() {
    let stream = [
        frame(0x01, b"{\"type\":"),
        frame(0x89, b"ping"),
        frame(0x80, b"\"ping\"}"),
    ]
    .concat();
    let c = codec(1000);
    let whole = feed(&c, &[&stream]);
    assert_eq!(whole.frames.len(), 3);
    assert!(whole.error.is_none() && whole.rest.is_empty());
    for a in 0..=stream.len() {
        for b in a..=stream.len() {
            let cut = feed(&c, &[&stream[..a], &stream[a..b], &stream[b..]]);
            assert_eq!(cut, whole, "cuts at {a}, {b}");
        }
    }
    for seed in 0..8 {
        check(&input(15, seed, &stream));
    }
}

#[test]
fn nasty_streams() {
    let huge_length = [
        0x81, 0xFF, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 1, 2, 3, 4,
    ];
    let streams: [&[u8]; 5] = [
        &huge_length,
        &[0x81, 0xFE, 0x00],          // a 16-bit length cut short
        &[0x88, 0x81, 0, 0, 0, 0, 3], // a close payload of one byte
        &[0x8F, 0x80, 0, 0, 0, 0],    // a reserved control opcode
        &[0x09, 0x80, 0, 0, 0, 0],    // a fragmented ping
    ];
    for s in streams {
        for limit in [0, 1, 255] {
            check(&input(limit, 3, s));
        }
    }
}
