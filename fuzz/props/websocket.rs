//! Property checks for the WebSocket side of `reactor_http` ([`HttpWsCodec`] in
//! [`MODE_WEBSOCKET`], [`ClientFrame`], [`Assembler`], the server frame writers), shared
//! by the `websocket` fuzz target and `reactor-http/tests/websocket_fuzz.rs` (which
//! includes this file by path).
//!
//! Input layout: byte 0 chooses the message limit (`1 + 64 * byte`), byte 1 seeds the
//! chunking, the rest is the byte stream a client sent after its handshake. Shorter
//! inputs are all stream, with a limit of 65,536.
//!
//! Checked: `decode_in` never panics; a frame is the whole front of the buffer
//! (`body == 0..consumed`, `1 <= consumed <= len`); feeding the stream byte by byte, or
//! in seeded random pieces, through a copy of the sub-reactor's carry-buffer loop gives
//! the same frames, error and left-over as decoding it whole. Every frame the codec cuts
//! parses as a [`ClientFrame`] with a payload within its bounds (125 bytes for control
//! frames, the limit for data), and the [`Assembler`] either refuses it with one of the
//! statuses 1002, 1003, 1007, 1009, or yields messages that are valid UTF-8 within the
//! limit. What the server writes (a text frame of the stream, a pong, a close with the
//! stream as reason) has a header that says its own length and a close payload that is
//! at most 125 bytes of valid UTF-8.

#![allow(dead_code)]

use reactor::{Codec, FrameError};
use reactor_http::websocket::frame::{self, ClientFrame, Kind};
use reactor_http::websocket::message::{Assembler, Event};
use reactor_http::websocket::{HttpWsCodec, MODE_WEBSOCKET};
use reactor_http::HttpCodec;

/// What decoding a stream gave.
#[derive(Debug, PartialEq, Eq)]
pub struct Outcome {
    /// The frames cut, in order.
    pub frames: Vec<Vec<u8>>,
    /// The error that stopped decoding, if one did.
    pub error: Option<FrameError>,
    /// Bytes kept for later (none after an error).
    pub rest: Vec<u8>,
}

/// A fuzz input with the message limit `limit_byte` chooses and `seed`.
pub fn input(limit_byte: u8, seed: u8, stream: &[u8]) -> Vec<u8> {
    let mut data = vec![limit_byte, seed];
    data.extend_from_slice(stream);
    data
}

/// The codec with a message limit of `max`.
pub fn codec(max: usize) -> HttpWsCodec {
    HttpWsCodec::new(HttpCodec::default(), max)
}

/// Runs every check on one fuzz input.
pub fn check(data: &[u8]) {
    let (max, seed, stream) = match data {
        [limit, seed, stream @ ..] => (1 + 64 * usize::from(*limit), *seed, stream),
        _ => (65_536, 0, data),
    };
    let codec = codec(max);
    let whole = feed(&codec, &[stream]);
    if stream.len() <= 4096 {
        let bytes: Vec<&[u8]> = stream.chunks(1).collect();
        assert_eq!(feed(&codec, &bytes), whole, "fed byte by byte");
    }
    let mut state = u32::from(seed).wrapping_mul(2_654_435_761) | 1;
    let mut pieces = Vec::new();
    let mut rest = stream;
    while !rest.is_empty() {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let n = (state as usize % 97 + 1).min(rest.len());
        let (piece, tail) = rest.split_at(n);
        pieces.push(piece);
        rest = tail;
    }
    assert_eq!(feed(&codec, &pieces), whole, "fed in seeded pieces");
    assemble(&whole.frames, max);
    server_frames(&codec, stream, max);
}

/// Feeds `pieces` through the sub-reactor's loop: append, then cut while frames come.
pub fn feed(codec: &HttpWsCodec, pieces: &[&[u8]]) -> Outcome {
    let mut buf = Vec::new();
    let mut frames = Vec::new();
    for piece in pieces {
        buf.extend_from_slice(piece);
        loop {
            match codec.decode_in(MODE_WEBSOCKET, &buf) {
                Ok(Some(d)) => {
                    assert!(d.consumed >= 1 && d.consumed <= buf.len(), "{d:?}");
                    assert_eq!(d.body, 0..d.consumed, "a frame is the whole front");
                    frames.push(buf[d.body].to_vec());
                    buf.drain(..d.consumed);
                }
                Ok(None) => break,
                Err(error) => {
                    return Outcome {
                        frames,
                        error: Some(error),
                        rest: Vec::new(),
                    }
                }
            }
        }
    }
    Outcome {
        frames,
        error: None,
        rest: buf,
    }
}

/// Every frame parses within its bounds; the assembler refuses with a known status or
/// yields valid messages.
fn assemble(frames: &[Vec<u8>], max: usize) {
    let mut assembler = Assembler::new(max);
    for f in frames {
        let frame = ClientFrame::parse(f.clone()).expect("a frame the codec cut parses");
        let bound = match frame.kind {
            Kind::Close | Kind::Ping | Kind::Pong => 125,
            Kind::Text | Kind::Binary | Kind::Continuation => max,
        };
        assert!(frame.payload().len() <= bound, "{:?}", frame.kind);
        match assembler.push(frame) {
            Ok(Event::Message(text)) => {
                assert!(text.len() <= max);
                assert!(std::str::from_utf8(&text).is_ok());
            }
            Ok(Event::Ping(payload)) => assert!(payload.len() <= 125),
            Ok(Event::Close(_) | Event::Nothing) => {}
            Err(refusal) => {
                assert!(
                    [1002, 1003, 1007, 1009].contains(&refusal.code),
                    "{refusal:?}"
                );
                return;
            }
        }
    }
}

/// The frames a server writes say their own length.
fn server_frames(codec: &HttpWsCodec, stream: &[u8], max: usize) {
    let body = &stream[..stream.len().min(max)];
    let mut out = Vec::new();
    codec
        .encode_in(MODE_WEBSOCKET, body, &mut out)
        .expect("a body within the limit is framed");
    assert_eq!(out[0], 0x81);
    assert_eq!(announced(&out), Some(body.len()));
    assert_eq!(&out[out.len() - body.len()..], body);
    if stream.len() > max {
        let mut none = Vec::new();
        assert!(codec.encode_in(MODE_WEBSOCKET, stream, &mut none).is_err());
        assert!(none.is_empty());
    }
    let ping = &stream[..stream.len().min(125)];
    let pong = frame::pong(ping);
    assert_eq!((pong[0], announced(&pong)), (0x8A, Some(ping.len())));
    let reason = String::from_utf8_lossy(stream);
    let close = frame::close(1000, &reason);
    let len = announced(&close).expect("a close frame's length");
    assert!(len <= 125 && close.len() == 2 + len);
    assert!(std::str::from_utf8(&close[4..]).is_ok());
}

/// The payload length an unmasked server frame's header announces, if the frame is
/// exactly that long.
fn announced(frame: &[u8]) -> Option<usize> {
    let (len, at) = match frame.get(1)? & 0x7F {
        126 => (
            usize::from(u16::from_be_bytes([*frame.get(2)?, *frame.get(3)?])),
            4,
        ),
        127 => (
            usize::try_from(u64::from_be_bytes(frame.get(2..10)?.try_into().ok()?)).ok()?,
            10,
        ),
        n => (usize::from(n), 2),
    };
    (frame.len() == at + len).then_some(len)
}
