//! A per-connection token bucket: `rate` requests a second, bursts up to `burst`.

use std::time::Instant;

/// Token bucket state of one connection.
#[derive(Debug)]
pub struct RateLimiter {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl RateLimiter {
    /// A full bucket.
    pub fn new(rate_per_sec: u32, burst: u32) -> Self {
        Self {
            rate: f64::from(rate_per_sec),
            burst: f64::from(burst.max(1)),
            tokens: f64::from(burst.max(1)),
            last: Instant::now(),
        }
    }

    /// Takes one token if there is one.
    pub fn allow(&mut self) -> bool {
        self.allow_at(Instant::now())
    }

    fn allow_at(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn allows_the_burst_then_the_rate() {
        let start = Instant::now();
        let mut limiter = RateLimiter::new(10, 5);
        limiter.last = start;
        assert!((0..5).all(|_| limiter.allow_at(start)));
        assert!(!limiter.allow_at(start));
        assert!(limiter.allow_at(start + Duration::from_millis(100)));
        assert!(!limiter.allow_at(start + Duration::from_millis(101)));
    }
}
