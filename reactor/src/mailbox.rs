//! A connection's mailbox: the FIFO of events waiting for the worker pool, what its
//! frames cost, and the application's session for that connection.
//!
//! The mailbox is what makes "one connection at a time, in order" hold: it sits in the
//! pool's run queue at most once (`scheduled`), and only the worker that took it from
//! there pops its events, so two workers never run the same connection's callbacks.
//! It is also where the per-connection input bound lives: `backlog` counts the frames
//! waiting, and `reading_paused` records that the reactor stopped reading because of it.

use std::collections::VecDeque;

use parking_lot::Mutex;

use crate::backlog::Backlog;
use crate::close_reason::{CloseReason, Rejection};
use crate::codec::FrameError;
use crate::handle::ConnHandle;

/// Something that happened on a connection, for the application.
pub(crate) enum Event {
    Connect,
    Frame(Vec<u8>),
    FrameError(FrameError),
    Close(CloseReason),
    Rejected(Rejection),
}

impl Event {
    /// What the event is charged against the input bounds (only frames are).
    pub(crate) fn cost(&self) -> Backlog {
        match self {
            Event::Frame(body) => Backlog::frame(body.len()),
            _ => Backlog::default(),
        }
    }
}

pub(crate) struct Queue {
    pub(crate) events: VecDeque<Event>,
    /// The mailbox is in the run queue or being run by a worker.
    pub(crate) scheduled: bool,
    /// Frames in `events` and their cost.
    pub(crate) backlog: Backlog,
    /// The reactor stopped reading the connection because `backlog` reached the
    /// per-connection bound; whoever brings it down to half clears this and resumes it.
    pub(crate) reading_paused: bool,
}

/// Events and session of one connection.
pub(crate) struct Mailbox<S> {
    pub(crate) conn: ConnHandle,
    pub(crate) queue: Mutex<Queue>,
    /// Only ever locked by the single worker running this mailbox, so never contended.
    pub(crate) session: Mutex<Option<S>>,
}

impl<S> Mailbox<S> {
    pub(crate) fn new(conn: ConnHandle) -> Self {
        Self {
            conn,
            queue: Mutex::new(Queue {
                events: VecDeque::new(),
                scheduled: false,
                backlog: Backlog::default(),
                reading_paused: false,
            }),
            session: Mutex::new(None),
        }
    }
}
