//! Where a request's head ends and how long its body is: the one set of rules the codec
//! cuts the byte stream by and the request parser checks again, so the two never disagree.
//!
//! * The head is what `httparse` parses as a complete request head, and it must end with
//!   CRLF CRLF (so it ends at the first CRLF CRLF; a head that `httparse` ends at a bare
//!   LF is malformed). Empty lines before the request line are skipped, as RFC 9112
//!   allows. At most [`MAX_HEADERS`] header lines.
//! * The body is `Content-Length` bytes (1*DIGIT; repeated headers must agree), or none.
//!   `Transfer-Encoding` is refused: with a `Content-Length` too it is `400`, with a final
//!   coding `chunked` it is `411` (send a length instead), with any other coding `501`.

use crate::request_error::RequestError;

/// Header lines a request may have; one more is answered like an over-long head (`431`).
pub const MAX_HEADERS: usize = 64;

/// Parses the head at the front of `buf` into `req`: `Ok(Some(len))` with the head's
/// length (up to and including its CRLF CRLF), `Ok(None)` when more bytes are needed.
/// An error found in a prefix of a stream stays an error whatever follows, and a complete
/// head is decided by its own bytes: the codec may call this on any cut of the stream.
pub(crate) fn parse_head<'h, 'b>(
    req: &mut httparse::Request<'h, 'b>,
    buf: &'b [u8],
) -> Result<Option<usize>, RequestError> {
    match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) if buf[..n].ends_with(b"\r\n\r\n") => Ok(Some(n)),
        Ok(httparse::Status::Complete(_)) => Err(RequestError::Malformed(
            "the request head must end with CRLF CRLF".into(),
        )),
        Ok(httparse::Status::Partial) => Ok(None),
        Err(httparse::Error::TooManyHeaders) => Err(RequestError::HeadTooLarge),
        Err(e) => Err(RequestError::Malformed(e.to_string())),
    }
}

/// The body length the head's headers give (0 without `Content-Length`), or why the
/// request cannot be framed. A length too big for `u64` saturates (and is then too large
/// for any limit).
pub(crate) fn body_length(headers: &[httparse::Header<'_>]) -> Result<u64, RequestError> {
    let mut length: Option<u64> = None;
    let mut length_error = None;
    let mut last_coding: Option<&[u8]> = None;
    let mut transfer_encoding = false;
    for h in headers {
        if h.name.eq_ignore_ascii_case("content-length") {
            match (parse_length(h.value), length) {
                (None, _) => {
                    length_error.get_or_insert(RequestError::InvalidLength);
                }
                (Some(n), Some(m)) if n != m => {
                    length_error.get_or_insert(RequestError::ConflictingLength);
                }
                (Some(n), _) => length = Some(n),
            }
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            transfer_encoding = true;
            for coding in h.value.split(|&b| b == b',').map(trim) {
                if !coding.is_empty() {
                    last_coding = Some(coding);
                }
            }
        }
    }
    if transfer_encoding {
        let has_length = length.is_some() || length_error.is_some();
        return Err(if has_length {
            RequestError::TransferEncodingWithLength
        } else if last_coding.is_some_and(|c| c.eq_ignore_ascii_case(b"chunked")) {
            RequestError::LengthRequired
        } else {
            RequestError::UnsupportedTransferEncoding
        });
    }
    match length_error {
        Some(e) => Err(e),
        None => Ok(length.unwrap_or(0)),
    }
}

/// `1*DIGIT`, surrounding spaces and tabs allowed; saturates at `u64::MAX`.
fn parse_length(value: &[u8]) -> Option<u64> {
    let digits = trim(value);
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(digits.iter().fold(0u64, |n, d| {
        n.saturating_mul(10).saturating_add(u64::from(d - b'0'))
    }))
}

fn trim(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h<'a>(name: &'a str, value: &'a str) -> httparse::Header<'a> {
        httparse::Header {
            name,
            value: value.as_bytes(),
        }
    }

    #[test]
    fn content_length_rules() {
        assert_eq!(body_length(&[]), Ok(0));
        assert_eq!(body_length(&[h("Content-Length", " 12 ")]), Ok(12));
        assert_eq!(
            body_length(&[h("content-length", "3"), h("CONTENT-LENGTH", "3")]),
            Ok(3)
        );
        assert_eq!(
            body_length(&[h("Content-Length", "3"), h("Content-Length", "4")]),
            Err(RequestError::ConflictingLength)
        );
        for bad in ["", "+3", "-1", "3, 3", "0x10", "1 2"] {
            assert_eq!(
                body_length(&[h("Content-Length", bad)]),
                Err(RequestError::InvalidLength),
                "{bad:?}"
            );
        }
        assert_eq!(
            body_length(&[h("Content-Length", "99999999999999999999999")]),
            Ok(u64::MAX)
        );
    }

    #[test]
    fn transfer_encoding_is_refused() {
        let te = |v| body_length(&[h("Transfer-Encoding", v)]);
        assert_eq!(te("chunked"), Err(RequestError::LengthRequired));
        assert_eq!(te("gzip, Chunked"), Err(RequestError::LengthRequired));
        assert_eq!(te("gzip"), Err(RequestError::UnsupportedTransferEncoding));
        assert_eq!(
            te("chunked, gzip"),
            Err(RequestError::UnsupportedTransferEncoding)
        );
        assert_eq!(te(""), Err(RequestError::UnsupportedTransferEncoding));
        for cl in ["5", "x"] {
            assert_eq!(
                body_length(&[h("Content-Length", cl), h("Transfer-Encoding", "chunked")]),
                Err(RequestError::TransferEncodingWithLength)
            );
        }
    }

    #[test]
    fn head_must_end_with_crlf_crlf() {
        fn parse(buf: &[u8]) -> Result<Option<usize>, u16> {
            let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
            let mut req = httparse::Request::new(&mut headers);
            parse_head(&mut req, buf).map_err(|e| e.status())
        }
        assert_eq!(parse(b"GET / HTTP/1.1\r\n\r\nX"), Ok(Some(18)));
        assert_eq!(parse(b"\r\nGET / HTTP/1.1\r\n\r\n"), Ok(Some(20)));
        assert_eq!(parse(b"GET / HTTP/1.1\r\n"), Ok(None));
        assert_eq!(parse(b"GET / HTTP/1.1\n\n"), Err(400));
        assert_eq!(parse(b"GET / HTTP/1.1\r\nA: b\n\r\n"), Err(400));
        assert_eq!(parse(b"GET\r\n"), Err(400));
        let many = format!(
            "GET / HTTP/1.1\r\n{}\r\n",
            "A: b\r\n".repeat(MAX_HEADERS + 1)
        );
        assert_eq!(parse(many.as_bytes()), Err(431));
    }
}
