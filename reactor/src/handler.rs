//! The application's side of the engine: the callbacks a server implements.
//!
//! Every callback runs on a worker thread, except frames the handler takes inline
//! ([`Handler::inline`]), which run on the reactor thread that read them. The callbacks
//! of one connection run one at a time, in the order the events happened; different
//! connections run in parallel. Callbacks on workers may block (database calls are
//! fine); inline ones must not.

use crate::close_reason::{CloseReason, Rejection};
use crate::codec::FrameError;
use crate::handle::ConnHandle;

/// Callbacks of an application embedded in the engine.
pub trait Handler: Send + Sync + 'static {
    /// Per-connection state, created by `on_connect` and handed back by value to `on_close`.
    type Session: Send + 'static;

    /// A connection was accepted (or, for [`crate::Server::connect`], started). Sends made
    /// here are delivered once the connection is established.
    fn on_connect(&self, conn: &ConnHandle) -> Self::Session;

    /// One complete frame arrived.
    fn on_frame(&self, conn: &ConnHandle, session: &mut Self::Session, frame: Vec<u8>);

    /// Whether `on_frame` for `frame` may run at once on the reactor thread that read it,
    /// saving the hand-off to a worker (two thread wake-ups): say true only for frames
    /// whose handling never blocks and takes microseconds (an echo, a health check), as
    /// every other connection of that reactor waits meanwhile. It is a request: a frame
    /// goes to a worker anyway while an earlier event of its connection is waiting for
    /// or held by one. Called on the reactor thread for every frame; keep it cheap. The
    /// default, false, sends every frame to a worker.
    fn inline(&self, conn: &ConnHandle, frame: &[u8]) -> bool {
        let _ = (conn, frame);
        false
    }

    /// Runs a frame [`Handler::inline`] said may run on the reactor thread, with the
    /// connection's session at hand, or gives it back (`Err(frame)`) when the session
    /// shows it would block after all (a cache miss, a request that needs the database):
    /// it then goes to a worker's `on_frame` like any other frame, in order. The default
    /// runs `on_frame`.
    fn on_frame_inline(
        &self,
        conn: &ConnHandle,
        session: &mut Self::Session,
        frame: Vec<u8>,
    ) -> Result<(), Vec<u8>> {
        self.on_frame(conn, session, frame);
        Ok(())
    }

    /// The peer broke the framing. Frames sent from here are flushed before the
    /// connection closes; `on_close` follows with [`CloseReason::Frame`].
    fn on_frame_error(&self, conn: &ConnHandle, session: &mut Self::Session, error: &FrameError) {
        let _ = (conn, session, error);
    }

    /// The connection is closing. Sends made from here are still flushed when the
    /// socket allows; afterwards every send returns false.
    fn on_close(&self, conn: &ConnHandle, session: Self::Session, reason: &CloseReason) {
        let _ = (conn, session, reason);
    }

    /// A connection was turned away (see [`Rejection`]). It has no session; frames sent
    /// from here are flushed, then the connection is closed.
    fn on_rejected(&self, conn: &ConnHandle, why: Rejection) {
        let _ = (conn, why);
    }
}
