//! [`WsHandler`]: an HTTP port with a WebSocket endpoint whose messages go to another
//! [`Handler`], the application's own (the one it also runs on a plain TCP port).
//!
//! A connection starts as HTTP, served by an [`HttpHandler`] (deadlines, keep-alive,
//! errors). A request for [`WsConfig::path`] is a handshake (`handshake`): refused with
//! its HTTP status, or accepted: the HTTP deadline is cleared, the connection switches to
//! [`MODE_WEBSOCKET`], `101` goes out, and the application's `on_connect` runs. From then
//! on each whole text message is one call of the application's `on_frame`, and what it
//! sends leaves as text frames (the codec frames it). A message that arrives in one
//! frame is first offered to the application's `on_frame_inline` on the reactor thread
//! (`reactor::Handler::inline`); what it gives back goes to a worker as usual. The application's deadlines, input
//! limits and rate limits apply as on its own port: they are the engine's.
//!
//! Control frames are answered here: a ping with a pong, a close with the same status
//! (then the connection closes). A protocol violation sends a close frame with its status
//! (1002, 1003, 1007, 1009; see `message` and `frame`) and closes. When the engine
//! closes the connection for a deadline or a shutdown a close frame goes out first (1008
//! `timed out`, 1001 `server shutting down`). One the application closes through its
//! handle ends with a close frame 1000 after whatever it sent last (the chat's
//! `logged_out`, for instance): the codec's farewell, queued by the close itself. A
//! connection dropped for not reading its output ends without one (the peer sees 1006):
//! its output is over its bound and nothing more is queued.

use reactor::{CloseReason, ConnHandle, FrameError, Handler, Rejection};

use crate::handler::{request_line, HttpHandler, HttpSession};
use crate::request::Request;
use crate::response::Response;
use crate::service::Service;
use crate::websocket::codec::{MODE_HTTP, MODE_WEBSOCKET, MODE_WEBSOCKET_CLOSING};
use crate::websocket::config::WsConfig;
use crate::websocket::frame::{self, ClientFrame};
use crate::websocket::handshake;
use crate::websocket::message::{Assembler, Event, Refusal};

/// Serves HTTP with `S` and WebSocket messages with the application `H`. Use it with
/// [`crate::websocket::HttpWsCodec`] (see [`crate::websocket::serve`]).
pub struct WsHandler<S, H> {
    http: HttpHandler<S>,
    app: H,
    config: WsConfig,
}

impl<S: Service, H: Handler> WsHandler<S, H> {
    /// HTTP with `http`; the endpoint of `config`, its messages handled by `app`.
    pub fn new(http: HttpHandler<S>, app: H, config: WsConfig) -> Self {
        Self { http, app, config }
    }

    /// An HTTP request on a connection still speaking HTTP.
    fn on_request(&self, conn: &ConnHandle, session: &mut WsSession<H::Session>, frame: &[u8]) {
        let WsSession::Http(s) = session else {
            return;
        };
        if s.done {
            return;
        }
        let parsed = Request::parse(frame, conn.peer_addr());
        let req = match parsed {
            Ok(req) if req.path == self.config.path => req,
            other => return self.http.handle(conn, s, other),
        };
        match handshake::accept(&req, &self.config) {
            Err(refusal) => self.http.respond(conn, s, &req, refusal),
            Ok(switching) => {
                conn.clear_deadline();
                conn.set_mode(MODE_WEBSOCKET);
                if conn.send_raw(&switching).is_err() {
                    return;
                }
                *session = WsSession::Ws(Box::new(Upgraded {
                    app: self.app.on_connect(conn),
                    messages: Assembler::new(self.config.max_message),
                    closing: false,
                }));
            }
        }
    }

    /// One frame on an upgraded connection.
    fn on_ws_frame(&self, conn: &ConnHandle, ws: &mut Upgraded<H::Session>, frame: Vec<u8>) {
        if ws.closing {
            return;
        }
        match ws.take(frame) {
            Ok(Event::Message(text)) => self.app.on_frame(conn, &mut ws.app, text),
            Ok(Event::Ping(payload)) => {
                let _ = conn.send_raw(&frame::pong(&payload));
            }
            Ok(Event::Close(code)) => ws.close(conn, code.unwrap_or(1000), ""),
            Ok(Event::Nothing) => {}
            Err(refusal) => ws.close(conn, refusal.code, refusal.reason),
        }
    }
}

/// A connection of a [`WsHandler`].
pub enum WsSession<T> {
    /// Still HTTP.
    Http(HttpSession),
    /// Upgraded: the application's session and the message assembly.
    Ws(Box<Upgraded<T>>),
}

/// The state of an upgraded connection.
pub struct Upgraded<T> {
    app: T,
    messages: Assembler,
    /// A close frame has gone out: nothing more is read or sent.
    closing: bool,
}

impl<T> Upgraded<T> {
    /// Reads one client frame into the message being assembled.
    fn take(&mut self, frame: Vec<u8>) -> Result<Event, Refusal> {
        let frame = ClientFrame::parse(frame).map_err(|_| Refusal {
            code: 1002,
            reason: "malformed frame",
        })?;
        self.messages.push(frame)
    }

    /// Sends a close frame with `code` and `reason`, then closes the connection.
    fn close(&mut self, conn: &ConnHandle, code: u16, reason: &str) {
        self.send_close(conn, code, reason);
        conn.close();
    }

    /// Sends one close frame, unless one went out already (from here, or the engine's
    /// farewell when the application closed the connection: the mode says).
    fn send_close(&mut self, conn: &ConnHandle, code: u16, reason: &str) {
        self.closing = true;
        if conn.mode() == MODE_WEBSOCKET {
            // Sends encoded from now on are refused: nothing may follow a close frame.
            conn.set_mode(MODE_WEBSOCKET_CLOSING);
            let _ = conn.send_raw(&frame::close(code, reason));
        }
    }
}

/// The close status for a connection the engine ends (see the module docs).
fn close_status(reason: &CloseReason) -> (u16, &'static str) {
    match reason {
        CloseReason::Shutdown => (1001, "server shutting down"),
        CloseReason::DeadlineExpired => (1008, "timed out"),
        _ => (1000, ""),
    }
}

impl<S: Service, H: Handler> Handler for WsHandler<S, H> {
    type Session = WsSession<H::Session>;

    fn on_connect(&self, conn: &ConnHandle) -> Self::Session {
        WsSession::Http(self.http.on_connect(conn))
    }

    fn on_frame(&self, conn: &ConnHandle, session: &mut Self::Session, frame: Vec<u8>) {
        match session {
            WsSession::Ws(ws) => self.on_ws_frame(conn, ws, frame),
            WsSession::Http(_) => self.on_request(conn, session, &frame),
        }
    }

    fn inline(&self, conn: &ConnHandle, frame: &[u8]) -> bool {
        if conn.mode() != MODE_HTTP {
            // A whole text message: the application decides in `on_frame_inline`.
            return frame::is_whole_text(frame);
        }
        request_line(frame).is_some_and(|(_, path)| path != self.config.path)
            && self.http.inline(conn, frame)
    }

    /// An HTTP request the service answers inline; or a whole text message, offered to
    /// the application's `on_frame_inline` (given back as a frame if it declines).
    fn on_frame_inline(
        &self,
        conn: &ConnHandle,
        session: &mut Self::Session,
        frame: Vec<u8>,
    ) -> Result<(), Vec<u8>> {
        let WsSession::Ws(ws) = session else {
            self.on_frame(conn, session, frame);
            return Ok(());
        };
        if ws.closing || !ws.messages.is_idle() {
            return Err(frame);
        }
        match ws.take(frame) {
            Ok(Event::Message(text)) => self
                .app
                .on_frame_inline(conn, &mut ws.app, text)
                .map_err(|text| frame::client_text(&text)),
            Err(refusal) => {
                ws.close(conn, refusal.code, refusal.reason);
                Ok(())
            }
            // A whole text frame is a message or a refusal.
            Ok(_) => Ok(()),
        }
    }

    fn on_frame_error(&self, conn: &ConnHandle, session: &mut Self::Session, error: &FrameError) {
        match session {
            WsSession::Http(s) => self.http.on_frame_error(conn, s, error),
            // The engine closes the connection after this.
            WsSession::Ws(ws) => match error {
                FrameError::TooLarge { .. } => ws.send_close(conn, 1009, "message too large"),
                FrameError::Malformed(m) if m == frame::UNMASKED => {
                    ws.send_close(conn, 1002, frame::UNMASKED)
                }
                _ => ws.send_close(conn, 1002, "malformed frame"),
            },
        }
    }

    fn on_close(&self, conn: &ConnHandle, session: Self::Session, reason: &CloseReason) {
        match session {
            WsSession::Http(s) => self.http.on_close(conn, s, reason),
            WsSession::Ws(mut ws) => {
                let (code, why) = close_status(reason);
                ws.send_close(conn, code, why);
                self.app.on_close(conn, ws.app, reason);
            }
        }
    }

    fn on_rejected(&self, conn: &ConnHandle, why: Rejection) {
        let busy = Response::error(503, "server_full", &format!("{why}; try again later"));
        let _ = conn.send_raw(&busy.closing().to_bytes());
    }
}
