//! [`HttpWsCodec`]: an HTTP port whose connections may become WebSocket connections.
//!
//! A connection opens in [`MODE_HTTP`] and is cut into requests by [`HttpCodec`]. When
//! the handler accepts an upgrade it switches the connection to [`MODE_WEBSOCKET`]
//! (`ConnHandle::set_mode`) before it answers `101`; from then on input is cut into
//! whole client frames (`frame::decode`) and every frame the application sends with
//! `ConnHandle::send` leaves as one text frame. Once a close frame has gone out the
//! connection is in [`MODE_WEBSOCKET_CLOSING`]: frames are still read, none is sent. When
//! the application closes an upgraded connection, a close frame (1000) ends it. Bytes a client sends after its upgrade
//! request but before it has read the `101` are still read as HTTP (RFC 6455 forbids
//! sending them), and end the connection.

use reactor::{Codec, Decoded, FrameError};

use crate::codec::HttpCodec;
use crate::websocket::frame;

/// The mode of a connection speaking HTTP (every connection's first).
pub const MODE_HTTP: u8 = 0;
/// The mode of a connection upgraded to WebSocket.
pub const MODE_WEBSOCKET: u8 = 1;
/// The mode of a WebSocket connection whose close frame has gone out: the peer's frames
/// are still read (its close reply), nothing more is sent (RFC 6455 5.5.1).
pub const MODE_WEBSOCKET_CLOSING: u8 = 2;

/// HTTP/1.1 requests, then (after an upgrade) WebSocket frames.
#[derive(Debug, Clone, Copy)]
pub struct HttpWsCodec {
    http: HttpCodec,
    max_message: usize,
}

impl HttpWsCodec {
    /// HTTP with `http`'s limits; WebSocket frames of at most `max_message` payload bytes.
    pub fn new(http: HttpCodec, max_message: usize) -> Self {
        Self { http, max_message }
    }
}

impl Codec for HttpWsCodec {
    fn decode(&self, buf: &[u8]) -> Result<Option<Decoded>, FrameError> {
        self.http.decode(buf)
    }

    fn encode(&self, body: &[u8], out: &mut Vec<u8>) -> Result<(), FrameError> {
        self.http.encode(body, out)
    }

    fn decode_in(&self, mode: u8, buf: &[u8]) -> Result<Option<Decoded>, FrameError> {
        match mode {
            MODE_WEBSOCKET | MODE_WEBSOCKET_CLOSING => frame::decode(buf, self.max_message),
            _ => self.http.decode(buf),
        }
    }

    fn encode_in(&self, mode: u8, body: &[u8], out: &mut Vec<u8>) -> Result<(), FrameError> {
        match mode {
            MODE_WEBSOCKET if body.len() > self.max_message => Err(FrameError::TooLarge {
                len: body.len(),
                max: self.max_message,
            }),
            MODE_WEBSOCKET => {
                frame::write_text(body, out);
                Ok(())
            }
            MODE_WEBSOCKET_CLOSING => Err(FrameError::Malformed(
                "the connection's close frame has been sent".to_string(),
            )),
            _ => self.http.encode(body, out),
        }
    }

    /// An upgraded connection the application closes ends with a close frame, status
    /// 1000, after what it sent last (the chat's `logged_out`, say).
    fn farewell_in(&self, mode: u8, out: &mut Vec<u8>) {
        if mode == MODE_WEBSOCKET {
            out.extend_from_slice(&frame::close(1000, ""));
        }
    }
}
