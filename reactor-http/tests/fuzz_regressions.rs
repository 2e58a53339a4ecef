//! Replays the `http_codec` fuzz target's inputs through its property checks
//! (`fuzz/props/http_codec.rs`): every seed in `fuzz/seeds/http_codec/`, every crash kept
//! in `fuzz/regressions/http_codec/`, and hand-written nasty streams. Runs on stable with
//! plain `cargo test`; see fuzz/README.md.

#[path = "../../fuzz/props/http_codec.rs"]
mod props;
#[path = "../../fuzz/props/replay.rs"]
mod replay;

use props::{check, codec, decode_whole, feed_cut, input};
use reactor::FrameError;
use reactor_http::HEAD_TOO_LARGE;
use replay::replay;

#[test]
fn seeds() {
    assert!(
        replay("seeds/http_codec", check) >= 5,
        "the seed corpus went missing"
    );
}

#[test]
fn regressions() {
    replay("regressions/http_codec", check);
}

const GET: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n";
const POST: &[u8] = b"POST /x HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello";

#[test]
fn every_pair_of_cuts_through_a_pipeline() {
    let c = codec(None);
    let stream = [POST, GET, POST].concat();
    for a in 0..=stream.len() {
        for b in a..=stream.len() {
            let o = feed_cut(&c, &stream, &[a, b]);
            assert_eq!(o.frames, vec![POST.to_vec(), GET.to_vec(), POST.to_vec()]);
            assert!(o.error.is_none() && o.rest.is_empty(), "cuts at {a}, {b}");
        }
    }
    for seed in 0..8 {
        check(&input(None, seed, &stream));
    }
}

#[test]
fn refused_framing_cuts_the_head_alone() {
    let c = codec(None);
    let head = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n";
    let stream = [&head[..], b"5\r\nhello\r\n0\r\n\r\n"].concat();
    let o = decode_whole(&c, &stream);
    assert_eq!(o.frames, vec![head.to_vec()]);
    // What follows is not a request; the handler closed before it would matter.
    assert!(matches!(o.error, Some(FrameError::Malformed(_))));
    check(&input(None, 0, &stream));
    check(&input(Some((10, 0)), 1, &stream));
}

#[test]
fn limits_at_their_edges() {
    // max_head = 1 + 16 * 2 = 33 bytes: GET (34 bytes) is one over.
    let o = decode_whole(&codec(Some((33, 0))), GET);
    assert_eq!(o.error, Some(FrameError::Malformed(HEAD_TOO_LARGE.into())));
    let o = decode_whole(&codec(Some((34, 0))), GET);
    assert_eq!(o.frames, vec![GET.to_vec()]);
    // max_body = 8 * 1 = 8 bytes.
    let big = b"POST /x HTTP/1.1\r\nContent-Length: 9\r\n\r\n123456789";
    let o = decode_whole(&codec(Some((1000, 8))), big);
    assert_eq!(o.error, Some(FrameError::TooLarge { len: 9, max: 8 }));
    for (a, b) in [(0, 0), (2, 0), (2, 1), (3, 255), (127, 255)] {
        for stream in [GET, POST, big] {
            check(&input(Some((a, b)), a ^ b, stream));
        }
    }
}

#[test]
fn nasty_streams() {
    let huge_length = b"POST / HTTP/1.1\r\nContent-Length: 184467440737095516160\r\n\r\n";
    let many_headers = format!("GET / HTTP/1.1\r\n{}\r\n", "A: b\r\n".repeat(200));
    let long_line = format!("GET /{} HTTP/1.1\r\n\r\n", "a".repeat(9000));
    let streams: Vec<Vec<u8>> = vec![
        Vec::new(),
        b"\r\n\r\n\r\n".to_vec(),
        b"GET / HTTP/1.1\n\n".to_vec(),
        b"GET / HTTP/1.1\r\nA: b\n\r\n".to_vec(),
        b"\x00\xff\xfe".to_vec(),
        b"GET /\xff\xfe HTTP/1.1\r\n\r\n".to_vec(),
        b"GET / HTTP/1.1\r\nX: \xff\xfe\r\n\r\n".to_vec(),
        b"GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx".to_vec(),
        b"GET / HTTP/1.1\r\nContent-Length: 1, 1\r\n\r\nx".to_vec(),
        b"GET / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n".to_vec(),
        b"GET / HTTP/1.1\r\nConnection: close\r\n\r\nGET / HTTP/1.1\r\n\r\n".to_vec(),
        huge_length.to_vec(),
        many_headers.into_bytes(),
        long_line.into_bytes(),
        [GET, b"\x16\x03\x01"].concat(),
    ];
    for s in &streams {
        for seed in [0, 1, 2, 3, 0x55] {
            check(&input(None, seed, s));
            check(&input(Some((4, 4)), seed, s));
        }
        check(s); // too short to carry limits, or read as limits
    }
    let o = decode_whole(&codec(None), huge_length);
    assert!(matches!(o.error, Some(FrameError::TooLarge { .. })));
}

/// A stable stand-in for a short fuzzing run: seeded random mutations of the seeds.
#[test]
fn seeded_random_mutations() {
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    let seeds: Vec<Vec<u8>> = replay::files("seeds/http_codec")
        .iter()
        .map(|f| std::fs::read(f).expect("read a seed"))
        .collect();
    let mut rng = StdRng::seed_from_u64(0x6874_7470);
    for _ in 0..3000 {
        let mut v = seeds[rng.random_range(0..seeds.len())].clone();
        for _ in 0..rng.random_range(1..8) {
            let at = rng.random_range(0..=v.len());
            match rng.random_range(0..5) {
                0 if at < v.len() => v[at] = rng.random(),
                1 => {
                    let end = rng.random_range(at..=v.len().min(at + 6));
                    v.drain(at..end);
                }
                2 => {
                    let piece: &[u8] =
                        [&b"\r\n"[..], b"\n", b":", b" ", b"0", b"9"][rng.random_range(0..6)];
                    v.splice(at..at, piece.iter().copied());
                }
                3 => {
                    let end = rng.random_range(at..=v.len());
                    let copy = v[at..end].to_vec();
                    v.splice(at..at, copy);
                }
                _ if v.len() > 3 => v[0] = rng.random(), // other limits
                _ => {}
            }
        }
        check(&v);
    }
}
