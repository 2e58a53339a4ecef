//! Per-connection input rate: how many bytes and frames a connection may send per
//! second, as two token buckets the sub-reactor keeps for it.
//!
//! The input bounds (`backlog`) cap the memory one connection costs; this caps the CPU:
//! a peer that sends faster than [`InputRate`] allows is simply not read for a while
//! (its data waits in the kernel and TCP flow control slows it), so a flood of frames
//! costs the server no more decoding and handling than the rate, however fast the peer
//! can write. Buckets may go negative by one read; reading resumes when both are back
//! at zero.
//! May touch: nothing; plain arithmetic on the engine clock's milliseconds.

/// A connection's allowed input rate (see [`crate::Builder::conn_input_rate`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct InputRate {
    /// Bytes per second, sustained.
    pub bytes_per_sec: f64,
    /// Bytes in a burst.
    pub bytes_burst: f64,
    /// Frames per second, sustained.
    pub frames_per_sec: f64,
    /// Frames in a burst.
    pub frames_burst: f64,
}

/// The two buckets of one connection.
#[derive(Debug, Clone)]
pub(crate) struct RateBucket {
    bytes: f64,
    frames: f64,
    last_ms: u64,
}

impl RateBucket {
    /// Full buckets at `now_ms`.
    pub(crate) fn new(rate: &InputRate, now_ms: u64) -> Self {
        Self {
            bytes: rate.bytes_burst,
            frames: rate.frames_burst,
            last_ms: now_ms,
        }
    }

    fn refill(&mut self, rate: &InputRate, now_ms: u64) {
        let secs = now_ms.saturating_sub(self.last_ms) as f64 / 1000.0;
        self.last_ms = self.last_ms.max(now_ms);
        self.bytes = (self.bytes + secs * rate.bytes_per_sec).min(rate.bytes_burst);
        self.frames = (self.frames + secs * rate.frames_per_sec).min(rate.frames_burst);
    }

    /// Charges what a read brought in.
    pub(crate) fn charge(&mut self, bytes: usize, frames: usize) {
        self.bytes -= bytes as f64;
        self.frames -= frames as f64;
    }

    /// Milliseconds until the connection may be read again; `None` when it may now.
    pub(crate) fn wait_ms(&mut self, rate: &InputRate, now_ms: u64) -> Option<u64> {
        self.refill(rate, now_ms);
        let debt = |tokens: f64, per_sec: f64| {
            if tokens >= 0.0 {
                0.0
            } else {
                -tokens / per_sec.max(f64::MIN_POSITIVE) * 1000.0
            }
        };
        let wait = debt(self.bytes, rate.bytes_per_sec).max(debt(self.frames, rate.frames_per_sec));
        (wait > 0.0).then(|| (wait.ceil() as u64).max(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_the_rate() {
        let rate = InputRate {
            bytes_per_sec: 1000.0,
            bytes_burst: 2000.0,
            frames_per_sec: 10.0,
            frames_burst: 20.0,
        };
        let mut b = RateBucket::new(&rate, 0);
        b.charge(2000, 5);
        assert_eq!(b.wait_ms(&rate, 0), None, "the burst is allowed");
        b.charge(500, 0);
        assert_eq!(b.wait_ms(&rate, 0), Some(500), "500 bytes over at 1000/s");
        assert_eq!(b.wait_ms(&rate, 250), Some(250));
        assert_eq!(b.wait_ms(&rate, 500), None);
        b.charge(0, 40);
        assert_eq!(b.wait_ms(&rate, 500), Some(2000), "20 frames over at 10/s");
    }
}
