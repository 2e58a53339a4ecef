//! [`RequestError`]: why a frame is not a request we serve, with the status and code to
//! answer it and the closing response. Found by the framing rules (`framing`) and by the
//! request parser (`request`). May touch: nothing; plain values.

use crate::response::Response;

/// Why a request is refused. Every variant is answered with [`RequestError::status`] and
/// [`RequestError::code`], and the connection is closed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// The head does not parse (`400 bad_request`).
    #[error("malformed request: {0}")]
    Malformed(String),
    /// More header lines than the parser takes (`431 too_large`).
    #[error("request head too large")]
    HeadTooLarge,
    /// Both `Transfer-Encoding` and `Content-Length` (`400 bad_request`).
    #[error("Transfer-Encoding and Content-Length together")]
    TransferEncodingWithLength,
    /// Two `Content-Length` headers that differ (`400 bad_request`).
    #[error("Content-Length headers that differ")]
    ConflictingLength,
    /// A `Content-Length` that is not a decimal number (`400 bad_request`).
    #[error("invalid Content-Length")]
    InvalidLength,
    /// A chunked body: bodies are taken by `Content-Length` only (`411 length_required`).
    #[error("chunked bodies are not accepted; send a Content-Length")]
    LengthRequired,
    /// A transfer coding other than `chunked` last (`501 not_implemented`).
    #[error("unsupported Transfer-Encoding")]
    UnsupportedTransferEncoding,
    /// The frame's body is not `Content-Length` bytes long (`400 bad_request`). Only a
    /// frame not cut by [`crate::HttpCodec`] can be like that.
    #[error("body of {got} bytes where Content-Length says {expected}")]
    BodyLength {
        /// The declared length.
        expected: u64,
        /// The bytes after the head.
        got: usize,
    },
}

impl RequestError {
    /// The HTTP status that answers it.
    pub fn status(&self) -> u16 {
        match self {
            Self::HeadTooLarge => 431,
            Self::LengthRequired => 411,
            Self::UnsupportedTransferEncoding => 501,
            Self::Malformed(_)
            | Self::TransferEncodingWithLength
            | Self::ConflictingLength
            | Self::InvalidLength
            | Self::BodyLength { .. } => 400,
        }
    }

    /// The contract's error code for it.
    pub fn code(&self) -> &'static str {
        match self.status() {
            431 => "too_large",
            411 => "length_required",
            501 => "not_implemented",
            _ => "bad_request",
        }
    }

    /// The closing error response that answers it.
    pub fn response(&self) -> Response {
        Response::error(self.status(), self.code(), &self.to_string()).closing()
    }
}
