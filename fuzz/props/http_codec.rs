//! Property checks for `reactor_http`'s request framing and parsing ([`HttpCodec`],
//! [`Request::parse`], [`Response`]), shared by the `http_codec` fuzz target and
//! `reactor-http/tests/fuzz_regressions.rs` (which includes this file by path).
//!
//! Input layout: byte 0 chooses the head limit (high bit set: the defaults, 8 KiB of head
//! and 64 KiB of body; else `max_head = 1 + 16 * byte`), byte 1 the body limit
//! (`8 * byte`, when byte 0 did not choose the defaults), byte 2 seeds the chunking, and
//! the rest is the byte stream a client sent. Shorter inputs are all stream, with the
//! default limits.
//!
//! Checked: `decode` never panics; a frame is the whole front of the buffer
//! (`body == 0..consumed`, `1 <= consumed <= len`), decided by its own bytes (the same
//! answer on `buf[..consumed]`, `None` on anything shorter); `None` never holds more
//! than a head and a body can take; `TooLarge` names the body limit and a length above
//! it; decoding a stream to its end terminates; feeding the stream in pieces through a
//! copy of the sub-reactor's carry-buffer loop (byte by byte, cut at every point,
//! seeded random pieces) gives the same frames, error and left-over as decoding it
//! whole. Every frame parses with `Request::parse` without panicking, into a request
//! within the limits whose body is its `Content-Length`, or into a framing refusal
//! (`Transfer-Encoding`, bad `Content-Length`: 400, 411 or 501), never a malformed head;
//! the error's response is a closing `HTTP/1.1 <status>` response with the JSON error
//! shape. `Request::parse` on the raw stream never panics, and when it accepts the
//! stream as one request a codec with room for it cuts exactly that one frame. A
//! response with the stream as body and as a header's name and value is written without
//! panicking and without a line break inside its head.

#![allow(dead_code)]

use std::net::SocketAddr;

use reactor::{Codec, Decoded, FrameError};
use reactor_http::{HttpCodec, Limits, Request, RequestError, Response};

/// One fuzz input, taken apart.
pub struct Input<'a> {
    /// The codec under test.
    pub codec: HttpCodec,
    /// Seeds the chunk sizes.
    pub seed: u8,
    /// The bytes a client sent.
    pub stream: &'a [u8],
}

/// Splits a fuzz input into codec, seed and stream (see the module doc).
pub fn split(data: &[u8]) -> Input<'_> {
    match data {
        [a, b, seed, stream @ ..] => Input {
            codec: codec(limits_of(*a, *b)),
            seed: *seed,
            stream,
        },
        _ => Input {
            codec: HttpCodec::default(),
            seed: 0,
            stream: data,
        },
    }
}

fn limits_of(a: u8, b: u8) -> Option<(usize, usize)> {
    (a & 0x80 == 0).then(|| (1 + 16 * usize::from(a), 8 * usize::from(b)))
}

/// A codec with `(max_head, max_body)`, or the defaults.
pub fn codec(limits: Option<(usize, usize)>) -> HttpCodec {
    match limits {
        None => HttpCodec::default(),
        Some((max_head, max_body)) => HttpCodec::new(&Limits {
            max_head,
            max_body,
            ..Limits::default()
        }),
    }
}

/// Builds a fuzz input from its parts: `limits` as bytes 0 and 1 (`None`: the defaults).
pub fn input(limits: Option<(u8, u8)>, seed: u8, stream: &[u8]) -> Vec<u8> {
    let (a, b) = match limits {
        None => (0x80, 0),
        Some((a, b)) => {
            assert!(a < 0x80, "byte 0 must leave the high bit clear");
            (a, b)
        }
    };
    let mut v = vec![a, b, seed];
    v.extend_from_slice(stream);
    v
}

fn peer() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 1))
}

/// Runs every check on one fuzz input.
pub fn check(data: &[u8]) {
    let inp = split(data);
    let whole = check_stream(&inp.codec, inp.stream, inp.seed);
    for frame in &whole.frames {
        check_frame(&inp.codec, frame);
    }
    check_raw(inp.stream);
}

/// What a connection made of a byte stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The frames (whole requests), in order.
    pub frames: Vec<Vec<u8>>,
    /// The framing error that closed the connection, if any.
    pub error: Option<FrameError>,
    /// Bytes kept for a request not yet complete (empty after an error).
    pub rest: Vec<u8>,
}

/// Checks one `decode` answer on `buf` and returns it.
pub fn decode_checked(codec: &HttpCodec, buf: &[u8]) -> Result<Option<Decoded>, FrameError> {
    let r = codec.decode(buf);
    match &r {
        Ok(Some(d)) => {
            assert!(d.consumed >= 1, "consumed 0 bytes: {d:?}");
            assert!(d.consumed <= buf.len(), "{d:?} beyond {} bytes", buf.len());
            assert_eq!(d.body, 0..d.consumed, "a frame is the whole request");
            assert!(
                d.consumed <= codec.max_head() + codec.max_body(),
                "{d:?} over the limits"
            );
            assert_eq!(codec.decode(&buf[..d.consumed]), r, "on buf[..consumed]");
            assert_eq!(
                codec.decode(&buf[..d.consumed - 1]),
                Ok(None),
                "on a prefix"
            );
        }
        Ok(None) => assert!(
            buf.len() < codec.max_head() + codec.max_body(),
            "waiting with {} bytes",
            buf.len()
        ),
        Err(FrameError::TooLarge { len, max }) => {
            assert_eq!(*max, codec.max_body());
            assert!(len > max, "TooLarge {len} <= {max}");
        }
        Err(FrameError::Malformed(m)) => assert!(!m.is_empty()),
        Err(FrameError::Empty) => panic!("HttpCodec said Empty"),
    }
    r
}

/// Decodes `stream` whole, as one read would.
pub fn decode_whole(codec: &HttpCodec, stream: &[u8]) -> Outcome {
    let mut frames = Vec::new();
    let mut pos = 0;
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

/// A connection's input side as the sub-reactor keeps it (its `ingest`, without the
/// mailbox bound: see `fuzz/props/frame_codec.rs` for that).
#[derive(Debug, Default)]
pub struct Conn {
    input: Vec<u8>,
    frames: Vec<Vec<u8>>,
    error: Option<FrameError>,
}

impl Conn {
    /// One read of `fresh` bytes.
    pub fn ingest(&mut self, codec: &HttpCodec, fresh: &[u8]) {
        if self.error.is_some() {
            return;
        }
        self.input.extend_from_slice(fresh);
        let mut pos = 0;
        let mut turns = 0;
        loop {
            turns += 1;
            assert!(
                turns <= self.input.len() + 1,
                "decoding a read did not finish"
            );
            match decode_checked(codec, &self.input[pos..]) {
                Ok(Some(d)) => {
                    self.frames
                        .push(self.input[pos + d.body.start..pos + d.body.end].to_vec());
                    pos += d.consumed.max(1);
                }
                Ok(None) => break,
                Err(e) => {
                    self.input.clear();
                    self.error = Some(e);
                    return;
                }
            }
        }
        self.input.drain(..pos);
    }

    /// What the connection made of everything it read.
    pub fn outcome(self) -> Outcome {
        Outcome {
            frames: self.frames,
            error: self.error,
            rest: self.input,
        }
    }
}

/// Feeds `stream` cut at `cuts` (increasing offsets) through a [`Conn`].
pub fn feed_cut(codec: &HttpCodec, stream: &[u8], cuts: &[usize]) -> Outcome {
    let mut conn = Conn::default();
    let mut start = 0;
    for &c in cuts.iter().chain(std::iter::once(&stream.len())) {
        let c = c.clamp(start, stream.len());
        conn.ingest(codec, &stream[start..c]);
        start = c;
    }
    conn.outcome()
}

/// The stream decoded whole, byte by byte, cut once at every point (or, for streams
/// over 64 bytes, at 32 spread points and around each of the first 16 frame boundaries),
/// and in seeded random pieces: always the same outcome, which is returned.
pub fn check_stream(codec: &HttpCodec, stream: &[u8], seed: u8) -> Outcome {
    let whole = decode_whole(codec, stream);
    let n = stream.len();

    if n <= 4096 {
        let mut conn = Conn::default();
        for b in stream.chunks(1) {
            conn.ingest(codec, b);
        }
        assert_eq!(conn.outcome(), whole, "fed byte by byte");
    }

    let mut points: Vec<usize> = if n <= 64 {
        (0..=n).collect()
    } else {
        let mut p: Vec<usize> = (0..=n).step_by(n / 32 + 1).collect();
        let mut at = 0;
        for f in whole.frames.iter().take(16) {
            at += f.len();
            for d in 0..4 {
                p.push(at.saturating_sub(d));
                p.push(at + d);
            }
        }
        p.push(n);
        p
    };
    points.retain(|&p| p <= n);
    points.sort_unstable();
    points.dedup();
    for p in points {
        assert_eq!(feed_cut(codec, stream, &[p]), whole, "cut at {p}");
    }

    let cap = match seed & 3 {
        0 => 3,
        1 => 17,
        2 => 200,
        _ => 9000,
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
    assert_eq!(feed_cut(codec, stream, &cuts), whole, "cut at {cuts:?}");
    whole
}

/// One frame the codec cut, parsed the way the handler parses it.
pub fn check_frame(codec: &HttpCodec, frame: &[u8]) {
    match Request::parse(frame, peer()) {
        Ok(req) => {
            assert!(req.body.len() <= codec.max_body(), "body over the limit");
            assert!(
                frame.len() - req.body.len() <= codec.max_head(),
                "head over the limit"
            );
            assert_eq!(&frame[frame.len() - req.body.len()..], &req.body[..]);
            check_request(&req);
        }
        Err(e) => {
            assert!(
                matches!(
                    e,
                    RequestError::TransferEncodingWithLength
                        | RequestError::ConflictingLength
                        | RequestError::InvalidLength
                        | RequestError::LengthRequired
                        | RequestError::UnsupportedTransferEncoding
                ),
                "the codec cut a frame the parser calls {e:?}"
            );
            check_error(&e);
        }
    }
}

/// What any accepted request must look like.
pub fn check_request(req: &Request) {
    assert!(!req.method.is_empty() && !req.path.is_empty());
    assert!(!req.path.contains('?'));
    assert!(req.version <= 1);
    if let Some(cl) = req.header("content-length") {
        assert_eq!(cl.trim().parse::<usize>().ok(), Some(req.body.len()));
    } else {
        assert!(req.body.is_empty());
    }
    assert!(req.header("transfer-encoding").is_none());
    let close_asked = req.headers.iter().any(|(n, v)| {
        n.eq_ignore_ascii_case("connection")
            && v.split(|&b| b == b',')
                .any(|t| t.trim_ascii().eq_ignore_ascii_case(b"close"))
    });
    if close_asked {
        assert!(!req.keep_alive);
    } else if req.version == 1 {
        assert!(req.keep_alive);
    }
}

/// An error's answer: a closing response with its status and the JSON error shape.
pub fn check_error(e: &RequestError) {
    let r = e.response();
    assert!(r.close);
    assert!([400, 411, 431, 501].contains(&r.status), "{e:?}");
    let bytes = r.to_bytes();
    let status_line = format!("HTTP/1.1 {} ", r.status);
    assert!(bytes.starts_with(status_line.as_bytes()));
    let body: serde_json::Value = serde_json::from_slice(&r.body).expect("JSON error body");
    assert_eq!(body["ok"], serde_json::Value::Bool(false));
    assert_eq!(body["error"]["code"], e.code());
}

/// The raw stream as one request, and as response material.
pub fn check_raw(stream: &[u8]) {
    match Request::parse(stream, peer()) {
        Ok(req) => {
            check_request(&req);
            let room = codec(Some((stream.len().max(1), stream.len())));
            let o = decode_whole(&room, stream);
            assert_eq!(o.frames, vec![stream.to_vec()], "parser and codec disagree");
        }
        Err(e) => check_error(&e),
    }

    let text = String::from_utf8_lossy(stream);
    let status = stream
        .first_chunk::<2>()
        .map_or(200, |b| u16::from_be_bytes(*b));
    let r = Response::text(status, &text, stream.to_vec()).header(&*text, &*text);
    let bytes = r.to_bytes();
    let head_end = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a head")
        + 4;
    let head = &bytes[..head_end];
    for (i, &b) in head.iter().enumerate() {
        match b {
            b'\r' => assert_eq!(head.get(i + 1), Some(&b'\n'), "bare CR in the head"),
            b'\n' => assert_eq!(head[i - 1], b'\r', "bare LF in the head"),
            _ => {}
        }
    }
    let body = &bytes[head_end..];
    assert!(body.is_empty() || body == stream, "body changed");
}
