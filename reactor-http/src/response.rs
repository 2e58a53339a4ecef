//! [`Response`]: what a service answers, and how it is written on the wire.
//!
//! A response is built whole and written in one piece: status line with its reason
//! phrase, the application's headers, `Content-Length`, `Connection: close` when the
//! connection closes after it, a blank line, the body. No `Date` header.

use serde::Serialize;

/// One response. Build it with a constructor, add headers with [`Response::header`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The status code; one outside 100..=999 is written as 500.
    pub status: u16,
    /// Header lines to write, in order. The writer owns `Content-Length`,
    /// `Transfer-Encoding` and `Connection`: such entries here are not written. CR and LF
    /// in names or values are written as spaces.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
    /// Close the connection once this response is written.
    pub close: bool,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    ok: bool,
    error: ErrorDetail<'a>,
}

#[derive(Serialize)]
struct ErrorDetail<'a> {
    code: &'a str,
    message: &'a str,
}

impl Response {
    /// A response with no headers and no body.
    pub fn new(status: u16) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: Vec::new(),
            close: false,
        }
    }

    /// `value` as JSON (`Content-Type: application/json`). A value serde_json cannot
    /// write (a map with non-string keys, say) gives a `500 internal` error instead.
    pub fn json<T: Serialize + ?Sized>(status: u16, value: &T) -> Self {
        match serde_json::to_vec(value) {
            Ok(body) => Self::text(status, "application/json", body),
            Err(e) => Self::error(500, "internal", &format!("cannot write the response: {e}")),
        }
    }

    /// `body` with the given `Content-Type`.
    pub fn text(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Self {
        Self {
            body: body.into(),
            ..Self::new(status)
        }
        .header("Content-Type", content_type)
    }

    /// The contract's error shape:
    /// `{"ok":false,"error":{"code":CODE,"message":MESSAGE}}`.
    pub fn error(status: u16, code: &str, message: &str) -> Self {
        let body = ErrorBody {
            ok: false,
            error: ErrorDetail { code, message },
        };
        // Two strings cannot fail to serialise; keep a body anyway.
        let body = serde_json::to_vec(&body).unwrap_or_else(|_| {
            br#"{"ok":false,"error":{"code":"internal","message":""}}"#.to_vec()
        });
        Self::text(status, "application/json", body)
    }

    /// Adds a header line.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Marks the response as the connection's last.
    pub fn closing(mut self) -> Self {
        self.close = true;
        self
    }

    /// The response as written to an HTTP/1.1 client for a request other than `HEAD`.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.encode(false, 1)
    }

    /// Writes the response. `head_only`: the request was `HEAD` (headers, no body).
    /// `version` is the request's minor version: an HTTP/1.0 client kept alive is told
    /// `Connection: keep-alive`.
    pub(crate) fn encode(&self, head_only: bool, version: u8) -> Vec<u8> {
        let status = if (100..=999).contains(&self.status) {
            self.status
        } else {
            500
        };
        // 1xx and 204 have no body and no Content-Length (RFC 9110, 8.6).
        let bodiless = status < 200 || status == 204;
        let mut out = Vec::with_capacity(128 + self.body.len());
        out.extend_from_slice(format!("HTTP/1.1 {status} {}\r\n", reason(status)).as_bytes());
        for (name, value) in &self.headers {
            let owned = ["content-length", "transfer-encoding", "connection"]
                .iter()
                .any(|n| name.eq_ignore_ascii_case(n));
            if !owned {
                put_clean(&mut out, name);
                out.extend_from_slice(b": ");
                put_clean(&mut out, value);
                out.extend_from_slice(b"\r\n");
            }
        }
        if !bodiless {
            out.extend_from_slice(format!("Content-Length: {}\r\n", self.body.len()).as_bytes());
        }
        if self.close {
            out.extend_from_slice(b"Connection: close\r\n");
        } else if version == 0 {
            out.extend_from_slice(b"Connection: keep-alive\r\n");
        }
        out.extend_from_slice(b"\r\n");
        if !bodiless && !head_only {
            out.extend_from_slice(&self.body);
        }
        out
    }
}

/// `s` with CR and LF replaced by spaces: no header can split the head.
fn put_clean(out: &mut Vec<u8>, s: &str) {
    out.extend(
        s.bytes()
            .map(|b| if b == b'\r' || b == b'\n' { b' ' } else { b }),
    );
}

/// The reason phrase of `status` (empty for codes it does not know, which is valid).
pub fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        101 => "Switching Protocols",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        413 => "Content Too Large",
        415 => "Unsupported Media Type",
        422 => "Unprocessable Content",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(r: &Response, head_only: bool, version: u8) -> String {
        String::from_utf8(r.encode(head_only, version)).unwrap()
    }

    #[test]
    fn writes_status_headers_length_and_body() {
        let r = Response::json(200, &serde_json::json!({"ok": true})).header("Retry-After", "3");
        assert_eq!(
            text(&r, false, 1),
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nRetry-After: 3\r\n\
             Content-Length: 11\r\n\r\n{\"ok\":true}"
        );
        assert_eq!(r.to_bytes(), r.encode(false, 1));
        assert_eq!(
            text(&r.clone().closing(), true, 1),
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nRetry-After: 3\r\n\
             Content-Length: 11\r\nConnection: close\r\n\r\n"
        );
        assert!(text(&r, false, 0).contains("\r\nConnection: keep-alive\r\n"));
    }

    #[test]
    fn error_shape() {
        let r = Response::error(429, "rate_limited", "slow \"down\"");
        assert_eq!(r.status, 429);
        assert_eq!(
            String::from_utf8(r.body.clone()).unwrap(),
            r#"{"ok":false,"error":{"code":"rate_limited","message":"slow \"down\""}}"#
        );
        assert!(text(&r, false, 1).starts_with("HTTP/1.1 429 Too Many Requests\r\n"));
    }

    #[test]
    fn owned_headers_and_line_breaks_cannot_be_injected() {
        let r = Response::text(204, "text/plain", "x")
            .header("Content-Length", "99")
            .header("Connection", "keep-alive")
            .header("X-A", "1\r\nSet-Cookie: evil");
        assert_eq!(
            text(&r, false, 1),
            "HTTP/1.1 204 No Content\r\nContent-Type: text/plain\r\nX-A: 1  Set-Cookie: evil\r\n\r\n"
        );
        assert!(
            text(&Response::new(7), false, 1).starts_with("HTTP/1.1 500 Internal Server Error\r\n")
        );
        assert!(text(&Response::new(599), false, 1).starts_with("HTTP/1.1 599 \r\n"));
        let bad = std::collections::HashMap::from([((1, 2), 3)]);
        assert_eq!(Response::json(200, &bad).status, 500);
    }
}
