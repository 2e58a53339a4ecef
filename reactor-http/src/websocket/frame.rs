//! RFC 6455 frames as the reactor sees them: where a frame ends in the input (for the
//! codec), what one whole frame holds (for the handler), and the frames the server
//! writes. Header parsing and formatting are tungstenite's ([`FrameHeader`]); what is
//! checked here is what a server must refuse before it buffers a payload.
//!
//! | header | decode gives |
//! | --- | --- |
//! | not complete yet | `Ok(None)` |
//! | reserved opcode, RSV bit set, unmasked, or a control frame that is fragmented or over 125 bytes | `Malformed` (close 1002) |
//! | a payload over the limit | `TooLarge` (close 1009), as soon as the header is in |
//! | header and whole payload | the frame, header included |

use std::io::Cursor;
use std::ops::Range;

use reactor::{Decoded, FrameError};
use tungstenite::protocol::frame::coding::{Control, Data, OpCode};
use tungstenite::protocol::frame::FrameHeader;

/// The largest payload of a control frame (RFC 6455, 5.5).
const MAX_CONTROL_PAYLOAD: usize = 125;

/// The message of the [`FrameError::Malformed`] for a client frame without a mask.
pub const UNMASKED: &str = "client frame is not masked";

/// Finds one whole client frame at the front of `buf`; its body is the whole frame,
/// header included (the handler reads the header again with [`ClientFrame::parse`]).
pub fn decode(buf: &[u8], max_payload: usize) -> Result<Option<Decoded>, FrameError> {
    let Some((header, header_len, len)) = parse_header(buf)? else {
        return Ok(None);
    };
    if header.rsv1 || header.rsv2 || header.rsv3 {
        return Err(malformed("reserved bits set (no extension was negotiated)"));
    }
    if header.mask.is_none() {
        return Err(malformed(UNMASKED));
    }
    let len = usize::try_from(len).unwrap_or(usize::MAX);
    if let OpCode::Control(_) = header.opcode {
        if !header.is_final || len > MAX_CONTROL_PAYLOAD {
            return Err(malformed("control frame fragmented or over 125 bytes"));
        }
    } else if len > max_payload {
        return Err(FrameError::TooLarge {
            len,
            max: max_payload,
        });
    }
    let end = header_len.saturating_add(len);
    if buf.len() < end {
        return Ok(None);
    }
    Ok(Some(Decoded {
        body: 0..end,
        consumed: end,
    }))
}

/// The header at the front of `buf` (tungstenite's parser), its length in bytes and the
/// payload length; `None` while incomplete. Either side's frames.
pub fn parse_header(buf: &[u8]) -> Result<Option<(FrameHeader, usize, u64)>, FrameError> {
    let mut cursor = Cursor::new(buf);
    match FrameHeader::parse(&mut cursor) {
        Ok(Some((header, len))) => {
            // The cursor stops inside `buf`, whose length is a usize.
            let header_len = usize::try_from(cursor.position()).unwrap_or(usize::MAX);
            Ok(Some((header, header_len, len)))
        }
        Ok(None) => Ok(None),
        Err(e) => Err(malformed(&e.to_string())),
    }
}

fn malformed(why: &str) -> FrameError {
    FrameError::Malformed(why.to_owned())
}

/// What a client frame is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The first frame of a text message.
    Text,
    /// The first frame of a binary message.
    Binary,
    /// A later frame of the message being received.
    Continuation,
    /// A close frame.
    Close,
    /// A ping.
    Ping,
    /// A pong.
    Pong,
}

/// One client frame, unmasked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientFrame {
    /// What it is.
    pub kind: Kind,
    /// The last frame of its message (always true for control frames).
    pub fin: bool,
    /// The frame, unmasked; the payload is `frame[payload]`.
    frame: Vec<u8>,
    payload: Range<usize>,
}

impl ClientFrame {
    /// Reads a whole frame that [`decode`] cut, and unmasks its payload in place.
    pub fn parse(mut frame: Vec<u8>) -> Result<Self, FrameError> {
        let Some((header, header_len, _)) = parse_header(&frame)? else {
            return Err(malformed("incomplete frame"));
        };
        let kind = match header.opcode {
            OpCode::Data(Data::Text) => Kind::Text,
            OpCode::Data(Data::Binary) => Kind::Binary,
            OpCode::Data(Data::Continue) => Kind::Continuation,
            OpCode::Control(Control::Close) => Kind::Close,
            OpCode::Control(Control::Ping) => Kind::Ping,
            OpCode::Control(Control::Pong) => Kind::Pong,
            OpCode::Data(Data::Reserved(_)) | OpCode::Control(Control::Reserved(_)) => {
                return Err(malformed("reserved opcode"))
            }
        };
        let mask = header.mask.ok_or_else(|| malformed(UNMASKED))?;
        let payload = header_len.min(frame.len())..frame.len();
        for (i, byte) in frame[payload.clone()].iter_mut().enumerate() {
            *byte ^= mask[i & 3];
        }
        Ok(Self {
            kind,
            fin: header.is_final,
            frame,
            payload,
        })
    }

    /// The unmasked payload.
    pub fn payload(&self) -> &[u8] {
        &self.frame[self.payload.clone()]
    }

    /// The payload, taking the frame apart (no copy when the header is short).
    pub fn into_payload(mut self) -> Vec<u8> {
        self.frame.drain(..self.payload.start);
        self.frame
    }
}

/// Appends one unfragmented server frame (unmasked) of `opcode` carrying `payload`.
fn write(opcode: OpCode, payload: &[u8], out: &mut Vec<u8>) {
    let header = FrameHeader {
        opcode,
        ..FrameHeader::default()
    };
    let len = payload.len() as u64;
    out.reserve(header.len(len) + payload.len());
    // Formatting into a Vec cannot fail: writes to a Vec only grow it.
    let _ = header.format(len, out);
    out.extend_from_slice(payload);
}

/// `text` framed as a client frames it, with a zero mask: how a message the application
/// gave back on the reactor thread reaches a worker (which reads it as any client frame).
pub fn client_text(text: &[u8]) -> Vec<u8> {
    let header = FrameHeader {
        opcode: OpCode::Data(Data::Text),
        mask: Some([0; 4]),
        ..FrameHeader::default()
    };
    let len = text.len() as u64;
    let mut out = Vec::with_capacity(header.len(len) + text.len());
    // Formatting into a Vec cannot fail: writes to a Vec only grow it.
    let _ = header.format(len, &mut out);
    out.extend_from_slice(text);
    out
}

/// Whether a whole client frame is a complete text message (text, FIN), the one kind an
/// application may take on the reactor thread.
pub fn is_whole_text(frame: &[u8]) -> bool {
    matches!(
        parse_header(frame),
        Ok(Some((header, _, _))) if header.is_final && header.opcode == OpCode::Data(Data::Text)
    )
}

/// Appends a text frame carrying `text`.
pub fn write_text(text: &[u8], out: &mut Vec<u8>) {
    write(OpCode::Data(Data::Text), text, out);
}

/// A pong answering a ping with `payload`.
pub fn pong(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(2 + payload.len());
    write(OpCode::Control(Control::Pong), payload, &mut out);
    out
}

/// A close frame with status `code` and `reason` (cut to fit a control frame).
pub fn close(code: u16, reason: &str) -> Vec<u8> {
    let mut end = reason.len().min(MAX_CONTROL_PAYLOAD - 2);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    let mut payload = code.to_be_bytes().to_vec();
    payload.extend_from_slice(&reason.as_bytes()[..end]);
    let mut out = Vec::with_capacity(2 + payload.len());
    write(OpCode::Control(Control::Close), &payload, &mut out);
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A masked client frame, as a browser sends it.
    pub(crate) fn client(first: u8, payload: &[u8], mask: [u8; 4]) -> Vec<u8> {
        let mut out = vec![first];
        let len = payload.len();
        if len < 126 {
            out.push(0x80 | len as u8);
        } else if len <= 0xFFFF {
            out.push(0x80 | 126);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        } else {
            out.push(0x80 | 127);
            out.extend_from_slice(&(len as u64).to_be_bytes());
        }
        out.extend_from_slice(&mask);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i & 3]));
        out
    }

    #[test]
    fn cuts_and_unmasks_every_length_form() {
        for len in [0, 1, 125, 126, 65_535, 65_536, 70_000] {
            let payload: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let bytes = client(0x81, &payload, [1, 2, 3, 4]);
            for cut in [0, 1, 2, bytes.len() / 2, bytes.len() - 1] {
                assert_eq!(
                    decode(&bytes[..cut], 100_000),
                    Ok(None),
                    "len {len} cut {cut}"
                );
            }
            let mut more = bytes.clone();
            more.extend_from_slice(&[0x81, 0x80]);
            let d = decode(&more, 100_000).unwrap().unwrap();
            assert_eq!((d.body.clone(), d.consumed), (0..bytes.len(), bytes.len()));
            let f = ClientFrame::parse(bytes[d.body].to_vec()).unwrap();
            assert_eq!((f.kind, f.fin), (Kind::Text, true));
            assert_eq!(f.payload(), &payload[..]);
            assert_eq!(f.into_payload(), payload);
        }
    }

    #[test]
    fn refuses_what_a_server_must_refuse() {
        let unmasked = [0x81, 0x02, b'h', b'i'];
        assert_eq!(decode(&unmasked, 10), Err(malformed(UNMASKED)));
        let rsv = client(0xC1, b"x", [0; 4]);
        assert!(matches!(decode(&rsv, 10), Err(FrameError::Malformed(_))));
        let reserved_op = client(0x83, b"x", [0; 4]);
        assert!(matches!(
            decode(&reserved_op, 10),
            Err(FrameError::Malformed(_))
        ));
        let long_ping = client(0x89, &[0; 126], [0; 4]);
        assert!(matches!(
            decode(&long_ping, 1000),
            Err(FrameError::Malformed(_))
        ));
        let split_ping = client(0x09, b"x", [0; 4]);
        assert!(matches!(
            decode(&split_ping, 1000),
            Err(FrameError::Malformed(_))
        ));
        // Too large is known from the header alone.
        let big = client(0x82, &[0; 300], [0; 4]);
        assert_eq!(
            decode(&big[..8], 200),
            Err(FrameError::TooLarge { len: 300, max: 200 })
        );
        let huge = [
            0x81, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 1, 2, 3, 4,
        ];
        assert!(matches!(
            decode(&huge, 200),
            Err(FrameError::TooLarge { .. })
        ));
    }

    #[test]
    fn server_frames() {
        let mut out = Vec::new();
        write_text(b"hi", &mut out);
        assert_eq!(out, [0x81, 2, b'h', b'i']);
        let mut out = Vec::new();
        write_text(&[b'a'; 200], &mut out);
        assert_eq!(&out[..4], &[0x81, 126, 0, 200]);
        assert_eq!(pong(b"p"), [0x8A, 1, b'p']);
        assert_eq!(close(1000, ""), [0x88, 2, 0x03, 0xE8]);
        let given_back = client_text("é".as_bytes());
        assert!(is_whole_text(&given_back));
        assert!(!is_whole_text(&client(0x01, b"x", [1; 4])));
        assert!(!is_whole_text(&client(0x89, b"x", [1; 4])));
        let f = ClientFrame::parse(given_back).unwrap();
        assert_eq!(
            (f.kind, f.fin, f.payload()),
            (Kind::Text, true, "é".as_bytes())
        );
        let long = "é".repeat(100);
        let c = close(1009, &long);
        assert_eq!(c.len(), 2 + 125 - 1);
        assert!(std::str::from_utf8(&c[4..]).is_ok());
    }
}
