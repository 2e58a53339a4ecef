//! A token bucket: `rate` requests a second, bursts up to `burst`. Each connection has
//! one for its requests; the password guard keeps one per source address.

use std::time::{Duration, Instant};

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

    /// Takes one token if there is one; else says how long until there is.
    pub fn allow(&mut self) -> Result<(), Duration> {
        self.allow_at(Instant::now())
    }

    /// [`RateLimiter::allow`] at `now`.
    pub fn allow_at(&mut self, now: Instant) -> Result<(), Duration> {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - self.tokens) / self.rate))
        }
    }

    /// True when the bucket is full again at `now`: it then remembers nothing.
    pub fn is_full_at(&self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens + elapsed * self.rate >= self.burst
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
        assert!((0..5).all(|_| limiter.allow_at(start).is_ok()));
        let wait = limiter.allow_at(start).unwrap_err();
        assert!(wait > Duration::from_millis(99) && wait <= Duration::from_millis(100));
        assert!(limiter.allow_at(start + Duration::from_millis(100)).is_ok());
        assert!(limiter
            .allow_at(start + Duration::from_millis(101))
            .is_err());
        assert!(!limiter.is_full_at(start + Duration::from_millis(101)));
        assert!(limiter.is_full_at(start + Duration::from_millis(700)));
    }
}
