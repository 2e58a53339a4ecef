//! The chat server's [`reactor::Handler`]: the data path from a frame to a response.
//!
//! ```text
//! frame ─► Envelope::parse ─► rate limit ─► seq ─► Op ─► logged in? ─► Request::parse
//!        ─► cmd::dispatch ─► store / writer ─► response (in request order, ReplyQueue)
//! ```
//! Every request gets exactly one response. Every request is counted by op, and every
//! error answered here by code, in the metrics (one atomic add each). Runs on the
//! reactor's worker threads, where every store call may block; a logged-in session's
//! `ping` and `send_message` to a cached friend, which never block, run on the reactor
//! thread that read them (`on_frame_inline`).

use std::collections::HashSet;
use std::sync::Arc;

use proto::answer::{error_frame, frame_error_frame, not_a_request_frame, ok_frame};
use proto::{Envelope, NotARequest, Op, Request};
use reactor::{CloseReason, ConnHandle, FrameError, Handler, Rejection};

use crate::app::App;
use crate::cmd::{self, unauthenticated, Ctx, Reply};
use crate::model::UserId;
use crate::presence;
use crate::protocol::{ChatError, ErrorCode};
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

    /// One frame, read as a request or refused, to its one response: the session's
    /// deadline moves, the request is counted, run, and answered in order.
    fn handle(
        &self,
        conn: &ConnHandle,
        session: &mut Session,
        parsed: Result<Envelope, NotARequest>,
        friends: Option<Arc<HashSet<UserId>>>,
    ) {
        if session.identity.is_some() {
            conn.set_deadline(self.app.settings.idle_timeout);
        }
        let metrics = &self.app.metrics;
        let env = match parsed {
            Ok(env) => env,
            Err(bad) => {
                metrics.request(None);
                metrics.request_error(bad.error.code);
                session
                    .replies
                    .send(not_a_request_frame(bad.seq, &bad.error));
                return;
            }
        };
        let op = Op::from_name(&env.op);
        metrics.request(op);
        let frame = match self.run(conn, session, &env, op, friends) {
            Ok(Reply::Later) => return,
            Ok(Reply::Now(answer)) => ok_frame(&env.op, env.seq, &answer),
            Err(e) => {
                metrics.request_error(e.code);
                error_frame(&env.op, env.seq, &e)
            }
        };
        // Lists are cut to fit and echoes are short, so this is a bug if it happens; the
        // request still gets its one response.
        let frame = if frame.len() > self.app.settings.max_frame {
            log::error!(
                "a `{}` response of {} bytes does not fit in a frame",
                env.op,
                frame.len()
            );
            let e = ChatError::new(ErrorCode::Internal, "the response did not fit in a frame");
            metrics.request_error(e.code);
            error_frame(&env.op, env.seq, &e)
        } else {
            frame
        };
        session.replies.send(frame);
    }

    /// Everything between a readable request and its command: the checks every request
    /// shares, in the contract's order, then the typed parse and the command.
    /// `op` is `env.op` looked up (`None`: no such operation).
    fn run(
        &self,
        conn: &ConnHandle,
        session: &mut Session,
        env: &Envelope,
        op: Option<Op>,
        friends: Option<Arc<HashSet<UserId>>>,
    ) -> cmd::CmdResult {
        if let Err(wait) = session.limiter.allow() {
            return Err(
                ChatError::new(ErrorCode::RateLimited, "too many requests; slow down")
                    .retry_after(wait),
            );
        }
        env.check_seq()?;
        let op = op.ok_or_else(|| unknown_type(&env.op))?;
        if !op.is_public() && session.identity.is_none() {
            return Err(unauthenticated());
        }
        let request = Request::parse(op, &env.fields)?;
        cmd::dispatch(
            &mut Ctx {
                app: &self.app,
                conn,
                session,
                seq: env.seq,
                friends,
            },
            request,
        )
    }
}

fn unknown_type(op: &str) -> ChatError {
    let shown = proto::answer::type_echo(op);
    let cut = if shown.len() < op.len() { "…" } else { "" };
    ChatError::new(
        ErrorCode::UnknownType,
        format!("unknown type `{shown}{cut}`"),
    )
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
        self.handle(conn, session, Envelope::parse(&frame), None);
    }

    /// Every frame may be: the session decides (`on_frame_inline`).
    fn inline(&self, _conn: &ConnHandle, _frame: &[u8]) -> bool {
        true
    }

    /// A logged-in session's `ping`, and its `send_message` to a friend whose friendship
    /// is cached, never block (the message goes to the writer's queue): they run on the
    /// reactor thread, saving the hand-off to a worker. Everything else, including every
    /// frame that is not a readable request, goes to a worker.
    fn on_frame_inline(
        &self,
        conn: &ConnHandle,
        session: &mut Session,
        frame: Vec<u8>,
    ) -> Result<(), Vec<u8>> {
        let Some(me) = session.identity.as_ref().map(|i| i.user.user_id) else {
            return Err(frame);
        };
        let Ok(env) = Envelope::parse(&frame) else {
            return Err(frame);
        };
        let friends = match Op::from_name(&env.op) {
            Some(Op::Ping) => None,
            Some(Op::SendMessage) => match (env.fields.id("to"), self.app.friends.cached(me)) {
                (Ok(to), Some(list)) if list.contains(&to) => Some(list),
                _ => return Err(frame),
            },
            _ => return Err(frame),
        };
        self.handle(conn, session, Ok(env), friends);
        Ok(())
    }

    fn on_frame_error(&self, conn: &ConnHandle, _session: &mut Session, error: &FrameError) {
        let code = match error {
            FrameError::TooLarge { .. } => ErrorCode::FrameTooLarge,
            FrameError::Empty | FrameError::Malformed(_) => ErrorCode::BadFrame,
        };
        self.app.metrics.request_error(code);
        // The connection closes after this; it is not a response to a request, so it
        // does not wait behind unanswered ones.
        conn.send(&frame_error_frame(code, &format!("{error}; closing")));
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
        self.app.metrics.request_error(ErrorCode::ServerFull);
        conn.send(&frame_error_frame(
            ErrorCode::ServerFull,
            &format!("{why}; try again later"),
        ));
    }
}
