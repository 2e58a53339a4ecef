//! The client side of WebSocket (RFC 6455) for chatload's engine: the opening handshake
//! and the framing of a connection to a node's `/ws` endpoint (`chatload relay --ws`).
//!
//! A connection has two framing modes (`reactor::ConnHandle::set_mode`):
//!
//! | mode | decode (server → client) | encode (client → server) |
//! | --- | --- | --- |
//! | [`MODE_HANDSHAKE`] (0, at connect) | the HTTP response head up to `CRLFCRLF`, one frame, at most [`MAX_RESPONSE_HEAD`] bytes | refused: nothing may be framed before the `101` (the handshake request goes out raw) |
//! | [`MODE_WEBSOCKET`] (1, after the `101`) | one whole unmasked server frame, header included (see [`decode_frame`], read with [`server_frame`]) | one text frame, masked with a fresh random key |
//!
//! A server frame that is masked, fragmented (no FIN, or a continuation), binary, has a
//! reserved bit or opcode, or is a control frame over 125 bytes is a framing error: the
//! engine counts it and closes the connection. [`Handshake`] writes the `GET /ws`
//! request (random `Sec-WebSocket-Key`, no `Origin`) and checks the answer (`101`,
//! `Upgrade`, `Connection`, `Sec-WebSocket-Accept`). Header parsing and formatting are
//! tungstenite's ([`FrameHeader`]); the masking is done here.
//!
//! May touch: nothing but the buffers it is given (pure framing, no I/O).

use std::net::SocketAddr;

use reactor::{Codec, Decoded, FrameError};
use reactor_http::websocket::frame::parse_header;
use tungstenite::handshake::derive_accept_key;
use tungstenite::protocol::frame::coding::{Control, Data, OpCode};
use tungstenite::protocol::frame::FrameHeader;

/// The mode of a connection waiting for the handshake's answer (every connection's first).
pub const MODE_HANDSHAKE: u8 = 0;
/// The mode of a connection whose handshake was accepted (`101`).
pub const MODE_WEBSOCKET: u8 = 1;
/// The largest HTTP response head accepted as the handshake's answer.
pub const MAX_RESPONSE_HEAD: usize = 8 * 1024;
/// The path of a node's WebSocket endpoint.
pub const WS_PATH: &str = "/ws";
/// The largest payload of a control frame (RFC 6455, 5.5).
const MAX_CONTROL_PAYLOAD: u64 = 125;

/// chatload's codec on a WebSocket connection (see the module doc for the two modes).
#[derive(Debug, Clone, Copy)]
pub struct WsClientCodec {
    max_message: usize,
}

impl WsClientCodec {
    /// Text messages of at most `max_message` payload bytes, both ways.
    pub fn new(max_message: usize) -> Self {
        Self { max_message }
    }
}

impl Codec for WsClientCodec {
    fn decode(&self, buf: &[u8]) -> Result<Option<Decoded>, FrameError> {
        decode_head(buf)
    }

    fn encode(&self, _body: &[u8], _out: &mut Vec<u8>) -> Result<(), FrameError> {
        Err(malformed("no frame may be sent before the handshake's 101"))
    }

    fn decode_in(&self, mode: u8, buf: &[u8]) -> Result<Option<Decoded>, FrameError> {
        match mode {
            MODE_WEBSOCKET => decode_frame(buf, self.max_message),
            _ => decode_head(buf),
        }
    }

    fn encode_in(&self, mode: u8, body: &[u8], out: &mut Vec<u8>) -> Result<(), FrameError> {
        match mode {
            MODE_WEBSOCKET if body.is_empty() => Err(FrameError::Empty),
            MODE_WEBSOCKET if body.len() > self.max_message => Err(FrameError::TooLarge {
                len: body.len(),
                max: self.max_message,
            }),
            MODE_WEBSOCKET => {
                write_masked(OpCode::Data(Data::Text), body, rand::random(), out);
                Ok(())
            }
            _ => self.encode(body, out),
        }
    }
}

fn malformed(why: &str) -> FrameError {
    FrameError::Malformed(why.to_owned())
}

/// Finds the HTTP response head (status line and headers, up to and including the blank
/// line) at the front of `buf`; the frame is the whole head.
pub fn decode_head(buf: &[u8]) -> Result<Option<Decoded>, FrameError> {
    let window = &buf[..buf.len().min(MAX_RESPONSE_HEAD)];
    match window.windows(4).position(|w| w == b"\r\n\r\n") {
        Some(at) => Ok(Some(Decoded {
            body: 0..at + 4,
            consumed: at + 4,
        })),
        None if buf.len() >= MAX_RESPONSE_HEAD => Err(FrameError::TooLarge {
            len: buf.len(),
            max: MAX_RESPONSE_HEAD,
        }),
        None => Ok(None),
    }
}

/// Finds one whole server frame at the front of `buf`; its body is the whole frame,
/// header included (read it with [`server_frame`]). Refuses what a client must refuse
/// (see the module doc) as soon as the header is in; a text payload over `max_payload`
/// is [`FrameError::TooLarge`].
pub fn decode_frame(buf: &[u8], max_payload: usize) -> Result<Option<Decoded>, FrameError> {
    let Some((header, header_len, len)) = parse_header(buf)? else {
        return Ok(None);
    };
    if header.rsv1 || header.rsv2 || header.rsv3 {
        return Err(malformed("reserved bits set (no extension was negotiated)"));
    }
    if header.mask.is_some() {
        return Err(malformed("server frame is masked"));
    }
    match header.opcode {
        OpCode::Data(Data::Text) if !header.is_final => {
            return Err(malformed("fragmented server message"))
        }
        OpCode::Data(Data::Text) => {
            if len > max_payload as u64 {
                return Err(FrameError::TooLarge {
                    len: usize::try_from(len).unwrap_or(usize::MAX),
                    max: max_payload,
                });
            }
        }
        OpCode::Data(Data::Continue) => return Err(malformed("fragmented server message")),
        OpCode::Data(Data::Binary) => return Err(malformed("binary server message")),
        OpCode::Control(Control::Close | Control::Ping | Control::Pong) => {
            if !header.is_final || len > MAX_CONTROL_PAYLOAD {
                return Err(malformed("control frame fragmented or over 125 bytes"));
            }
        }
        OpCode::Data(Data::Reserved(_)) | OpCode::Control(Control::Reserved(_)) => {
            return Err(malformed("reserved opcode"))
        }
    }
    // Both terms are bounded: the header by 14 bytes, the payload by the checks above.
    let end = header_len + len as usize;
    if buf.len() < end {
        return Ok(None);
    }
    Ok(Some(Decoded {
        body: 0..end,
        consumed: end,
    }))
}

/// A whole server frame, as [`decode_frame`] cut it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerFrame<'a> {
    /// A text message (one JSON object of the protocol).
    Text(&'a [u8]),
    /// The server closes, with this status (none if it gave none).
    Close(Option<u16>),
    /// A ping with this payload: answer with a pong.
    Ping(&'a [u8]),
    /// A pong: nothing to do.
    Pong,
}

/// Reads a frame that [`decode_frame`] cut.
pub fn server_frame(frame: &[u8]) -> Result<ServerFrame<'_>, FrameError> {
    let Some((header, header_len, _)) = parse_header(frame)? else {
        return Err(malformed("incomplete frame"));
    };
    let payload = &frame[header_len.min(frame.len())..];
    match header.opcode {
        OpCode::Data(Data::Text) => Ok(ServerFrame::Text(payload)),
        OpCode::Control(Control::Close) => Ok(ServerFrame::Close(match payload {
            [hi, lo, ..] => Some(u16::from_be_bytes([*hi, *lo])),
            _ => None,
        })),
        OpCode::Control(Control::Ping) => Ok(ServerFrame::Ping(payload)),
        OpCode::Control(Control::Pong) => Ok(ServerFrame::Pong),
        _ => Err(malformed("not a frame decode_frame lets through")),
    }
}

/// Appends one unfragmented client frame of `opcode` carrying `payload`, masked with
/// `mask` (RFC 6455, 5.3: every client frame is masked).
pub fn write_masked(opcode: OpCode, payload: &[u8], mask: [u8; 4], out: &mut Vec<u8>) {
    let header = FrameHeader {
        opcode,
        mask: Some(mask),
        ..FrameHeader::default()
    };
    let len = payload.len() as u64;
    out.reserve(header.len(len) + payload.len());
    // Formatting into a Vec cannot fail: writes to a Vec only grow it.
    let _ = header.format(len, out);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i & 3]));
}

/// A masked close frame with status `code` (no reason).
pub fn close_frame(code: u16) -> Vec<u8> {
    let mut out = Vec::with_capacity(8);
    write_masked(
        OpCode::Control(Control::Close),
        &code.to_be_bytes(),
        rand::random(),
        &mut out,
    );
    out
}

/// A masked pong answering a ping with `payload`.
pub fn pong_frame(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(6 + payload.len());
    write_masked(
        OpCode::Control(Control::Pong),
        payload,
        rand::random(),
        &mut out,
    );
    out
}

/// One client's opening handshake: the request it sends and the answer it expects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handshake {
    key: String,
}

impl Handshake {
    /// A handshake with a fresh random `Sec-WebSocket-Key` (16 bytes, base64).
    pub fn new() -> Self {
        Self::with_key(tungstenite::handshake::client::generate_key())
    }

    /// A handshake with the given key (tests).
    pub fn with_key(key: String) -> Self {
        Self { key }
    }

    /// The `GET /ws` upgrade request to `host` (no `Origin`: chatload is not a page).
    pub fn request(&self, host: SocketAddr) -> Vec<u8> {
        format!(
            "GET {WS_PATH} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n\
             Connection: Upgrade\r\nSec-WebSocket-Key: {}\r\nSec-WebSocket-Version: 13\r\n\r\n",
            self.key
        )
        .into_bytes()
    }

    /// Checks the server's answer (a head [`decode_head`] cut): `Ok` for a `101` with
    /// `Upgrade: websocket`, `Connection: upgrade` and the right `Sec-WebSocket-Accept`;
    /// otherwise a short key saying what was wrong (`status_503`, `bad_accept`, ...).
    pub fn check(&self, head: &[u8]) -> Result<(), String> {
        let text = std::str::from_utf8(head).map_err(|_| "not_utf8".to_string())?;
        let mut lines = text.split("\r\n");
        let status_line = lines.next().unwrap_or_default();
        let mut parts = status_line.split(' ');
        let (version, status) = (parts.next(), parts.next());
        if !version.is_some_and(|v| v.starts_with("HTTP/1.")) {
            return Err("not_http".into());
        }
        match status {
            Some("101") => {}
            Some(code) if code.len() == 3 && code.bytes().all(|b| b.is_ascii_digit()) => {
                return Err(format!("status_{code}"))
            }
            _ => return Err("bad_status_line".into()),
        }
        let (mut upgrade, mut connection, mut accept) = (false, false, None);
        for line in lines.filter(|l| !l.is_empty()) {
            let Some((name, value)) = line.split_once(':') else {
                return Err("bad_header".into());
            };
            let (name, value) = (name.trim(), value.trim());
            if name.eq_ignore_ascii_case("upgrade") {
                upgrade |= value.eq_ignore_ascii_case("websocket");
            } else if name.eq_ignore_ascii_case("connection") {
                connection |= value
                    .split(',')
                    .any(|t| t.trim().eq_ignore_ascii_case("upgrade"));
            } else if name.eq_ignore_ascii_case("sec-websocket-accept") {
                accept = Some(value);
            }
        }
        if !upgrade || !connection {
            return Err("no_upgrade".into());
        }
        match accept {
            Some(a) if a == derive_accept_key(self.key.as_bytes()) => Ok(()),
            Some(_) => Err("bad_accept".into()),
            None => Err("no_accept".into()),
        }
    }
}

impl Default for Handshake {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An unmasked server frame, as a server writes it.
    fn server(first: u8, payload: &[u8]) -> Vec<u8> {
        let mut out = vec![first];
        let len = payload.len();
        if len < 126 {
            out.push(len as u8);
        } else if len <= 0xFFFF {
            out.push(126);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        } else {
            out.push(127);
            out.extend_from_slice(&(len as u64).to_be_bytes());
        }
        out.extend_from_slice(payload);
        out
    }

    /// Reads a masked client frame: (first byte, payload unmasked).
    fn unmask(frame: &[u8]) -> (u8, Vec<u8>) {
        let (header, header_len, len) = parse_header(frame).unwrap().unwrap();
        let mask = header.mask.expect("client frames are masked");
        assert_eq!(frame.len(), header_len + len as usize);
        let payload = frame[header_len..]
            .iter()
            .enumerate()
            .map(|(i, b)| b ^ mask[i & 3])
            .collect();
        (frame[0], payload)
    }

    #[test]
    fn client_frames_are_masked_text_in_every_length_form() {
        let codec = WsClientCodec::new(100_000);
        for (len, header_len) in [(1, 6), (125, 6), (126, 8), (65_535, 8), (65_536, 14)] {
            let body: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
            let mut out = vec![7];
            codec.encode_in(MODE_WEBSOCKET, &body, &mut out).unwrap();
            let frame = &out[1..];
            assert_eq!(frame.len(), header_len + len, "len {len}");
            assert_eq!(frame[1] & 0x80, 0x80, "mask bit, len {len}");
            let (first, payload) = unmask(frame);
            assert_eq!(first, 0x81, "FIN + text");
            assert_eq!(payload, body);
            if len >= 16 {
                assert_ne!(&frame[header_len..header_len + 16], &body[..16], "masked");
            }
        }
        // Masks differ from frame to frame.
        let masks: std::collections::HashSet<Option<[u8; 4]>> = (0..20)
            .map(|_| {
                let mut out = Vec::new();
                codec.encode_in(MODE_WEBSOCKET, b"{}", &mut out).unwrap();
                parse_header(&out).unwrap().unwrap().0.mask
            })
            .collect();
        assert!(masks.len() > 15, "{masks:?}");
    }

    #[test]
    fn nothing_is_framed_before_the_upgrade_and_limits_hold() {
        let codec = WsClientCodec::new(10);
        let mut out = vec![1];
        assert!(codec.encode_in(MODE_HANDSHAKE, b"{}", &mut out).is_err());
        assert!(codec.encode(b"{}", &mut out).is_err());
        assert_eq!(
            codec.encode_in(MODE_WEBSOCKET, &[b'x'; 11], &mut out),
            Err(FrameError::TooLarge { len: 11, max: 10 })
        );
        assert_eq!(
            codec.encode_in(MODE_WEBSOCKET, b"", &mut out),
            Err(FrameError::Empty)
        );
        assert_eq!(out, vec![1]);
    }

    #[test]
    fn server_frames_of_every_length_form_are_cut_whole() {
        for len in [0, 1, 125, 126, 65_535, 65_536, 70_000] {
            let payload: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
            let bytes = server(0x81, &payload);
            let cuts = [0, 1, 2, 3, bytes.len() / 2, bytes.len() - 1];
            for cut in cuts.into_iter().filter(|&c| c < bytes.len()) {
                assert_eq!(
                    decode_frame(&bytes[..cut], 100_000),
                    Ok(None),
                    "{len}/{cut}"
                );
            }
            let mut more = bytes.clone();
            more.extend_from_slice(&server(0x81, b"next"));
            let d = decode_frame(&more, 100_000).unwrap().unwrap();
            assert_eq!((d.body.clone(), d.consumed), (0..bytes.len(), bytes.len()));
            let codec = WsClientCodec::new(100_000);
            assert_eq!(codec.decode_in(MODE_WEBSOCKET, &more), Ok(Some(d.clone())));
            assert_eq!(
                server_frame(&more[d.body]),
                Ok(ServerFrame::Text(&payload[..]))
            );
        }
        let big = server(0x81, &[b'x'; 300]);
        assert_eq!(
            decode_frame(&big[..10], 200),
            Err(FrameError::TooLarge { len: 300, max: 200 }),
            "too large is known from the header alone"
        );
    }

    #[test]
    fn refuses_what_a_client_must_refuse() {
        let bad = |bytes: &[u8]| matches!(decode_frame(bytes, 1000), Err(FrameError::Malformed(_)));
        // Masked.
        let mut masked = Vec::new();
        write_masked(OpCode::Data(Data::Text), b"hi", [1, 2, 3, 4], &mut masked);
        assert!(bad(&masked));
        // Fragmented: a text frame without FIN, a continuation.
        assert!(bad(&server(0x01, b"half")));
        assert!(bad(&server(0x80, b"rest")));
        // Binary, reserved bits, reserved opcodes.
        assert!(bad(&server(0x82, b"bin")));
        assert!(bad(&server(0xC1, b"x")));
        assert!(bad(&server(0x83, b"x")));
        assert!(bad(&server(0x8B, b"x")));
        // Control frames fragmented or too long.
        assert!(bad(&server(0x09, b"p")));
        assert!(bad(&server(0x89, &[0; 126])));
        // The codec refuses them in mode 1 only.
        let codec = WsClientCodec::new(1000);
        assert!(codec.decode_in(MODE_WEBSOCKET, &masked).is_err());
    }

    #[test]
    fn control_frames() {
        let close = server(0x88, &[0x03, 0xE9, b'b', b'y', b'e']);
        let d = decode_frame(&close, 10).unwrap().unwrap();
        assert_eq!(
            server_frame(&close[d.body]),
            Ok(ServerFrame::Close(Some(1001)))
        );
        assert_eq!(
            server_frame(&server(0x88, b"")),
            Ok(ServerFrame::Close(None))
        );
        assert_eq!(
            server_frame(&server(0x89, b"abc")),
            Ok(ServerFrame::Ping(&b"abc"[..]))
        );
        assert_eq!(server_frame(&server(0x8A, b"")), Ok(ServerFrame::Pong));
        assert_eq!(unmask(&close_frame(1000)), (0x88, vec![0x03, 0xE8]));
        assert_eq!(unmask(&pong_frame(b"abc")), (0x8A, b"abc".to_vec()));
    }

    #[test]
    fn response_heads_are_cut_and_bounded() {
        let head = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n";
        assert_eq!(decode_head(&head[..head.len() - 1]), Ok(None));
        let mut more = head.to_vec();
        more.extend_from_slice(&[0x81, 0x00]);
        let d = decode_head(&more).unwrap().unwrap();
        assert_eq!((d.body, d.consumed), (0..head.len(), head.len()));
        let endless = vec![b'x'; MAX_RESPONSE_HEAD];
        assert!(matches!(
            decode_head(&endless),
            Err(FrameError::TooLarge { .. })
        ));
        assert_eq!(decode_head(&endless[..MAX_RESPONSE_HEAD - 1]), Ok(None));
    }

    #[test]
    fn handshake_request_and_answer() {
        // The RFC 6455 example key and its accept value.
        let hs = Handshake::with_key("dGhlIHNhbXBsZSBub25jZQ==".into());
        let req = String::from_utf8(hs.request("127.0.0.1:8181".parse().unwrap())).unwrap();
        assert!(req.starts_with("GET /ws HTTP/1.1\r\nHost: 127.0.0.1:8181\r\n"));
        assert!(req.contains("\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"));
        assert!(req.contains("\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"));
        assert!(req.contains("\r\nSec-WebSocket-Version: 13\r\n"));
        assert!(req.ends_with("\r\n\r\n"));
        assert!(!req.to_ascii_lowercase().contains("origin"));
        let ok = "HTTP/1.1 101 Switching Protocols\r\nupgrade: WebSocket\r\n\
                  Connection: keep-alive, Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";
        assert_eq!(hs.check(ok.as_bytes()), Ok(()));
        let cases = [
            (ok.replace("s3pPL", "x3pPL"), "bad_accept"),
            (ok.replace("Sec-WebSocket-Accept", "X-Other"), "no_accept"),
            (
                ok.replace("upgrade: WebSocket", "upgrade: h2c"),
                "no_upgrade",
            ),
            (ok.replace("keep-alive, Upgrade", "close"), "no_upgrade"),
            (
                "HTTP/1.1 503 Service Unavailable\r\n\r\n".to_string(),
                "status_503",
            ),
            ("SSH-2.0-x\r\n\r\n".to_string(), "not_http"),
            ("HTTP/1.1 1O1 x\r\n\r\n".to_string(), "bad_status_line"),
        ];
        for (answer, why) in cases {
            assert_eq!(
                hs.check(answer.as_bytes()),
                Err(why.to_string()),
                "{answer}"
            );
        }
        assert_eq!(hs.check(&[0xFF, b'\r', b'\n']), Err("not_utf8".into()));
        // Fresh keys are 16 random bytes in base64.
        let (a, b) = (Handshake::new(), Handshake::new());
        assert_ne!(a, b);
        assert_eq!(a.key.len(), 24);
        assert!(a.key.ends_with("=="));
    }
}
