//! The chat server's [`reactor::Handler`]: the data path from a frame to a response.
//!
//! ```text
//! frame ─► Request::parse ─► rate limit ─► cmd::dispatch ─► store / writer
//!                                              │
//!                          response ◄─ ReplyQueue (in request order) ◄─┘
//! ```
//! Runs on the reactor's worker threads; every store call here may block.

use std::sync::Arc;

use reactor::{CloseReason, ConnHandle, FrameError, Handler, Rejection};

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
                let frame = response::error("error", bad.seq, &bad.error);
                session.replies.send(frame);
                return;
            }
        };
        let outcome = if let Err(wait) = session.limiter.allow() {
            Err(
                ChatError::new(ErrorCode::RateLimited, "too many requests; slow down")
                    .retry_after(wait),
            )
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
        let frame = match outcome {
            Ok(Reply::Later) => return,
            Ok(Reply::Now(result)) => response::ok(&req.op, req.seq, result),
            Err(e) => response::error(&req.op, req.seq, &e),
        };
        // Lists are cut to fit and echoes are short, so this is a bug if it happens; the
        // request still gets its one response.
        let frame = if frame.len() > self.app.settings.max_frame {
            log::error!(
                "a `{}` response of {} bytes does not fit in a frame",
                req.op,
                frame.len()
            );
            let e = ChatError::new(ErrorCode::Internal, "the response did not fit in a frame");
            response::error(&req.op, req.seq, &e)
        } else {
            frame
        };
        session.replies.send(frame);
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

    fn on_rejected(&self, conn: &ConnHandle, why: Rejection) {
        conn.send(&response::frame_error(
            ErrorCode::ServerFull,
            &format!("{why}; try again later"),
        ));
    }
}
