//! The browser client, `web/static/`, compiled into the binaries that serve it (every
//! node's HTTP port and the gateway), so a server needs no files beside it.
//!
//! `build.rs` embeds every file under `static/`; [`asset`] answers a `GET` for one,
//! with `/` meaning `/index.html`. Pages learn where they run from `/app-config.json`,
//! which each server answers itself with [`app_config`]: a node (`"mode": "node"`: log in
//! over the WebSocket at `/ws`) or the gateway (`"mode": "gateway"`: register and log in
//! over HTTP, then connect to the assigned node).
//!
//! Every answer carries `Cache-Control: no-cache` (a browser revalidates, so an upgraded
//! server's files are seen at once), `X-Content-Type-Options: nosniff` and a Content
//! Security Policy that allows only this origin's scripts and styles, and WebSocket and
//! HTTP connections to any host (the gateway's page talks to the nodes).
//! May touch: nothing; it only reads the embedded table.

use reactor_http::{Request, Response};

/// One embedded file.
#[derive(Debug)]
pub struct Asset {
    /// Its URL path, e.g. `/index.html`, `/js/app.js`.
    pub path: &'static str,
    /// Its `Content-Type`.
    pub content_type: &'static str,
    /// Its bytes.
    pub body: &'static [u8],
}

/// Every file under `static/`, sorted by path.
pub static ASSETS: &[Asset] = include!(concat!(env!("OUT_DIR"), "/assets.rs"));

/// The Content Security Policy of every page and file.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
    img-src 'self' data:; font-src 'self' data:; connect-src 'self' ws: wss: http: https:; \
    object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

/// The embedded file at `path` (`/` is `/index.html`).
pub fn find(path: &str) -> Option<&'static Asset> {
    let path = if path == "/" { "/index.html" } else { path };
    ASSETS
        .binary_search_by(|a| a.path.cmp(path))
        .ok()
        .map(|i| &ASSETS[i])
}

/// Answers `req` with an embedded file: `None` when no file has its path; `405` for a
/// method other than `GET` and `HEAD`.
pub fn asset(req: &Request) -> Option<Response> {
    let found = find(&req.path)?;
    if req.method != "GET" && req.method != "HEAD" {
        return Some(method_not_allowed());
    }
    Some(headers(Response::text(
        200,
        found.content_type,
        found.body.to_vec(),
    )))
}

/// `/app-config.json` for a server of `mode` (`"node"` or `"gateway"`).
pub fn app_config(req: &Request, mode: &str) -> Response {
    if req.method != "GET" && req.method != "HEAD" {
        return method_not_allowed();
    }
    headers(Response::json(200, &serde_json::json!({ "mode": mode })))
}

fn method_not_allowed() -> Response {
    Response::error(
        405,
        "method_not_allowed",
        "this path answers GET (and HEAD) only",
    )
    .header("Allow", "GET, HEAD")
}

fn headers(r: Response) -> Response {
    r.header("Cache-Control", "no-cache")
        .header("X-Content-Type-Options", "nosniff")
        .header("Content-Security-Policy", CSP)
        .header("Referrer-Policy", "no-referrer")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(method: &str, path: &str) -> Request {
        let raw = format!("{method} {path} HTTP/1.1\r\nHost: x\r\n\r\n");
        Request::parse(raw.as_bytes(), "127.0.0.1:1".parse().unwrap()).unwrap()
    }

    #[test]
    fn serves_the_index_and_every_file() {
        assert!(ASSETS.windows(2).all(|w| w[0].path < w[1].path));
        let index = asset(&get("GET", "/")).expect("web/static/index.html is embedded");
        assert_eq!(index.status, 200);
        assert!(String::from_utf8_lossy(&index.body).contains("<html"));
        for a in ASSETS {
            let r = asset(&get("GET", a.path)).unwrap();
            assert_eq!((r.status, r.body.as_slice()), (200, a.body), "{}", a.path);
            assert!(r
                .headers
                .contains(&("Content-Type".into(), a.content_type.into())));
        }
        assert!(asset(&get("GET", "/nope.js")).is_none());
        assert!(asset(&get("GET", "/../Cargo.toml")).is_none());
        assert_eq!(asset(&get("POST", "/")).unwrap().status, 405);
        let config = app_config(&get("GET", "/app-config.json"), "node");
        assert_eq!(config.body, br#"{"mode":"node"}"#);
    }
}
