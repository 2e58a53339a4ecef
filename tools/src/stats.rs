//! Latency histograms (HdrHistogram, microseconds) and keyed counters.
//!
//! * [`Recorder`]: a histogram sharded over a few mutexes so that worker threads
//!   recording at once rarely contend; [`Recorder::merged`] folds the shards.
//! * [`Percentiles`]: the summary every report shows (p50/p90/p99/p99.9/max, µs).
//! * [`to_pairs`] / [`from_pairs`]: a histogram as `[[value_us, count], ...]`, the form in
//!   which child processes (`conns --procs`) hand their histograms to the parent.
//! * [`Counts`]: counters by name (error codes, close reasons, anomalies).

use std::collections::BTreeMap;

use hdrhistogram::Histogram;
use parking_lot::Mutex;
use serde::Serialize;
use serde_json::Value;

/// Highest value a histogram holds: one hour in µs (larger samples are clamped).
pub const MAX_US: u64 = 3_600_000_000;
const SHARDS: usize = 16;

/// An empty histogram for 1 µs .. 1 h at 3 significant digits.
pub fn histogram() -> Histogram<u64> {
    // `new_with_max` fails only on invalid bounds; these are constants known to be valid.
    Histogram::new_with_max(MAX_US, 3).expect("constant histogram bounds are valid")
}

/// Records `us` (clamped to `1..=MAX_US`).
pub fn record(h: &mut Histogram<u64>, us: u64) {
    let _ = h.record(us.clamp(1, MAX_US));
}

/// Adds every sample of `from` to `into`.
pub fn merge(into: &mut Histogram<u64>, from: &Histogram<u64>) {
    for v in from.iter_recorded() {
        let _ = into.record_n(v.value_iterated_to().min(MAX_US), v.count_at_value());
    }
}

/// A histogram as `[[value_us, count], ...]` (only the non-empty buckets).
pub fn to_pairs(h: &Histogram<u64>) -> Value {
    Value::Array(
        h.iter_recorded()
            .map(|v| Value::from(vec![v.value_iterated_to(), v.count_at_value()]))
            .collect(),
    )
}

/// The inverse of [`to_pairs`]; entries that are not two integers are skipped and counted.
pub fn from_pairs(v: &Value) -> (Histogram<u64>, usize) {
    let mut h = histogram();
    let mut skipped = 0;
    for pair in v.as_array().map(Vec::as_slice).unwrap_or_default() {
        let value = pair.get(0).and_then(Value::as_u64);
        let count = pair.get(1).and_then(Value::as_u64);
        match (value, count) {
            (Some(value), Some(count)) => {
                let _ = h.record_n(value.clamp(1, MAX_US), count);
            }
            _ => skipped += 1,
        }
    }
    (h, skipped)
}

/// A sharded histogram safe to record into from any thread.
pub struct Recorder {
    shards: Vec<Mutex<Histogram<u64>>>,
}

impl Default for Recorder {
    fn default() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::new(histogram())).collect(),
        }
    }
}

impl Recorder {
    /// Records `us` into the shard picked by `key` (a connection index, say).
    pub fn record(&self, key: usize, us: u64) {
        record(&mut self.shards[key % SHARDS].lock(), us);
    }

    /// Every shard folded into one histogram.
    pub fn merged(&self) -> Histogram<u64> {
        let mut all = histogram();
        for shard in &self.shards {
            merge(&mut all, &shard.lock());
        }
        all
    }
}

/// Percentiles of a latency histogram, in µs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Percentiles {
    /// Samples.
    pub count: u64,
    /// Mean.
    pub mean_us: f64,
    /// Median.
    pub p50_us: u64,
    /// 90th percentile.
    pub p90_us: u64,
    /// 99th percentile.
    pub p99_us: u64,
    /// 99.9th percentile.
    pub p999_us: u64,
    /// Largest sample.
    pub max_us: u64,
}

impl Percentiles {
    /// The summary of `h` (all zero when empty).
    pub fn of(h: &Histogram<u64>) -> Percentiles {
        if h.is_empty() {
            return Percentiles::default();
        }
        Percentiles {
            count: h.len(),
            mean_us: (h.mean() * 10.0).round() / 10.0,
            p50_us: h.value_at_quantile(0.50),
            p90_us: h.value_at_quantile(0.90),
            p99_us: h.value_at_quantile(0.99),
            p999_us: h.value_at_quantile(0.999),
            max_us: h.max(),
        }
    }

    /// `p50/p90/p99/p99.9/max` in milliseconds, for the summary table.
    pub fn row_ms(&self) -> String {
        if self.count == 0 {
            return "no samples".into();
        }
        let ms = |us: u64| us as f64 / 1000.0;
        format!(
            "{:.2} / {:.2} / {:.2} / {:.2} / {:.2} ms (n={})",
            ms(self.p50_us),
            ms(self.p90_us),
            ms(self.p99_us),
            ms(self.p999_us),
            ms(self.max_us),
            self.count
        )
    }

    /// As a JSON object.
    pub fn json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// Counters by name, for things that are usually rare (errors, anomalies).
#[derive(Debug, Default)]
pub struct Counts {
    map: Mutex<BTreeMap<String, u64>>,
}

impl Counts {
    /// Adds `n` to `key`.
    pub fn add(&self, key: &str, n: u64) {
        let mut map = self.map.lock();
        match map.get_mut(key) {
            Some(v) => *v += n,
            None => {
                map.insert(key.to_string(), n);
            }
        }
    }

    /// Adds one to `key`.
    pub fn inc(&self, key: &str) {
        self.add(key, 1);
    }

    /// A copy of the counters.
    pub fn snapshot(&self) -> BTreeMap<String, u64> {
        self.map.lock().clone()
    }

    /// Sum of every counter.
    pub fn total(&self) -> u64 {
        self.map.lock().values().sum()
    }

    /// As a JSON object `{name: count}`.
    pub fn json(&self) -> Value {
        Value::Object(
            self.snapshot()
                .into_iter()
                .map(|(k, v)| (k, Value::from(v)))
                .collect(),
        )
    }
}

/// Adds the counters of a JSON object `{name: count}` into `into` (for merging children).
pub fn add_json_counts(into: &Counts, v: &Value) {
    if let Some(map) = v.as_object() {
        for (k, n) in map {
            into.add(k, n.as_u64().unwrap_or(0));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merging_shards_keeps_every_sample() {
        let r = Recorder::default();
        for i in 0..1000u64 {
            r.record(i as usize, i + 1); // 1..=1000 µs over all shards
        }
        let h = r.merged();
        assert_eq!(h.len(), 1000);
        let p = Percentiles::of(&h);
        assert_eq!(p.count, 1000);
        assert!((499..=501).contains(&p.p50_us), "{p:?}");
        assert!((989..=991).contains(&p.p99_us), "{p:?}");
        assert_eq!(p.max_us, 1000);

        let mut other = histogram();
        record(&mut other, 5_000_000);
        record(&mut other, 0); // clamped to 1
        record(&mut other, u64::MAX); // clamped to MAX_US
        let mut all = h.clone();
        merge(&mut all, &other);
        assert_eq!(all.len(), 1003);
        assert!(all.max() >= MAX_US);
    }

    #[test]
    fn pairs_round_trip_between_processes() {
        let mut h = histogram();
        for us in [3, 3, 70, 1500, 1500, 1500, 250_000] {
            record(&mut h, us);
        }
        let json = to_pairs(&h);
        let (back, skipped) = from_pairs(&json);
        assert_eq!(skipped, 0);
        assert_eq!(back.len(), h.len());
        assert_eq!(Percentiles::of(&back), Percentiles::of(&h));
        let (_, skipped) = from_pairs(&serde_json::json!([[1, 2], "x", [3]]));
        assert_eq!(skipped, 2);
    }

    #[test]
    fn counts_add_up() {
        let c = Counts::default();
        c.inc("server_busy");
        c.add("server_busy", 2);
        c.inc("not_friends");
        assert_eq!(c.total(), 4);
        let other = Counts::default();
        add_json_counts(&other, &c.json());
        assert_eq!(other.snapshot(), c.snapshot());
    }
}
