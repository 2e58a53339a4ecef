//! WebSocket (RFC 6455) on an HTTP port: an endpoint whose text messages are handed to
//! an application's reactor [`reactor::Handler`], the same one it may run on a TCP port
//! with a length-prefixed framing.
//!
//! ```text
//!  socket ──► HttpWsCodec: HTTP requests (mode 0) | whole client frames (mode 1)
//!         ──► WsHandler: HTTP → HttpHandler + Service;  GET path + Upgrade → 101, mode 1
//!                        frames → Assembler → text message → application Handler::on_frame
//!  socket ◄── application's ConnHandle::send ── codec: one text frame per send
//! ```
//!
//! One idea per file:
//! * [`config`]: [`WsConfig`] and the [`Origins`] allow-list.
//! * `handshake`: which upgrade requests are accepted, and the `101`.
//! * [`codec`]: [`HttpWsCodec`], the per-connection switch from HTTP to frames.
//! * [`frame`]: where a client frame ends, unmasking, the frames a server writes
//!   (tungstenite's header parser and writer).
//! * [`message`]: reassembly of fragments and the checks on whole frames.
//! * [`handler`]: [`WsHandler`], the reactor handler tying them together.
//!
//! Not done: permessage-deflate and other extensions (never negotiated), subprotocols,
//! pings from the server (the application's own heartbeat and deadline do that job).

pub mod codec;
pub mod config;
pub mod frame;
pub mod handler;
mod handshake;
pub mod message;

pub use codec::{HttpWsCodec, MODE_HTTP, MODE_WEBSOCKET, MODE_WEBSOCKET_CLOSING};
pub use config::{Origins, WsConfig};
pub use handler::{WsHandler, WsSession};

use reactor::Handler;

use crate::codec::HttpCodec;
use crate::handler::HttpHandler;
use crate::limits::Limits;
use crate::service::Service;

/// Starts an HTTP server (as [`crate::serve`]) whose `ws.path` is a WebSocket endpoint
/// handing text messages to `app`.
pub fn serve<S: Service, H: Handler>(
    builder: reactor::Builder,
    limits: Limits,
    service: S,
    ws: WsConfig,
    app: H,
) -> Result<reactor::Server, reactor::Error> {
    builder
        .codec(HttpWsCodec::new(HttpCodec::new(&limits), ws.max_message))
        .start(WsHandler::new(HttpHandler::new(service, limits), app, ws))
}
