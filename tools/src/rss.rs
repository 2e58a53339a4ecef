//! The server's resident memory, read from `/proc/<pid>/status` (`VmRSS`): one reading
//! ([`vmrss_kib`]), or a sampler thread that reads it every [`SAMPLE_EVERY`] and keeps
//! the first, peak and last values ([`RssSampler`]).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::error::LoadError;

/// How often [`RssSampler`] reads `VmRSS`.
pub const SAMPLE_EVERY: Duration = Duration::from_millis(100);

/// The resident set size of process `pid` in KiB, from `/proc/<pid>/status`.
pub fn vmrss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// What an [`RssSampler`] saw (all `None` without a process or without a reading).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RssSummary {
    /// The first reading.
    pub first_kib: Option<u64>,
    /// The largest reading.
    pub peak_kib: Option<u64>,
    /// The last reading.
    pub last_kib: Option<u64>,
    /// Readings taken.
    pub samples: u64,
}

impl RssSummary {
    /// Adds one reading.
    pub fn add(&mut self, kib: u64) {
        self.first_kib.get_or_insert(kib);
        self.peak_kib = Some(self.peak_kib.map_or(kib, |p| p.max(kib)));
        self.last_kib = Some(kib);
        self.samples += 1;
    }

    /// As JSON (`null` where there was no reading).
    pub fn json(&self) -> Value {
        json!({
            "first_kib": self.first_kib,
            "peak_kib": self.peak_kib,
            "last_kib": self.last_kib,
            "samples": self.samples,
        })
    }
}

/// A thread reading a process's `VmRSS` every [`SAMPLE_EVERY`] until stopped (or until
/// its time limit, so that it always ends by itself).
pub struct RssSampler {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<RssSummary>>,
}

impl RssSampler {
    /// Starts sampling `pid` (does nothing without one) for at most `limit`.
    pub fn start(pid: Option<u32>, limit: Duration) -> Result<RssSampler, LoadError> {
        let stop = Arc::new(AtomicBool::new(false));
        let Some(pid) = pid else {
            return Ok(RssSampler { stop, thread: None });
        };
        let flag = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("chatload-rss".into())
            .spawn(move || {
                let mut summary = RssSummary::default();
                let until = Instant::now() + limit;
                loop {
                    if let Some(kib) = vmrss_kib(pid) {
                        summary.add(kib);
                    }
                    if flag.load(Ordering::Relaxed) || Instant::now() >= until {
                        return summary;
                    }
                    std::thread::sleep(SAMPLE_EVERY);
                }
            })
            .map_err(LoadError::io("spawn the VmRSS sampler thread"))?;
        Ok(RssSampler {
            stop,
            thread: Some(thread),
        })
    }

    /// Takes a last reading, stops the thread and returns what it saw.
    pub fn stop(mut self) -> RssSummary {
        self.stop.store(true, Ordering::Relaxed);
        self.thread
            .take()
            .and_then(|t| t.join().ok())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_keeps_first_peak_and_last() {
        let mut s = RssSummary::default();
        assert_eq!(s.json()["peak_kib"], Value::Null);
        for kib in [100, 300, 200] {
            s.add(kib);
        }
        assert_eq!(
            s,
            RssSummary {
                first_kib: Some(100),
                peak_kib: Some(300),
                last_kib: Some(200),
                samples: 3
            }
        );
    }

    #[test]
    fn sampler_reads_this_process() {
        assert!(vmrss_kib(std::process::id()).is_some_and(|k| k > 0));
        let s = RssSampler::start(Some(std::process::id()), Duration::from_secs(5)).unwrap();
        std::thread::sleep(Duration::from_millis(250));
        let sum = s.stop();
        assert!(sum.samples >= 2, "{sum:?}");
        assert!(sum.peak_kib >= sum.first_kib);
        let none = RssSampler::start(None, Duration::from_secs(1))
            .unwrap()
            .stop();
        assert_eq!(none, RssSummary::default());
    }
}
