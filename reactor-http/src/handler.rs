//! [`HttpHandler`]: the reactor [`Handler`] that serves HTTP/1.1 with a [`Service`].
//!
//! One connection's life:
//! * **Connect**: the header deadline is set ([`Limits::header_timeout`]): the first
//!   request must be complete by then.
//! * **Each request** (a frame the codec cut): the deadline moves to the idle deadline
//!   ([`Limits::idle_timeout`] from now: the service has that long, the client's header
//!   deadline no longer applies), the frame is parsed; a [`RequestError`] is answered
//!   with its status and the connection closes; otherwise the service is called and its
//!   response sent. Then the connection closes if the request or the response says so,
//!   else the idle deadline is set again, from the answer. Moving a deadline later costs
//!   the reactor nothing; clearing it and setting it again cost a wake-up of the
//!   reactor per request (measured: `GET /healthz` 0.70–0.75× of nginx before, see
//!   `benches/gateway.sh`). Pipelined requests are
//!   answered in order: the reactor runs one connection's callbacks one at a time.
//! * **Framing error**: `413 too_large` for a body over the limit, `431 too_large` for
//!   a head over the limit, `400 bad_request` for anything else; the reactor then closes.
//! * **Deadline**: if no request has been answered on the connection yet (the client is
//!   slow to send its first one), `408 request_timeout` is sent from `on_close` and the
//!   connection closes; a keep-alive connection idle past its deadline closes without a
//!   word (a client may be about to reuse it, and would read a stray 408 as its answer).
//!   A keep-alive client's next head therefore has `idle_timeout`, not `header_timeout`,
//!   to arrive: the codec keeps no state, so a started head cannot be told from silence.
//!
//! After a closing response nothing more is answered. A service that panics is caught by
//! the reactor, which closes the connection (without an answer).

use reactor::{CloseReason, ConnHandle, FrameError, Handler};

use crate::codec::HEAD_TOO_LARGE;
use crate::limits::Limits;
use crate::request::Request;
use crate::request_error::RequestError;
use crate::response::Response;
use crate::service::Service;

/// Serves HTTP/1.1 on a reactor connection with the service `S`. Use it with
/// [`crate::HttpCodec`] (see [`crate::serve`]).
pub struct HttpHandler<S> {
    service: S,
    limits: Limits,
}

impl<S: Service> HttpHandler<S> {
    /// A handler calling `service`, with the deadlines of `limits`.
    pub fn new(service: S, limits: Limits) -> Self {
        Self { service, limits }
    }

    /// The service it calls.
    pub fn service(&self) -> &S {
        &self.service
    }

    /// Sends `response` (to a `HEAD` request if `head`; `version` is the request's minor
    /// version), then closes the connection or sets the idle deadline.
    fn answer(
        &self,
        conn: &ConnHandle,
        s: &mut HttpSession,
        response: Response,
        head: bool,
        version: u8,
    ) {
        s.answered = true;
        let sent = conn.send(&response.encode(head, version));
        if response.close || !sent {
            s.done = true;
            conn.close();
        } else {
            conn.set_deadline(self.limits.idle_timeout);
        }
    }
}

impl<S: Service> HttpHandler<S> {
    /// Answers one parsed request (or its refusal) with the service: what `on_frame`
    /// does once it has moved the deadline and parsed the frame.
    pub(crate) fn handle(
        &self,
        conn: &ConnHandle,
        s: &mut HttpSession,
        parsed: Result<Request, RequestError>,
    ) {
        match parsed {
            Ok(req) => {
                let response = self.service.call(&req);
                self.respond(conn, s, &req, response);
            }
            Err(e) => self.answer(conn, s, e.response(), false, 1),
        }
    }

    /// Sends `response` to `req`, closing after it if either asks to.
    pub(crate) fn respond(
        &self,
        conn: &ConnHandle,
        s: &mut HttpSession,
        req: &Request,
        mut response: Response,
    ) {
        response.close |= !req.keep_alive;
        self.answer(conn, s, response, req.method == "HEAD", req.version);
    }
}

/// The state of one HTTP connection.
#[derive(Debug, Default)]
pub struct HttpSession {
    /// A response has been sent: deadlines from now on are idle deadlines.
    answered: bool,
    /// A closing response has been sent: nothing more is answered.
    pub(crate) done: bool,
}

impl<S: Service> Handler for HttpHandler<S> {
    type Session = HttpSession;

    fn on_connect(&self, conn: &ConnHandle) -> HttpSession {
        conn.set_deadline(self.limits.header_timeout);
        HttpSession::default()
    }

    fn on_frame(&self, conn: &ConnHandle, s: &mut HttpSession, frame: Vec<u8>) {
        if s.done {
            return;
        }
        conn.set_deadline(self.limits.idle_timeout);
        let parsed = Request::parse(&frame, conn.peer_addr());
        self.handle(conn, s, parsed);
    }

    fn inline(&self, _conn: &ConnHandle, frame: &[u8]) -> bool {
        request_line(frame).is_some_and(|(method, path)| self.service.inline(method, path))
    }

    fn on_frame_error(&self, conn: &ConnHandle, s: &mut HttpSession, error: &FrameError) {
        if s.done {
            return;
        }
        let response = match error {
            FrameError::TooLarge { len, max } => Response::error(
                413,
                "too_large",
                &format!("a body of {len} bytes is over the limit of {max} bytes"),
            ),
            FrameError::Malformed(m) if m == HEAD_TOO_LARGE => {
                let e = RequestError::HeadTooLarge;
                let message = format!(
                    "the request line and headers are over the limit of {} bytes or {} lines",
                    self.limits.max_head,
                    crate::MAX_HEADERS
                );
                Response::error(e.status(), e.code(), &message)
            }
            FrameError::Malformed(m) => Response::error(400, "bad_request", m),
            FrameError::Empty => Response::error(400, "bad_request", "empty request"),
        };
        // The reactor closes the connection once this is flushed.
        s.done = true;
        conn.send(&response.closing().to_bytes());
    }

    fn on_close(&self, conn: &ConnHandle, s: HttpSession, reason: &CloseReason) {
        if *reason == CloseReason::DeadlineExpired && !s.answered && !s.done {
            let response = Response::error(
                408,
                "request_timeout",
                "the request was not complete in time",
            );
            conn.send(&response.closing().to_bytes());
        }
    }
}

/// The method and path (before any `?`) of a request frame's first line, read without
/// parsing the head: enough to tell whether the service answers it inline.
pub(crate) fn request_line(frame: &[u8]) -> Option<(&str, &str)> {
    let line = frame.split(|&b| b == b'\n').next()?;
    let mut words = line.split(|&b| b == b' ');
    let method = std::str::from_utf8(words.next()?).ok()?;
    let target = words.next()?;
    let path = target.split(|&b| b == b'?').next()?;
    Some((method, std::str::from_utf8(path).ok()?))
}
