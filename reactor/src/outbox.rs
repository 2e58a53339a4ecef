//! [`Outbox`]: the frames queued for one connection by any thread, and the socket they
//! may be written to directly.
//!
//! Write-through: while the reactor holds nothing unwritten for the connection
//! (`reactor_writes` is false), a sender writes the outbox straight to the socket, under
//! the outbox's lock, so frames never interleave. The first time the socket pushes back
//! (a partial write, `WouldBlock`), the owning sub-reactor takes the output over and
//! writes on writable readiness until the outbox is empty again. The descriptor belongs
//! to the reactor: when it drops the connection it takes the socket out of the outbox
//! ([`Outbox::release`]), so no sender can ever touch a closed descriptor.
//! May touch: the socket it holds, only while its lock is held.

use std::io::Write;
use std::sync::Arc;

/// Frames queued by senders, and the socket they may be written to directly.
pub(crate) struct Outbox {
    pub(crate) buf: Vec<u8>,
    /// A `Flush` notice is on its way to the reactor; no need to send another.
    pub(crate) flush_scheduled: bool,
    /// The reactor owns the output (it holds unwritten bytes, the connection is still
    /// being established, or it is closed): senders queue behind it instead of writing.
    pub(crate) reactor_writes: bool,
    /// The socket, for write-through; `None` once the reactor dropped the connection.
    pub(crate) stream: Option<Arc<mio::net::TcpStream>>,
    /// A [`crate::SendBatch`] open on some thread holds this outbox's frames and will
    /// flush it.
    pub(crate) held: bool,
}

impl Outbox {
    pub(crate) fn new(stream: Arc<mio::net::TcpStream>, connecting: bool) -> Self {
        Self {
            buf: Vec::new(),
            flush_scheduled: false,
            reactor_writes: connecting,
            stream: Some(stream),
            held: false,
        }
    }

    /// Writes what it holds straight to the socket if the reactor is not writing, with
    /// one `write`. Returns the bytes written. Whatever is left is the reactor's to
    /// write: `reactor_writes` is then set, and the caller must tell the reactor.
    pub(crate) fn write_through(&mut self) -> usize {
        if self.buf.is_empty() || self.reactor_writes {
            return 0;
        }
        let mut written = 0;
        if let Some(stream) = &self.stream {
            // On WouldBlock or Interrupted the reactor waits for writability and
            // retries; any other error it meets again on its own write, and closes.
            if let Ok(n) = (&**stream).write(&self.buf) {
                written = n;
                if n == self.buf.len() {
                    self.buf.clear();
                    return n;
                }
                self.buf.drain(..n);
            }
        }
        self.reactor_writes = true;
        written
    }

    /// The connection is gone: drop the socket and anything queued.
    pub(crate) fn release(&mut self) {
        self.stream = None;
        self.reactor_writes = true;
        self.buf = Vec::new();
    }
}
