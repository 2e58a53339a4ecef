//! The opening handshake (RFC 6455, 4.2): whether an HTTP request to the endpoint may
//! upgrade, and the `101 Switching Protocols` that accepts it.
//!
//! | request | answer |
//! | --- | --- |
//! | not `GET`, or HTTP/1.0 | `405` / `400` |
//! | no `Upgrade: websocket` or no `upgrade` in `Connection` | `426 upgrade_required` (with `Upgrade: websocket`) |
//! | `Sec-WebSocket-Version` other than 13 | `426 upgrade_required` (with `Sec-WebSocket-Version: 13`) |
//! | a `Sec-WebSocket-Key` that is not 16 bytes in base64 | `400 bad_request` |
//! | an `Origin` the allow-list refuses | `403 forbidden` |
//! | otherwise | `101`, with `Sec-WebSocket-Accept`; no extension and no subprotocol |
//!
//! Every refusal closes the connection.

use tungstenite::handshake::derive_accept_key;

use crate::request::Request;
use crate::response::Response;
use crate::websocket::config::WsConfig;

/// Checks `req` against `config`: the `101` to send, or the refusal.
pub fn accept(req: &Request, config: &WsConfig) -> Result<Vec<u8>, Response> {
    let refuse =
        |status, code, message: &str| Err(Response::error(status, code, message).closing());
    if req.method != "GET" {
        return refuse(405, "method_not_allowed", "a WebSocket handshake is a GET")
            .map_err(|r: Response| r.header("Allow", "GET"));
    }
    if req.version < 1 {
        return refuse(400, "bad_request", "a WebSocket handshake needs HTTP/1.1");
    }
    let upgrade = req
        .header("upgrade")
        .is_some_and(|v| has_token(v, "websocket"));
    let connection = req
        .header("connection")
        .is_some_and(|v| has_token(v, "upgrade"));
    if !upgrade || !connection {
        return refuse(
            426,
            "upgrade_required",
            "this path speaks WebSocket: send Upgrade: websocket and Connection: Upgrade",
        )
        .map_err(|r: Response| r.header("Upgrade", "websocket"));
    }
    if req.header("sec-websocket-version") != Some("13") {
        return refuse(
            426,
            "upgrade_required",
            "only WebSocket version 13 is spoken",
        )
        .map_err(|r: Response| r.header("Sec-WebSocket-Version", "13"));
    }
    let Some(key) = req.header("sec-websocket-key").filter(|k| is_key(k)) else {
        return refuse(
            400,
            "bad_request",
            "Sec-WebSocket-Key must be 16 bytes in base64",
        );
    };
    if !config
        .origins
        .allows(req.header("origin"), req.header("host"))
    {
        return refuse(
            403,
            "forbidden",
            "pages of this origin may not connect here",
        );
    }
    Ok(format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {}\r\n\r\n",
        derive_accept_key(key.as_bytes())
    )
    .into_bytes())
}

/// Whether the comma-separated header value `value` lists `token` (any case).
fn has_token(value: &str, token: &str) -> bool {
    value
        .split(',')
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

/// Whether `key` is the base64 of 16 bytes: 22 digits, the last with its low 4 bits
/// zero, then `==`.
fn is_key(key: &str) -> bool {
    const DIGITS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let b = key.as_bytes();
    b.len() == 24
        && b.ends_with(b"==")
        && b[..22].iter().all(|c| DIGITS.contains(c))
        && DIGITS
            .iter()
            .position(|&d| d == b[21])
            .is_some_and(|v| v & 0x0F == 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::websocket::config::Origins;

    fn config() -> WsConfig {
        WsConfig {
            path: "/ws".into(),
            max_message: 1000,
            origins: Origins::SameHost,
        }
    }

    fn req(head: &str) -> Request {
        let raw = format!("{head}\r\n\r\n");
        Request::parse(raw.as_bytes(), "127.0.0.1:1".parse().unwrap()).unwrap()
    }

    const GOOD: &str =
        "GET /ws HTTP/1.1\r\nHost: server.example.com:8181\r\nUpgrade: websocket\r\n\
        Connection: keep-alive, Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
        Sec-WebSocket-Version: 13";

    #[test]
    fn accepts_the_rfc_example() {
        let answer = String::from_utf8(accept(&req(GOOD), &config()).unwrap()).unwrap();
        assert!(answer.starts_with("HTTP/1.1 101 Switching Protocols\r\n"));
        assert!(answer.contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"));
        assert!(answer.ends_with("\r\n\r\n"));
        let same_host = format!("{GOOD}\r\nOrigin: http://server.example.com:8080");
        assert!(accept(&req(&same_host), &config()).is_ok());
    }

    #[test]
    fn refusals() {
        let cases = [
            (GOOD.replace("GET", "POST"), 405),
            (GOOD.replace("HTTP/1.1", "HTTP/1.0"), 400),
            (GOOD.replace("Upgrade: websocket", "Upgrade: h2c"), 426),
            (GOOD.replace("keep-alive, Upgrade", "keep-alive"), 426),
            (GOOD.replace("Version: 13", "Version: 8"), 426),
            (GOOD.replace("dGhlIHNhbXBsZSBub25jZQ==", "short=="), 400),
            (
                GOOD.replace("dGhlIHNhbXBsZSBub25jZQ==", "dGhlIHNhbXBsZSBub25jZR=="),
                400,
            ),
            (format!("{GOOD}\r\nOrigin: http://evil.example"), 403),
        ];
        for (head, status) in cases {
            let r = accept(&req(&head), &config()).unwrap_err();
            assert_eq!(r.status, status, "{head}");
            assert!(r.close, "{head}");
        }
    }
}
