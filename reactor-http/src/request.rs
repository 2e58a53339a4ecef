//! [`Request`]: one HTTP/1.x request as the service sees it, parsed from a frame the
//! codec cut (or refused with a [`RequestError`]).

use std::net::SocketAddr;

use crate::framing::{self, MAX_HEADERS};
use crate::request_error::RequestError;

/// One request. Header names keep the client's spelling; look them up with
/// [`Request::header`], which ignores case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The method, as sent (`GET`, `POST`, ...; case-sensitive).
    pub method: String,
    /// The request target up to the first `?` (`/api/v1/login`), not percent-decoded.
    pub path: String,
    /// What follows the first `?` in the target, if there is one (possibly empty).
    pub query: Option<String>,
    /// The minor version: 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub version: u8,
    /// Every header line in order, names as sent, values as bytes (spaces around trimmed).
    pub headers: Vec<(String, Vec<u8>)>,
    /// The body: exactly `Content-Length` bytes, empty without one.
    pub body: Vec<u8>,
    /// The client's address.
    pub peer: SocketAddr,
    /// Whether the client asked to keep the connection open: HTTP/1.1 unless it sent
    /// `Connection: close`; HTTP/1.0 only if it sent `Connection: keep-alive`.
    pub keep_alive: bool,
}

impl Request {
    /// Parses one frame (a head, then the body its `Content-Length` gives) with httparse.
    pub fn parse(frame: &[u8], peer: SocketAddr) -> Result<Self, RequestError> {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut req = httparse::Request::new(&mut headers);
        let Some(head) = framing::parse_head(&mut req, frame)? else {
            return Err(RequestError::Malformed("incomplete request head".into()));
        };
        let expected = framing::body_length(req.headers)?;
        let body = &frame[head..];
        if u64::try_from(body.len()).ok() != Some(expected) {
            return Err(RequestError::BodyLength {
                expected,
                got: body.len(),
            });
        }
        let (Some(method), Some(target), Some(version)) = (req.method, req.path, req.version)
        else {
            return Err(RequestError::Malformed("incomplete request line".into()));
        };
        let (path, query) = match target.split_once('?') {
            Some((path, query)) => (path, Some(query.to_owned())),
            None => (target, None),
        };
        let mut close = false;
        let mut keep = false;
        for h in req.headers.iter() {
            if h.name.eq_ignore_ascii_case("connection") {
                for token in h.value.split(|&b| b == b',').map(|t| t.trim_ascii()) {
                    close |= token.eq_ignore_ascii_case(b"close");
                    keep |= token.eq_ignore_ascii_case(b"keep-alive");
                }
            }
        }
        Ok(Self {
            method: method.to_owned(),
            path: path.to_owned(),
            query,
            version,
            headers: req
                .headers
                .iter()
                .map(|h| (h.name.to_owned(), h.value.trim_ascii().to_vec()))
                .collect(),
            body: body.to_vec(),
            peer,
            keep_alive: !close && (version >= 1 || keep),
        })
    }

    /// The first header named `name` (any case), if its value is UTF-8.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.header_bytes(name)
            .and_then(|v| std::str::from_utf8(v).ok())
    }

    /// The first header named `name` (any case), as bytes.
    pub fn header_bytes(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer() -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], 4000))
    }

    fn parse(s: &str) -> Result<Request, RequestError> {
        Request::parse(s.as_bytes(), peer())
    }

    #[test]
    fn parses_every_part() {
        let r = parse("POST /api/v1/login?x=1&y HTTP/1.1\r\nHost: a\r\ncontent-LENGTH: 5\r\nX-Odd:  v v \r\n\r\nhello")
            .unwrap();
        assert_eq!(r.method, "POST");
        assert_eq!(r.path, "/api/v1/login");
        assert_eq!(r.query.as_deref(), Some("x=1&y"));
        assert_eq!(r.version, 1);
        assert_eq!(r.body, b"hello");
        assert_eq!(r.peer, peer());
        assert!(r.keep_alive);
        assert_eq!(r.header("content-length"), Some("5"));
        assert_eq!(r.header("x-odd"), Some("v v"));
        assert_eq!(r.header("missing"), None);
        assert_eq!(r.headers.len(), 3);
        let r = parse("GET /? HTTP/1.1\r\n\r\n").unwrap();
        assert_eq!((r.path.as_str(), r.query.as_deref()), ("/", Some("")));
        let r = Request::parse(b"GET / HTTP/1.1\r\nX: \xff\r\n\r\n", peer()).unwrap();
        assert_eq!(r.header("x"), None);
        assert_eq!(r.header_bytes("X"), Some(&b"\xff"[..]));
    }

    #[test]
    fn keep_alive_rules() {
        let ka = |s: &str| parse(s).unwrap().keep_alive;
        assert!(ka("GET / HTTP/1.1\r\n\r\n"));
        assert!(!ka("GET / HTTP/1.1\r\nConnection: close\r\n\r\n"));
        assert!(!ka("GET / HTTP/1.1\r\nConnection: Upgrade, CLOSE\r\n\r\n"));
        assert!(!ka("GET / HTTP/1.0\r\n\r\n"));
        assert!(ka("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"));
        assert!(!ka(
            "GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n"
        ));
    }

    #[test]
    fn errors_carry_their_status() {
        let status = |s: &str| parse(s).map(|_| 200).unwrap_or_else(|e| e.status());
        assert_eq!(status("GET / HTTP/1.1\r\n"), 400);
        assert_eq!(status("GET / HTTP/2.0\r\n\r\n"), 400);
        assert_eq!(status("GET / HTTP/1.1\r\nContent-Length: 3\r\n\r\nab"), 400);
        assert_eq!(
            status("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"),
            411
        );
        assert_eq!(
            status("POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n"),
            501
        );
        assert_eq!(
            status("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 0\r\n\r\n"),
            400
        );
        let e = RequestError::LengthRequired.response();
        assert_eq!((e.status, e.close), (411, true));
        assert_eq!(
            String::from_utf8(e.body).unwrap(),
            r#"{"ok":false,"error":{"code":"length_required","message":"chunked bodies are not accepted; send a Content-Length"}}"#
        );
    }
}
