//! The chat server's [`reactor::Handler`]: the data path from a frame to a response.
//!
//! ```text
//! frame ─► Request::parse ─► rate limit ─► cmd::dispatch ─► store / writer
//!                                              │
//!                          response ◄─ ReplyQueue (in request order) ◄─┘
//! ```
//! Runs on the reactor's worker threads; every store call here may block.

use std::sync::Arc;

use reactor::{CloseReason, ConnHandle, FrameError, Handler};

use crate::app::App;
use crate::cmd::{self, Ctx, Reply};
use crate::presence;
use crate::protocol::{response, ChatError, ErrorCode, Request};
use crate::rate_limit::RateLimiter;
use crate::session::Session;

/// The chat application as the engine sees it.
pub struct ChatHandler {
    app: Arc<App>,
}

impl ChatHandler {
    /// Wraps the application.
    pub fn new(app: Arc<App>) -> Self {
        Self { app }
    }
}

impl Handler for ChatHandler {
    type Session = Session;

    fn on_connect(&self, conn: &ConnHandle) -> Session {
        let s = &self.app.settings;
        conn.set_deadline(s.login_timeout);
        Session::new(
            conn,
            RateLimiter::new(s.rate_limit_per_sec, s.rate_limit_burst),
        )
    }

    fn on_frame(&self, conn: &ConnHandle, session: &mut Session, frame: Vec<u8>) {
        if session.identity.is_some() {
            conn.set_deadline(self.app.settings.idle_timeout);
        }
        let req = match Request::parse(&frame) {
            Ok(req) => req,
            Err(bad) => {
                let frame = response::error("error", bad.seq.as_ref(), &bad.error);
                session.replies.send(frame);
                return;
            }
        };
        let outcome = if !session.limiter.allow() {
            Err(ChatError::new(
                ErrorCode::RateLimited,
                "too many requests; slow down",
            ))
        } else {
            req.check_seq().and_then(|()| {
                cmd::dispatch(&mut Ctx {
                    app: &self.app,
                    conn,
                    session,
                    req: &req,
                })
            })
        };
        match outcome {
            Ok(Reply::Now(result)) => {
                session
                    .replies
                    .send(response::ok(&req.op, req.seq.as_ref(), result))
            }
            Ok(Reply::Later) => {}
            Err(e) => session
                .replies
                .send(response::error(&req.op, req.seq.as_ref(), &e)),
        }
    }

    fn on_frame_error(&self, conn: &ConnHandle, _session: &mut Session, error: &FrameError) {
        let code = match error {
            FrameError::TooLarge { .. } => ErrorCode::FrameTooLarge,
            FrameError::Empty | FrameError::Malformed(_) => ErrorCode::BadFrame,
        };
        // The connection closes after this; it is not a response to a request, so it
        // does not wait behind unanswered ones.
        conn.send(&response::frame_error(code, &format!("{error}; closing")));
    }

    fn on_close(&self, conn: &ConnHandle, session: Session, reason: &CloseReason) {
        log::debug!(
            "connection {} ({}) closed: {reason}",
            conn.id(),
            conn.peer_addr()
        );
        if let Some(identity) = session.identity {
            presence::went_away(&self.app, conn, &identity);
        }
    }

    fn on_rejected(&self, conn: &ConnHandle) {
        conn.send(&response::frame_error(
            ErrorCode::ServerFull,
            "the server is at its connection limit; try again later",
        ));
    }
}
