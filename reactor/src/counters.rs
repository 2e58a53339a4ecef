//! Counters the application can read and export: cheap relaxed atomics, bumped by the
//! acceptor, the sub-reactors and the worker pool.
//!
//! The per-frame counters are bumped by different threads (reactors count input,
//! workers count output), so each sits on a cache line of its own: otherwise every
//! frame would bounce one line between cores.

use std::ops::Deref;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// A value alone on its (64-byte) cache line.
#[derive(Debug, Default)]
#[repr(align(64))]
pub(crate) struct Padded<T>(T);

impl<T> Deref for Padded<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

/// Live counters of one server.
#[derive(Debug, Default)]
pub struct Counters {
    accepted: AtomicU64,
    rejected: AtomicU64,
    open: AtomicUsize,
    closed: AtomicU64,
    frames_in: Padded<AtomicU64>,
    frames_out: Padded<AtomicU64>,
    bytes_in: Padded<AtomicU64>,
    bytes_out: Padded<AtomicU64>,
    pub(crate) queued_events: Padded<AtomicUsize>,
    pub(crate) queued_bytes: Padded<AtomicUsize>,
    /// Entries in the sub-reactors' timer queues (at most one per connection).
    pub(crate) timers: AtomicUsize,
    /// Rejected connections still being answered (bounded by the acceptor).
    pub(crate) rejecting: AtomicUsize,
}

/// A point-in-time copy of [`Counters`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CountersSnapshot {
    /// Connections accepted by the listener since start (rejected ones included).
    pub accepted: u64,
    /// Connections turned away (`max_connections` open, or the per-address cap).
    pub rejected: u64,
    /// Connections open now (accepted or outgoing).
    pub open: usize,
    /// Connections closed since start.
    pub closed: u64,
    /// Frames decoded from sockets.
    pub frames_in: u64,
    /// Frames queued for sending.
    pub frames_out: u64,
    /// Bytes read from sockets.
    pub bytes_in: u64,
    /// Bytes written to sockets.
    pub bytes_out: u64,
    /// Events waiting for, or being handled by, the worker pool.
    pub queued_events: usize,
    /// Bytes the waiting frames are charged (body plus a fixed overhead per frame).
    pub queued_bytes: usize,
    /// Deadlines armed in the sub-reactors' timer queues (at most one per connection).
    pub timers: usize,
}

impl Counters {
    /// Copies every counter.
    pub fn snapshot(&self) -> CountersSnapshot {
        let r = Ordering::Relaxed;
        CountersSnapshot {
            accepted: self.accepted.load(r),
            rejected: self.rejected.load(r),
            open: self.open.load(r),
            closed: self.closed.load(r),
            frames_in: self.frames_in.load(r),
            frames_out: self.frames_out.load(r),
            bytes_in: self.bytes_in.load(r),
            bytes_out: self.bytes_out.load(r),
            queued_events: self.queued_events.load(r),
            queued_bytes: self.queued_bytes.load(r),
            timers: self.timers.load(r),
        }
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }

    pub(crate) fn accepted(&self) {
        self.accepted.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn rejected(&self) {
        self.rejected.fetch_add(1, Ordering::Relaxed);
        self.rejecting.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn rejected_closed(&self) {
        self.rejecting.fetch_sub(1, Ordering::Relaxed);
    }
    pub(crate) fn opened(&self) {
        self.open.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn closed(&self) {
        self.open.fetch_sub(1, Ordering::Relaxed);
        self.closed.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn frames_in(&self, n: usize) {
        self.frames_in.fetch_add(n as u64, Ordering::Relaxed);
    }
    pub(crate) fn frame_out(&self) {
        self.frames_out.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn read(&self, n: usize) {
        self.bytes_in.fetch_add(n as u64, Ordering::Relaxed);
    }
    pub(crate) fn wrote(&self, n: usize) {
        self.bytes_out.fetch_add(n as u64, Ordering::Relaxed);
    }
}
