//! What input waiting for the workers costs, and the bounds on it.
//!
//! Every frame a sub-reactor decodes waits in its connection's mailbox until a worker
//! runs it. A [`Backlog`] counts such frames and their bytes; a frame costs its body
//! plus [`FRAME_OVERHEAD`] (its event slot and allocation), so a flood of tiny frames is
//! bounded too. Two bounds apply (see the crate docs, "Input bounds"):
//!
//! * per connection: at its bound the reactor stops decoding and reading *that*
//!   connection; the worker that brings it down to half resumes it;
//! * in total: at the pool's bound every reactor stops reading until the workers bring
//!   the total down to half.
//!
//! May touch: nothing; plain arithmetic.

use std::ops::{Add, AddAssign, Sub, SubAssign};

/// Bytes a queued frame is charged beyond its body: its event in the mailbox's queue
/// and its heap allocation's header, rounded up.
pub(crate) const FRAME_OVERHEAD: usize = 64;

/// A count of queued frames and the bytes they are charged.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Backlog {
    pub(crate) frames: usize,
    pub(crate) bytes: usize,
}

impl Backlog {
    /// The cost of one frame with a body of `body_len` bytes.
    pub(crate) fn frame(body_len: usize) -> Self {
        Self {
            frames: 1,
            bytes: body_len + FRAME_OVERHEAD,
        }
    }

    /// A bound of `bytes` and `frames` (each at least 1).
    pub(crate) fn limit(bytes: usize, frames: usize) -> Self {
        Self {
            frames: frames.max(1),
            bytes: bytes.max(1),
        }
    }

    /// True once either count has reached `limit`'s.
    pub(crate) fn reaches(&self, limit: &Backlog) -> bool {
        self.frames >= limit.frames || self.bytes >= limit.bytes
    }

    /// True while both counts are at most half of `limit`'s.
    pub(crate) fn at_most_half(&self, limit: &Backlog) -> bool {
        self.frames <= limit.frames / 2 && self.bytes <= limit.bytes / 2
    }

    /// What is left of `limit` after `self` (zero where it is used up).
    pub(crate) fn room_in(&self, limit: &Backlog) -> Backlog {
        Backlog {
            frames: limit.frames.saturating_sub(self.frames),
            bytes: limit.bytes.saturating_sub(self.bytes),
        }
    }
}

impl Add for Backlog {
    type Output = Backlog;
    fn add(self, other: Backlog) -> Backlog {
        Backlog {
            frames: self.frames + other.frames,
            bytes: self.bytes + other.bytes,
        }
    }
}

impl AddAssign for Backlog {
    fn add_assign(&mut self, other: Backlog) {
        *self = *self + other;
    }
}

impl Sub for Backlog {
    type Output = Backlog;
    /// Saturating: a count never goes below zero.
    fn sub(self, other: Backlog) -> Backlog {
        Backlog {
            frames: self.frames.saturating_sub(other.frames),
            bytes: self.bytes.saturating_sub(other.bytes),
        }
    }
}

impl SubAssign for Backlog {
    fn sub_assign(&mut self, other: Backlog) {
        *self = *self - other;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_count_frames_and_bytes() {
        let limit = Backlog::limit(1000, 4);
        let mut b = Backlog::default();
        b += Backlog::frame(100);
        assert_eq!(b.bytes, 100 + FRAME_OVERHEAD);
        assert!(!b.reaches(&limit) && b.at_most_half(&limit));
        b += Backlog::frame(900);
        assert!(b.reaches(&limit), "bytes reach the bound");
        assert_eq!(
            b.room_in(&limit),
            Backlog {
                frames: 2,
                bytes: 0
            }
        );
        let tiny = (0..4).fold(Backlog::default(), |b, _| b + Backlog::frame(1));
        assert!(tiny.reaches(&limit), "frames reach the bound");
        b -= Backlog::frame(900) + Backlog::frame(900);
        assert_eq!(b, Backlog::default(), "never below zero");
    }
}
