//! [`Assembler`]: client frames in, messages and control events out, with the checks
//! RFC 6455 asks of a server once a frame is whole.
//!
//! | frames | gives |
//! | --- | --- |
//! | a text frame with FIN, or text then continuations up to FIN | `Message(text)` once whole and valid UTF-8, else refusal 1007 |
//! | a binary frame | refusal 1003 (this endpoint speaks text) |
//! | a message growing over the limit | refusal 1009 |
//! | a continuation with no message open, or a new message before the last ended | refusal 1002 |
//! | a ping (between fragments too) | `Ping(payload)`: answer with a pong |
//! | a pong | `Nothing` |
//! | a close | `Close(code)`: echo it and close; a bad code is refusal 1002, a reason not UTF-8 1007 |

use tungstenite::protocol::frame::coding::CloseCode;

use crate::websocket::frame::{ClientFrame, Kind};

/// What a frame amounts to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A whole text message.
    Message(Vec<u8>),
    /// A ping with this payload.
    Ping(Vec<u8>),
    /// The client closes, with this status (none if it gave none).
    Close(Option<u16>),
    /// Nothing to do yet (a fragment, a pong).
    Nothing,
}

/// Why the connection must close: the status and reason of the close frame to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal {
    /// The close status.
    pub code: u16,
    /// A short reason for the close frame.
    pub reason: &'static str,
}

const fn refuse(code: u16, reason: &'static str) -> Refusal {
    Refusal { code, reason }
}

/// Reassembles one connection's fragmented messages.
#[derive(Debug)]
pub struct Assembler {
    max_message: usize,
    /// The text message being received in fragments.
    open: Option<Vec<u8>>,
}

impl Assembler {
    /// An assembler allowing messages of at most `max_message` bytes.
    pub fn new(max_message: usize) -> Self {
        Self {
            max_message,
            open: None,
        }
    }

    /// No fragmented message is open.
    pub fn is_idle(&self) -> bool {
        self.open.is_none()
    }

    /// Takes the next frame of the connection.
    pub fn push(&mut self, frame: ClientFrame) -> Result<Event, Refusal> {
        match frame.kind {
            Kind::Ping => Ok(Event::Ping(frame.into_payload())),
            Kind::Pong => Ok(Event::Nothing),
            Kind::Close => close_status(frame.payload()).map(Event::Close),
            Kind::Binary => Err(refuse(1003, "binary messages are not accepted")),
            Kind::Text if self.open.is_some() => Err(refuse(
                1002,
                "a new message began before the last one ended",
            )),
            Kind::Continuation if self.open.is_none() => {
                Err(refuse(1002, "a continuation frame with no message open"))
            }
            Kind::Text | Kind::Continuation => {
                let fin = frame.fin;
                let text = match self.open.take() {
                    None => frame.into_payload(),
                    Some(mut text) => {
                        text.extend_from_slice(frame.payload());
                        text
                    }
                };
                if text.len() > self.max_message {
                    return Err(refuse(1009, "message too large"));
                }
                if !fin {
                    self.open = Some(text);
                    return Ok(Event::Nothing);
                }
                if std::str::from_utf8(&text).is_err() {
                    return Err(refuse(1007, "text message is not valid UTF-8"));
                }
                Ok(Event::Message(text))
            }
        }
    }
}

/// The status of a client's close frame payload.
fn close_status(payload: &[u8]) -> Result<Option<u16>, Refusal> {
    match payload {
        [] => Ok(None),
        [_] => Err(refuse(1002, "a close payload of one byte")),
        [hi, lo, reason @ ..] => {
            let code = u16::from_be_bytes([*hi, *lo]);
            if !CloseCode::from(code).is_allowed() {
                return Err(refuse(1002, "a close status a peer may not send"));
            }
            if std::str::from_utf8(reason).is_err() {
                return Err(refuse(1007, "close reason is not valid UTF-8"));
            }
            Ok(Some(code))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::websocket::frame::tests::client;

    fn frame(first: u8, payload: &[u8]) -> ClientFrame {
        ClientFrame::parse(client(first, payload, [9, 8, 7, 6])).unwrap()
    }

    #[test]
    fn fragments_with_a_ping_between() {
        let mut a = Assembler::new(100);
        assert_eq!(a.push(frame(0x01, "héllo ".as_bytes())), Ok(Event::Nothing));
        assert_eq!(a.push(frame(0x89, b"p")), Ok(Event::Ping(b"p".to_vec())));
        assert_eq!(a.push(frame(0x00, "wörld ".as_bytes())), Ok(Event::Nothing));
        assert_eq!(
            a.push(frame(0x80, "😀".as_bytes())),
            Ok(Event::Message("héllo wörld 😀".as_bytes().to_vec()))
        );
        // A multi-byte character split across fragments is fine.
        let smile = "😀".as_bytes();
        assert_eq!(a.push(frame(0x01, &smile[..2])), Ok(Event::Nothing));
        assert_eq!(
            a.push(frame(0x80, &smile[2..])),
            Ok(Event::Message(smile.to_vec()))
        );
        assert_eq!(a.push(frame(0x8A, b"")), Ok(Event::Nothing));
    }

    #[test]
    fn refusals() {
        let code = |a: &mut Assembler, f| a.push(f).unwrap_err().code;
        let mut a = Assembler::new(10);
        assert_eq!(code(&mut a, frame(0x82, b"bin")), 1003);
        assert_eq!(code(&mut a, frame(0x80, b"x")), 1002);
        assert_eq!(code(&mut a, frame(0x81, &[0xFF])), 1007);
        assert_eq!(code(&mut a, frame(0x81, &[b'a'; 11])), 1009);
        let mut a = Assembler::new(10);
        assert_eq!(a.push(frame(0x01, b"123456")), Ok(Event::Nothing));
        assert_eq!(code(&mut a, frame(0x80, b"78901")), 1009);
        let mut a = Assembler::new(10);
        assert_eq!(a.push(frame(0x01, b"1")), Ok(Event::Nothing));
        assert_eq!(code(&mut a, frame(0x81, b"2")), 1002);
    }

    #[test]
    fn close_frames() {
        let mut a = Assembler::new(10);
        assert_eq!(a.push(frame(0x88, b"")), Ok(Event::Close(None)));
        assert_eq!(
            a.push(frame(0x88, &[0x03, 0xE8, b'o', b'k'])),
            Ok(Event::Close(Some(1000)))
        );
        assert_eq!(a.push(frame(0x88, &[0x03])).unwrap_err().code, 1002);
        assert_eq!(a.push(frame(0x88, &[0x03, 0xED])).unwrap_err().code, 1002); // 1005
        assert_eq!(
            a.push(frame(0x88, &[0x03, 0xE8, 0xFF])).unwrap_err().code,
            1007
        );
        assert_eq!(
            a.push(frame(0x88, &[0x0F, 0xA0])),
            Ok(Event::Close(Some(4000)))
        );
    }
}
