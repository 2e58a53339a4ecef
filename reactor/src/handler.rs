//! The application's side of the engine: the callbacks a server implements.
//!
//! Every callback runs on a worker thread, never on a reactor. The callbacks of one
//! connection run one at a time, in the order the events happened; different
//! connections run in parallel. Callbacks may block (database calls are fine).

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
