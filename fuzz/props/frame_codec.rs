//! Property checks for [`reactor::LengthPrefixed`], shared by the `frame_codec` fuzz
//! target and `reactor/tests/fuzz_regressions.rs` (which includes this file by path).
//!
//! Input layout: bytes 0..2 are a big-endian `u16` choosing the codec (high bit set: the
//! default limit of 65,536 bytes; else `max_frame = 1 + sel % 4096`), byte 2 seeds the
//! chunking, and the rest is the byte stream a peer sent. Shorter inputs are all stream,
//! with the default codec.
//!
//! Checked: `decode` never panics; a decoded frame lies within the buffer, consumes
//! `1..=buf.len()` bytes and has a body of `1..=max_frame` bytes; a frame is decided by
//! its own bytes (the same answer on `buf[..consumed]`, `None` on anything shorter);
//! decoding a stream to the end terminates; `encode` then `decode` gives the body back
//! for `1..=max_frame` bytes, and `encode` refuses (leaving `out` as it was) otherwise;
//! and feeding the stream in pieces through a copy of the sub-reactor's carry-buffer
//! loop (`ingest` in reactor/src/sub_reactor.rs, including its stop when the mailbox is
//! full) gives the same frames, the same error and the same left-over bytes as decoding
//! it whole, wherever it is cut.

#![allow(dead_code)]

use reactor::codec::LENGTH_PREFIX_LEN;
use reactor::{Codec, Decoded, FrameError, LengthPrefixed};

/// The default limit of the wire contract.
pub const DEFAULT_MAX_FRAME: usize = 65_536;

/// One fuzz input, taken apart.
pub struct Input<'a> {
    /// The codec under test.
    pub codec: LengthPrefixed,
    /// Seeds the chunk sizes.
    pub seed: u8,
    /// The bytes a peer sent.
    pub stream: &'a [u8],
}

/// Splits a fuzz input into codec, seed and stream (see the module doc).
pub fn split(data: &[u8]) -> Input<'_> {
    match data {
        [a, b, seed, stream @ ..] => {
            let sel = u16::from_be_bytes([*a, *b]);
            let max = if sel & 0x8000 != 0 {
                DEFAULT_MAX_FRAME
            } else {
                1 + usize::from(sel) % 4096
            };
            Input {
                codec: LengthPrefixed::new(max),
                seed: *seed,
                stream,
            }
        }
        _ => Input {
            codec: LengthPrefixed::default(),
            seed: 0,
            stream: data,
        },
    }
}

/// Builds a fuzz input from its parts (for seeds and hand-written cases).
pub fn input(max_frame: Option<u16>, seed: u8, stream: &[u8]) -> Vec<u8> {
    let sel = match max_frame {
        None => 0x8000,
        Some(m) => {
            assert!((1..=4096).contains(&m));
            m - 1
        }
    };
    let mut v = sel.to_be_bytes().to_vec();
    v.push(seed);
    v.extend_from_slice(stream);
    v
}

/// Runs every check on one fuzz input.
pub fn check(data: &[u8]) {
    let inp = split(data);
    check_stream(&inp.codec, inp.stream, inp.seed);
    check_round_trip(&inp.codec, inp.stream);
    let max = inp.codec.max_frame();
    if inp.stream.len() > max {
        check_round_trip(&inp.codec, &inp.stream[..max]);
    }
}

/// What a connection made of a byte stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Bodies of the frames, in order.
    pub frames: Vec<Vec<u8>>,
    /// The framing error that closed the connection, if any.
    pub error: Option<FrameError>,
    /// Bytes kept for a frame not yet complete (empty after an error).
    pub rest: Vec<u8>,
}

/// Checks one `decode` answer on `buf` and returns it.
pub fn decode_checked(codec: &LengthPrefixed, buf: &[u8]) -> Result<Option<Decoded>, FrameError> {
    let max = codec.max_frame();
    let r = codec.decode(buf);
    match &r {
        Ok(Some(d)) => {
            assert!(d.consumed >= 1, "consumed 0 bytes: {d:?}");
            assert!(
                d.consumed <= buf.len(),
                "{d:?} beyond a buffer of {}",
                buf.len()
            );
            assert!(d.body.start <= d.body.end, "{d:?}");
            assert!(
                d.body.end <= d.consumed,
                "body {d:?} outside the consumed bytes"
            );
            let len = d.body.end - d.body.start;
            assert!((1..=max).contains(&len), "body of {len} bytes, max {max}");
            // The frame is decided by its own bytes.
            assert_eq!(codec.decode(&buf[..d.consumed]), r, "on buf[..consumed]");
            assert_eq!(
                codec.decode(&buf[..d.consumed - 1]),
                Ok(None),
                "on a prefix"
            );
        }
        Ok(None) => {
            if buf.len() >= LENGTH_PREFIX_LEN {
                let n = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
                assert!((1..=max).contains(&n), "header {n} accepted with max {max}");
                assert!(
                    buf.len() < LENGTH_PREFIX_LEN + n,
                    "complete frame not returned"
                );
            }
        }
        Err(FrameError::Empty) => {
            assert!(buf.len() >= LENGTH_PREFIX_LEN && buf[..LENGTH_PREFIX_LEN] == [0; 4])
        }
        Err(FrameError::TooLarge { len, max: m }) => {
            assert_eq!(*m, max);
            assert!(*len > max);
        }
        Err(FrameError::Malformed(m)) => panic!("LengthPrefixed said Malformed({m:?})"),
    }
    r
}

/// Decodes `stream` whole, as one read would.
pub fn decode_whole(codec: &LengthPrefixed, stream: &[u8]) -> Outcome {
    let mut frames = Vec::new();
    let mut pos = 0;
    // Every frame consumes at least one byte: more turns than bytes means a loop.
    for _ in 0..=stream.len() {
        let buf = &stream[pos..];
        match decode_checked(codec, buf) {
            Ok(Some(d)) => {
                frames.push(buf[d.body].to_vec());
                pos += d.consumed;
            }
            Ok(None) => {
                return Outcome {
                    frames,
                    error: None,
                    rest: buf.to_vec(),
                }
            }
            Err(e) => {
                return Outcome {
                    frames,
                    error: Some(e),
                    rest: Vec::new(),
                }
            }
        }
    }
    panic!("decoding {} bytes did not finish", stream.len());
}

/// A connection's input side as the sub-reactor keeps it.
#[derive(Debug)]
pub struct Conn {
    input: Vec<u8>,
    frames: Vec<Vec<u8>>,
    error: Option<FrameError>,
    /// Frames taken per read before the mailbox is full (back-pressure): the rest stay in
    /// `input`, complete, until the connection is resumed.
    budget: usize,
}

impl Default for Conn {
    fn default() -> Self {
        Self::with_budget(usize::MAX)
    }
}

impl Conn {
    /// A connection whose mailbox takes at most `budget` (at least 1) frames per read.
    pub fn with_budget(budget: usize) -> Self {
        Self {
            input: Vec::new(),
            frames: Vec::new(),
            error: None,
            budget: budget.max(1),
        }
    }

    /// One read of `fresh` bytes: the sub-reactor's `ingest`, minus the dispatching.
    pub fn ingest(&mut self, codec: &LengthPrefixed, fresh: &[u8]) {
        if self.error.is_some() {
            return; // closed: nothing more is read
        }
        let carried = !self.input.is_empty();
        if carried {
            self.input.extend_from_slice(fresh);
        }
        let buf: &[u8] = if carried { &self.input } else { fresh };
        let mut pos = 0;
        let mut turns = 0;
        let outcome = loop {
            if turns == self.budget {
                break Ok(()); // the mailbox is full
            }
            turns += 1;
            assert!(turns <= buf.len() + 1, "decoding a read did not finish");
            match decode_checked(codec, &buf[pos..]) {
                Ok(Some(frame)) => {
                    self.frames
                        .push(buf[pos + frame.body.start..pos + frame.body.end].to_vec());
                    pos += frame.consumed.max(1);
                }
                Ok(None) => break Ok(()),
                Err(e) => break Err(e),
            }
        };
        match outcome {
            Ok(()) if carried => {
                self.input.drain(..pos);
            }
            Ok(()) => self.input.extend_from_slice(&fresh[pos..]),
            Err(e) => {
                self.input.clear();
                self.error = Some(e);
            }
        }
    }

    /// What the connection made of everything it read, once resumed until its mailbox
    /// took every complete frame.
    pub fn outcome(mut self, codec: &LengthPrefixed) -> Outcome {
        let mut resumes = 0;
        loop {
            let before = (self.frames.len(), self.input.len());
            self.ingest(codec, &[]);
            if (self.frames.len(), self.input.len()) == before {
                break;
            }
            resumes += 1;
            assert!(resumes <= self.frames.len() + 1, "resuming did not finish");
        }
        Outcome {
            frames: self.frames,
            error: self.error,
            rest: self.input,
        }
    }
}

/// Feeds `stream` cut at `cuts` (increasing offsets) through a [`Conn`] taking at most
/// `budget` frames per read.
pub fn feed_cut(codec: &LengthPrefixed, stream: &[u8], cuts: &[usize], budget: usize) -> Outcome {
    let mut conn = Conn::with_budget(budget);
    let mut start = 0;
    for &c in cuts.iter().chain(std::iter::once(&stream.len())) {
        let c = c.clamp(start, stream.len());
        conn.ingest(codec, &stream[start..c]);
        start = c;
    }
    conn.outcome(codec)
}

/// The stream decoded whole, byte by byte, cut once at every point (or, for streams
/// over 64 bytes, around each of the first 16 frame boundaries and at 16 spread points),
/// and in pieces of seeded random sizes: always the same outcome.
pub fn check_stream(codec: &LengthPrefixed, stream: &[u8], seed: u8) {
    let whole = decode_whole(codec, stream);
    let n = stream.len();

    // Byte by byte: every point is a cut.
    let mut conn = Conn::default();
    for b in stream.chunks(1) {
        conn.ingest(codec, b);
    }
    assert_eq!(conn.outcome(codec), whole, "fed byte by byte");

    // Two pieces.
    let mut points: Vec<usize> = if n <= 64 {
        (0..=n).collect()
    } else {
        let mut p: Vec<usize> = (0..=n).step_by(n / 16 + 1).collect();
        let mut at = 0;
        for f in whole.frames.iter().take(16) {
            for d in 0..=LENGTH_PREFIX_LEN + 1 {
                p.push(at + d);
                p.push((at + LENGTH_PREFIX_LEN + f.len()).saturating_sub(d));
            }
            at += LENGTH_PREFIX_LEN + f.len();
        }
        p.push(n);
        p
    };
    points.retain(|&p| p <= n);
    points.sort_unstable();
    points.dedup();
    for p in points {
        assert_eq!(
            feed_cut(codec, stream, &[p], usize::MAX),
            whole,
            "cut at {p}"
        );
    }

    // Seeded random pieces: small, medium or large, by the seed's low bits.
    let cap = match seed & 3 {
        0 => 3,
        1 => 9,
        2 => 70,
        _ => 5000,
    };
    let mut x = u32::from(seed) | 0x9e37_7900;
    let mut cuts = Vec::new();
    let mut at = 0;
    while at < n {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        at += 1 + x as usize % cap;
        cuts.push(at.min(n));
    }
    // The mailbox takes 1, 2, 3 or any number of frames per read, by the seed's bits 2..4.
    let budget = match (seed >> 2) & 3 {
        3 => usize::MAX,
        b => usize::from(b) + 1,
    };
    assert_eq!(
        feed_cut(codec, stream, &cuts, budget),
        whole,
        "cut at {cuts:?}, {budget} frames per read"
    );
}

/// `encode(body)` then `decode`: the body back, or a refusal that leaves `out` alone.
pub fn check_round_trip(codec: &LengthPrefixed, body: &[u8]) {
    let max = codec.max_frame();
    let before = vec![0xA5, 0x5A, 0x00];
    let mut out = before.clone();
    match codec.encode(body, &mut out) {
        Ok(()) => {
            assert!(
                (1..=max).contains(&body.len()),
                "encoded {} bytes, max {max}",
                body.len()
            );
            assert_eq!(
                out[..before.len()],
                before[..],
                "encode changed what was in `out`"
            );
            let framed = &out[before.len()..];
            assert_eq!(framed.len(), LENGTH_PREFIX_LEN + body.len());
            let d = decode_checked(codec, framed)
                .expect("an encoded frame decodes")
                .expect("an encoded frame is complete");
            assert_eq!(d.consumed, framed.len());
            assert_eq!(&framed[d.body], body);
            // Followed by more bytes (here: itself), the frame still decodes the same.
            let twice = [framed, framed].concat();
            let o = decode_whole(codec, &twice);
            assert_eq!(o.frames, vec![body.to_vec(), body.to_vec()]);
            assert_eq!(o.error, None);
            assert!(o.rest.is_empty());
        }
        Err(e) => {
            assert_eq!(out, before, "a failed encode changed `out`");
            if body.is_empty() {
                assert_eq!(e, FrameError::Empty);
            } else {
                assert!(
                    body.len() > max,
                    "refused {} bytes, max {max}: {e}",
                    body.len()
                );
                assert_eq!(
                    e,
                    FrameError::TooLarge {
                        len: body.len(),
                        max
                    }
                );
            }
        }
    }
}
