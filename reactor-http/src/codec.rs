//! [`HttpCodec`]: cuts a connection's byte stream into requests for the reactor.
//!
//! Stateless, like every [`Codec`]: each call looks at the front of the buffer afresh.
//! A frame is one whole request, head and body: the head as `httparse` parses it
//! (ending with CRLF CRLF, see `framing`), then `Content-Length` bytes. The handler
//! parses the frame again into a [`crate::Request`].
//!
//! | bytes at the front | `decode` gives |
//! | --- | --- |
//! | a head not yet complete, under `max_head` bytes | `Ok(None)` |
//! | no complete head within `max_head` bytes, or over [`crate::MAX_HEADERS`] headers | `Malformed(HEAD_TOO_LARGE)` (431) |
//! | a head `httparse` refuses, or ended by a bare LF | `Malformed(reason)` (400) |
//! | a head whose `Content-Length` is over `max_body` | `TooLarge` (413) |
//! | a head with `Transfer-Encoding` or bad `Content-Length`s | the head alone: the handler answers 400/411/501 and closes |
//! | a head and its whole body | the request |
//!
//! Errors are found as soon as the bytes show them (a bad method's first byte, a body
//! length as soon as the head is in), and a prefix of a stream never gives an error that
//! the whole stream would not: how the bytes were cut into reads changes nothing.

use reactor::{Codec, Decoded, FrameError};

use crate::framing::{self, MAX_HEADERS};
use crate::limits::Limits;
use crate::request_error::RequestError;

/// The message of the [`FrameError::Malformed`] for a request head over the limit, in
/// bytes or in header lines; the handler answers it with `431`.
pub const HEAD_TOO_LARGE: &str = "request head too large";

/// HTTP/1.1 request framing. Responses are written whole by the handler, so `encode`
/// appends its bytes as they are.
#[derive(Debug, Clone, Copy)]
pub struct HttpCodec {
    max_head: usize,
    max_body: usize,
}

impl HttpCodec {
    /// A codec with the size limits of `limits` (`max_head` at least 1).
    pub fn new(limits: &Limits) -> Self {
        Self {
            max_head: limits.max_head.max(1),
            max_body: limits.max_body,
        }
    }

    /// Bytes a request head may take.
    pub fn max_head(&self) -> usize {
        self.max_head
    }

    /// Bytes a request body may take.
    pub fn max_body(&self) -> usize {
        self.max_body
    }
}

impl Default for HttpCodec {
    /// The default [`Limits`]: 8 KiB of head, 64 KiB of body.
    fn default() -> Self {
        Self::new(&Limits::default())
    }
}

impl Codec for HttpCodec {
    fn decode(&self, buf: &[u8]) -> Result<Option<Decoded>, FrameError> {
        let window = &buf[..buf.len().min(self.max_head)];
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut req = httparse::Request::new(&mut headers);
        let head = match framing::parse_head(&mut req, window) {
            Ok(Some(head)) => head,
            Ok(None) if buf.len() >= self.max_head => return Err(head_too_large()),
            Ok(None) => return Ok(None),
            Err(RequestError::HeadTooLarge) => return Err(head_too_large()),
            Err(e) => return Err(FrameError::Malformed(e.to_string())),
        };
        // A head whose body cannot be framed is cut alone: the handler answers it and
        // closes, so what follows it is never read as a request.
        let body = framing::body_length(req.headers).unwrap_or(0);
        let body = match usize::try_from(body) {
            Ok(n) if n <= self.max_body => n,
            _ => {
                return Err(FrameError::TooLarge {
                    len: usize::try_from(body).unwrap_or(usize::MAX),
                    max: self.max_body,
                })
            }
        };
        let end = head.saturating_add(body);
        if buf.len() < end {
            return Ok(None);
        }
        Ok(Some(Decoded {
            body: 0..end,
            consumed: end,
        }))
    }

    fn encode(&self, body: &[u8], out: &mut Vec<u8>) -> Result<(), FrameError> {
        out.extend_from_slice(body);
        Ok(())
    }
}

fn head_too_large() -> FrameError {
    FrameError::Malformed(HEAD_TOO_LARGE.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codec(max_head: usize, max_body: usize) -> HttpCodec {
        HttpCodec::new(&Limits {
            max_head,
            max_body,
            ..Limits::default()
        })
    }

    fn whole(len: usize) -> Result<Option<Decoded>, FrameError> {
        Ok(Some(Decoded {
            body: 0..len,
            consumed: len,
        }))
    }

    #[test]
    fn every_split_point_waits_until_complete() {
        let c = HttpCodec::default();
        let req = b"POST /echo?x=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello";
        for cut in 0..req.len() {
            assert_eq!(c.decode(&req[..cut]), Ok(None), "cut at {cut}");
        }
        assert_eq!(c.decode(req), whole(req.len()));
        let get = b"GET /healthz HTTP/1.1\r\n\r\n";
        for cut in 0..get.len() {
            assert_eq!(c.decode(&get[..cut]), Ok(None), "cut at {cut}");
        }
        assert_eq!(c.decode(get), whole(get.len()));
    }

    #[test]
    fn cuts_one_request_at_a_time() {
        let c = HttpCodec::default();
        let a = b"POST / HTTP/1.1\r\nContent-Length: 2\r\n\r\nab".to_vec();
        let b = b"GET / HTTP/1.1\r\n\r\n".to_vec();
        let stream = [a.clone(), b.clone(), b"GE".to_vec()].concat();
        assert_eq!(c.decode(&stream), whole(a.len()));
        assert_eq!(c.decode(&stream[a.len()..]), whole(b.len()));
        assert_eq!(c.decode(&stream[a.len() + b.len()..]), Ok(None));
        let mut out = vec![1];
        c.encode(b"HTTP/1.1 200 OK\r\n\r\n", &mut out).unwrap();
        assert_eq!(out, b"\x01HTTP/1.1 200 OK\r\n\r\n");
    }

    #[test]
    fn head_limit() {
        let c = codec(32, 100);
        let head = b"GET /0123456789 HTTP/1.1\r\nA: b\r\n\r\n"; // 34 bytes
        assert_eq!(c.decode(&head[..31]), Ok(None));
        assert_eq!(c.decode(&head[..32]), Err(head_too_large()));
        assert_eq!(c.decode(head), Err(head_too_large()));
        assert_eq!(codec(34, 100).decode(head), whole(34));
        let many = format!("GET / HTTP/1.1\r\n{}", "A: b\r\n".repeat(MAX_HEADERS + 1));
        assert_eq!(c.max_head(), 32);
        assert_eq!(
            HttpCodec::default().decode(many.as_bytes()),
            Err(head_too_large())
        );
    }

    #[test]
    fn body_limit_is_checked_once_the_head_is_in() {
        let c = codec(1024, 10);
        assert_eq!(
            c.decode(b"POST / HTTP/1.1\r\nContent-Length: 11\r\n\r\n"),
            Err(FrameError::TooLarge { len: 11, max: 10 })
        );
        let huge = b"POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n";
        assert!(matches!(c.decode(huge), Err(FrameError::TooLarge { .. })));
        let at = b"POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\n0123456789";
        assert_eq!(c.decode(at), whole(at.len()));
    }

    #[test]
    fn bad_framing_cuts_the_head_alone() {
        let c = HttpCodec::default();
        for head in [
            "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
            "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
            "POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n",
            "POST / HTTP/1.1\r\nContent-Length: -3\r\n\r\n",
        ] {
            let stream = format!("{head}5\r\nhello\r\n0\r\n\r\n");
            assert_eq!(c.decode(stream.as_bytes()), whole(head.len()), "{head:?}");
        }
    }

    #[test]
    fn malformed_heads_fail_as_soon_as_seen() {
        let c = HttpCodec::default();
        for bad in [
            &b"\x00"[..],
            b"GET\r\n",
            b"GET / HTTP/1.1\n\n",
            b"GET / HTTP/3.0\r\n",
            b"\r\r",
        ] {
            assert!(
                matches!(c.decode(bad), Err(FrameError::Malformed(m)) if m != HEAD_TOO_LARGE),
                "{bad:?}"
            );
        }
        assert_eq!(c.decode(b""), Ok(None));
        assert_eq!(c.decode(b"\r\n\r\n"), Ok(None)); // empty lines before a request
    }
}
