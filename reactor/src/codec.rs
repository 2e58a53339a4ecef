//! Framing: how a byte stream is cut into frames, and how a frame is written back.
//!
//! The sub-reactors call [`Codec::decode`] on every byte they read and [`Codec::encode`]
//! runs on whichever thread sends. A codec is stateless and shared by every connection of
//! a server. [`LengthPrefixed`] is the framing of the chat wire contract.
//!
//! A connection may change framing once it is open (HTTP upgraded to WebSocket): each
//! connection has a *mode*, 0 when it opens, set by the application with
//! [`crate::ConnHandle::set_mode`]. The engine calls [`Codec::decode_in`] and
//! [`Codec::encode_in`] with it; a codec with one framing leaves them to their defaults,
//! which ignore the mode.

use std::ops::Range;

/// Why a byte stream could not be cut into frames. The connection is closed after the
/// application has had the chance to answer it (see [`crate::Handler::on_frame_error`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The header announced a frame of zero bytes.
    #[error("zero-length frame")]
    Empty,
    /// The header announced (or the sender offered) a frame above the limit.
    #[error("frame of {len} bytes exceeds the limit of {max} bytes")]
    TooLarge {
        /// The announced length.
        len: usize,
        /// The configured limit.
        max: usize,
    },
    /// Any other violation of the framing a codec defines.
    #[error("malformed frame: {0}")]
    Malformed(String),
}

/// One frame found at the front of a buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    /// Where the frame's body lies in the buffer handed to `decode`.
    pub body: Range<usize>,
    /// How many bytes of the buffer the frame used, header and trailer included.
    pub consumed: usize,
}

/// A framing scheme. Implementations must be cheap and must never panic on any input.
pub trait Codec: Send + Sync + 'static {
    /// Looks for one complete frame at the front of `buf`: `Ok(None)` when more bytes are
    /// needed, an error when the bytes can never become a valid frame.
    fn decode(&self, buf: &[u8]) -> Result<Option<Decoded>, FrameError>;

    /// Appends `body`, framed, to `out`. On error `out` is left as it was.
    fn encode(&self, body: &[u8], out: &mut Vec<u8>) -> Result<(), FrameError>;

    /// [`Codec::decode`] for a connection in framing `mode`. The default ignores the
    /// mode; a codec with several framings overrides this (mode 0 must be `decode`).
    fn decode_in(&self, mode: u8, buf: &[u8]) -> Result<Option<Decoded>, FrameError> {
        let _ = mode;
        self.decode(buf)
    }

    /// [`Codec::encode`] for a connection in framing `mode`; the default ignores it.
    fn encode_in(&self, mode: u8, body: &[u8], out: &mut Vec<u8>) -> Result<(), FrameError> {
        let _ = mode;
        self.encode(body, out)
    }

    /// Appends to `out` the bytes a connection in framing `mode` ends with when the
    /// application closes it ([`crate::ConnHandle::close`]): written once, after
    /// everything sent before the close (a WebSocket close frame, for instance). At most
    /// a few bytes; the output's high-water mark does not apply to them. The default
    /// appends nothing.
    fn farewell_in(&self, mode: u8, out: &mut Vec<u8>) {
        let _ = (mode, out);
    }
}

/// The wire contract's framing: a 4-byte big-endian length `N`, then `N` bytes of body,
/// with `1 <= N <= max_frame` in both directions.
#[derive(Debug, Clone, Copy)]
pub struct LengthPrefixed {
    max_frame: usize,
}

/// Bytes in a [`LengthPrefixed`] header.
pub const LENGTH_PREFIX_LEN: usize = 4;

impl LengthPrefixed {
    /// A codec accepting bodies of `1..=max_frame` bytes (`max_frame` is capped at `u32::MAX`).
    pub fn new(max_frame: usize) -> Self {
        Self {
            max_frame: max_frame.clamp(1, u32::MAX as usize),
        }
    }

    /// The largest body this codec accepts.
    pub fn max_frame(&self) -> usize {
        self.max_frame
    }

    fn check(&self, len: usize) -> Result<(), FrameError> {
        if len == 0 {
            Err(FrameError::Empty)
        } else if len > self.max_frame {
            Err(FrameError::TooLarge {
                len,
                max: self.max_frame,
            })
        } else {
            Ok(())
        }
    }
}

impl Default for LengthPrefixed {
    /// The wire contract's default limit, 65,536 bytes.
    fn default() -> Self {
        Self::new(65_536)
    }
}

impl Codec for LengthPrefixed {
    fn decode(&self, buf: &[u8]) -> Result<Option<Decoded>, FrameError> {
        let Some(header) = buf.first_chunk::<LENGTH_PREFIX_LEN>() else {
            return Ok(None);
        };
        let len = u32::from_be_bytes(*header) as usize;
        self.check(len)?;
        let end = LENGTH_PREFIX_LEN + len;
        if buf.len() < end {
            return Ok(None);
        }
        Ok(Some(Decoded {
            body: LENGTH_PREFIX_LEN..end,
            consumed: end,
        }))
    }

    fn encode(&self, body: &[u8], out: &mut Vec<u8>) -> Result<(), FrameError> {
        self.check(body.len())?;
        out.reserve(LENGTH_PREFIX_LEN + body.len());
        // `check` bounds the length by `max_frame`, itself capped at u32::MAX.
        out.extend_from_slice(&(body.len() as u32).to_be_bytes());
        out.extend_from_slice(body);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_only_complete_frames() {
        let c = LengthPrefixed::new(16);
        assert_eq!(c.decode(&[0, 0, 0]), Ok(None));
        assert_eq!(c.decode(&[0, 0, 0, 2, b'a']), Ok(None));
        let d = c.decode(&[0, 0, 0, 2, b'a', b'b', 9]).unwrap().unwrap();
        assert_eq!(d.body, 4..6);
        assert_eq!(d.consumed, 6);
    }

    #[test]
    fn rejects_zero_and_oversize_lengths() {
        let c = LengthPrefixed::new(16);
        assert_eq!(c.decode(&[0, 0, 0, 0]), Err(FrameError::Empty));
        assert_eq!(
            c.decode(&[0, 0, 0, 17]),
            Err(FrameError::TooLarge { len: 17, max: 16 })
        );
        let mut out = vec![7];
        assert!(c.encode(&[0; 17], &mut out).is_err());
        assert!(c.encode(&[], &mut out).is_err());
        assert_eq!(out, vec![7]);
    }

    #[test]
    fn encode_round_trips() {
        let c = LengthPrefixed::new(16);
        let mut out = Vec::new();
        c.encode(b"hello", &mut out).unwrap();
        assert_eq!(out, b"\0\0\0\x05hello");
        let d = c.decode(&out).unwrap().unwrap();
        assert_eq!(&out[d.body], b"hello");
    }
}
