//! HTTP/1.1 served on the [`reactor`] engine: for the HTTP gateway (`startgate`) and a
//! chat node's `--http-port`.
//!
//! ```text
//!  socket ──► sub-reactor: HttpCodec cuts whole requests ──► worker: HttpHandler
//!                                                              Request::parse
//!                                                              Service::call ──► Response
//!  socket ◄── ConnHandle::send (one write per response) ◄──────────────────────┘
//! ```
//!
//! Start a server with [`serve`]:
//!
//! ```no_run
//! use reactor_http::{serve, Limits, Request, Response};
//!
//! let builder = reactor::Server::builder().bind("127.0.0.1:8080".parse().unwrap());
//! let server = serve(builder, Limits::default(), |req: &Request| match req.path.as_str() {
//!     "/healthz" => Response::json(200, &serde_json::json!({"ok": true})),
//!     _ => Response::error(404, "not_found", "no such path"),
//! })
//! .unwrap();
//! server.join();
//! ```
//!
//! # Layout
//!
//! One idea per file:
//! * [`limits`]: [`Limits`]: head and body sizes, header and keep-alive timeouts.
//! * `framing`: where a head ends and how long its body is (httparse, `Content-Length`
//!   only, `Transfer-Encoding` refused); the rules the codec and the parser share.
//! * [`codec`]: [`HttpCodec`], the [`reactor::Codec`] that cuts the byte stream into
//!   whole requests, and the frame errors it reports.
//! * [`request`]: [`Request`], parsed from a frame; [`request_error`]:
//!   [`RequestError`], why a frame is refused, with the status that answers it.
//! * [`response`]: [`Response`] and how it is written (status line, `Content-Length`,
//!   `Connection: close`), including the contract's error shape.
//! * [`service`]: [`Service`], the trait the application implements.
//! * [`handler`]: [`HttpHandler`], the [`reactor::Handler`]: deadlines, keep-alive,
//!   pipelining in order, error answers, closing.
//! * [`websocket`]: a WebSocket endpoint on the same port, its messages handed to an
//!   application's own [`reactor::Handler`] ([`websocket::serve`]).
//!
//! # What is served
//!
//! HTTP/1.0 and 1.1, keep-alive and pipelining (answered in order). Bodies by
//! `Content-Length` only: `Transfer-Encoding` is `411` when the last coding is `chunked`,
//! `501` for any other coding, `400` with a `Content-Length` as well; two different
//! `Content-Length`s are `400`. A head over [`Limits::max_head`] (or over
//! [`MAX_HEADERS`] lines) is `431`, a body over [`Limits::max_body`] `413`, any other
//! malformed request `400`; each of these closes the connection. A client that has not
//! sent its first request within [`Limits::header_timeout`] gets `408` and is closed; a
//! keep-alive connection idle for [`Limits::idle_timeout`] is closed. Every error body is
//! `{"ok":false,"error":{"code":"...","message":"..."}}`. Not done: chunked bodies,
//! `Expect: 100-continue` (a client waiting for `100` sends its body after a timeout),
//! upgrades other than to WebSocket, a required `Host`. Requests are not counted here: the reactor's
//! [`reactor::Counters`] count connections and bytes.
//!
//! Outside these limits the reactor's own apply: a response larger than the builder's
//! `high_water` (default 4 MiB) closes the connection, and a body larger than its
//! `conn_input_limit` (default 256 KiB) is read more slowly.

#![deny(missing_docs)]

pub mod codec;
mod framing;
pub mod handler;
pub mod limits;
pub mod request;
pub mod request_error;
pub mod response;
pub mod service;
pub mod websocket;

pub use codec::{HttpCodec, HEAD_TOO_LARGE};
pub use framing::MAX_HEADERS;
pub use handler::{HttpHandler, HttpSession};
pub use limits::Limits;
pub use request::Request;
pub use request_error::RequestError;
pub use response::{reason, Response};
pub use service::Service;

/// Starts an HTTP server: `builder` (address, threads, reactor limits) with the
/// [`HttpCodec`] of `limits` and an [`HttpHandler`] calling `service`.
pub fn serve<S: Service>(
    builder: reactor::Builder,
    limits: Limits,
    service: S,
) -> Result<reactor::Server, reactor::Error> {
    builder
        .codec(HttpCodec::new(&limits))
        .start(HttpHandler::new(service, limits))
}
