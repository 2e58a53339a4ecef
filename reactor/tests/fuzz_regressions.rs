//! Replays the `frame_codec` fuzz target's inputs through its property checks
//! (`fuzz/props/frame_codec.rs`): every seed in `fuzz/seeds/frame_codec/`, every crash
//! kept in `fuzz/regressions/frame_codec/`, and hand-written nasty streams. Runs on
//! stable with plain `cargo test`; see fuzz/README.md.

#[path = "../../fuzz/props/frame_codec.rs"]
mod props;
#[path = "../../fuzz/props/replay.rs"]
mod replay;

use props::{check, check_stream, feed_cut, input, Conn, DEFAULT_MAX_FRAME};
use reactor::{Codec, FrameError, LengthPrefixed};
use replay::replay;

#[test]
fn seeds() {
    assert!(
        replay("seeds/frame_codec", check) >= 5,
        "the seed corpus went missing"
    );
}

#[test]
fn regressions() {
    replay("regressions/frame_codec", check);
}

fn frame(body: &[u8]) -> Vec<u8> {
    let mut v = (body.len() as u32).to_be_bytes().to_vec();
    v.extend_from_slice(body);
    v
}

#[test]
fn length_header_of_u32_max() {
    let stream = [0xff, 0xff, 0xff, 0xff, b'x'];
    for max in [None, Some(1), Some(4096)] {
        check(&input(max, 0, &stream));
    }
    let c = LengthPrefixed::default();
    assert_eq!(
        c.decode(&stream),
        Err(FrameError::TooLarge {
            len: u32::MAX as usize,
            max: DEFAULT_MAX_FRAME
        })
    );
    // Even a codec that allows u32::MAX bytes just waits for them.
    let big = LengthPrefixed::new(usize::MAX);
    assert_eq!(big.max_frame(), u32::MAX as usize);
    assert_eq!(big.decode(&stream), Ok(None));
    check_stream(&big, &stream, 0);
}

#[test]
fn header_split_across_reads() {
    let c = LengthPrefixed::default();
    let stream = [frame(b"hello"), frame(b"{\"type\":\"ping\",\"seq\":1}")].concat();
    // Every single cut, including inside either header, and every pair of cuts.
    for a in 0..=stream.len() {
        for b in a..=stream.len() {
            let o = feed_cut(&c, &stream, &[a, b], 1 + a % 3);
            assert_eq!(o.frames.len(), 2, "cuts at {a}, {b}");
            assert_eq!(o.frames[0], b"hello");
            assert!(o.error.is_none() && o.rest.is_empty());
        }
    }
    // The header arrives one byte per read, then the body.
    let mut conn = Conn::default();
    for piece in [&[0u8][..], &[0], &[0], &[2], b"ok"] {
        conn.ingest(&c, piece);
    }
    let o = conn.outcome(&c);
    assert_eq!(o.frames, vec![b"ok".to_vec()]);
    check(&input(None, 0, &stream));
    check(&input(Some(5), 1, &stream));
}

#[test]
fn zero_length_and_oversize_after_good_frames() {
    let stream = [frame(b"a"), vec![0, 0, 0, 0], frame(b"never")].concat();
    let o = feed_cut(&LengthPrefixed::default(), &stream, &[2, 6], 1);
    assert_eq!(o.frames, vec![b"a".to_vec()]);
    assert_eq!(o.error, Some(FrameError::Empty));
    check(&input(None, 2, &stream));

    let stream = [frame(b"abcd"), frame(b"abcde")].concat();
    let o = feed_cut(&LengthPrefixed::new(4), &stream, &[9], 1);
    assert_eq!(o.frames, vec![b"abcd".to_vec()]);
    assert_eq!(o.error, Some(FrameError::TooLarge { len: 5, max: 4 }));
    check(&input(Some(4), 3, &stream));
}

#[test]
fn bodies_at_the_limits() {
    for max in [1u16, 2, 4095, 4096] {
        let m = usize::from(max);
        let stream = [frame(&vec![7; m]), frame(&vec![8; m])].concat();
        for seed in 0..4 {
            check(&input(Some(max), seed, &stream));
        }
        check(&input(Some(max), 0, &vec![9; m + 1]));
    }
    let body = vec![b'q'; DEFAULT_MAX_FRAME];
    check(&input(None, 3, &frame(&body)));
    props::check_round_trip(&LengthPrefixed::default(), &body);
    props::check_round_trip(&LengthPrefixed::default(), &[body, vec![1]].concat());
}

#[test]
fn a_full_mailbox_leaves_complete_frames_for_later() {
    let c = LengthPrefixed::default();
    let stream = [frame(b"a"), frame(b"b"), frame(b"c"), vec![0, 0]].concat();
    let mut conn = Conn::with_budget(1);
    conn.ingest(&c, &stream);
    let o = conn.outcome(&c);
    assert_eq!(o.frames, vec![b"a".to_vec(), b"b".to_vec(), b"c".to_vec()]);
    assert_eq!(o.rest, vec![0, 0]);
    for seed in 0..16 {
        check(&input(None, seed, &stream));
    }
}

#[test]
fn short_and_empty_inputs() {
    for data in [&[][..], &[0], &[0, 0], &[0x80, 0, 0], &[0, 0, 0, 0, 0]] {
        check(data);
    }
}
