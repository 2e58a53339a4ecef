//! How chatload reports: progress bars and the summary table on stderr, one JSON line
//! with every figure on stdout (the last line chatload prints there).
//!
//! Progress bars are drawn only when stderr is a terminal and `--no-progress` is not
//! given, so logs and scripts capturing stderr get the summary table alone.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::Value;

/// A progress bar of `len` steps on stderr (hidden when not wanted or not a terminal).
pub fn bar(len: u64, what: &str, enabled: bool) -> ProgressBar {
    let target = if enabled && std::io::stderr().is_terminal() {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    };
    let pb = ProgressBar::with_draw_target(Some(len), target);
    let style = ProgressStyle::with_template(
        "{prefix:>12} [{elapsed_precise}] {wide_bar} {pos}/{len} {msg}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar());
    pb.set_style(style);
    pb.set_prefix(what.to_string());
    if !pb.is_hidden() {
        pb.enable_steady_tick(Duration::from_millis(200));
    }
    pb
}

/// A summary table: a title and `label: value` rows, printed to stderr.
pub struct Table {
    title: String,
    rows: Vec<(String, String)>,
}

impl Table {
    /// An empty table.
    pub fn new(title: impl Into<String>) -> Self {
        Self {
            title: title.into(),
            rows: Vec::new(),
        }
    }

    /// Adds a row.
    pub fn row(&mut self, label: impl Into<String>, value: impl ToString) -> &mut Self {
        self.rows.push((label.into(), value.to_string()));
        self
    }

    /// Adds rows of two values side by side (`label`, `left`, `right`), the left values
    /// padded to the widest of them so that the right ones line up.
    pub fn columns(&mut self, rows: &[(&str, String, String)]) -> &mut Self {
        let width = rows
            .iter()
            .map(|(_, l, _)| l.chars().count())
            .max()
            .unwrap_or(0);
        for (label, left, right) in rows {
            let pad = width - left.chars().count();
            self.rows.push((
                (*label).to_string(),
                format!("{left}{}   {right}", " ".repeat(pad)),
            ));
        }
        self
    }

    /// The table as text.
    pub fn render(&self) -> String {
        let width = self.rows.iter().map(|(l, _)| l.len()).max().unwrap_or(0);
        let mut out = format!("== {}\n", self.title);
        for (label, value) in &self.rows {
            out.push_str(&format!("  {label:<width$}  {value}\n"));
        }
        out
    }

    /// Prints the table to stderr.
    pub fn print(&self) {
        eprint!("{}", self.render());
    }
}

/// What a subcommand hands back: its summary table, its JSON line, and whether the run
/// was clean (every integrity check held: nothing lost, duplicated, unanswered or
/// malformed; every login succeeded).
pub struct Report {
    /// The human summary.
    pub table: Table,
    /// Every figure.
    pub json: Value,
    /// Integrity held.
    pub clean: bool,
}

impl Report {
    /// Prints the table (stderr) and the JSON line (stdout).
    pub fn print(&self) {
        self.table.print();
        emit_json(&self.json);
    }
}

/// Prints `v` as one line on stdout and flushes (the machine-readable result).
pub fn emit_json(v: &Value) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{v}");
    let _ = out.flush();
}

/// CPU seconds (user + system) this process has used so far.
pub fn cpu_secs() -> f64 {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage writes a `rusage` into the pointer we pass and reads nothing.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) };
    if rc != 0 {
        return 0.0;
    }
    // SAFETY: getrusage returned 0, so it filled the struct (zeroed before anyway).
    let usage = unsafe { usage.assume_init() };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(usage.ru_utime) + secs(usage.ru_stime)
}

/// `x` rounded to one decimal, as JSON.
pub fn num1(x: f64) -> Value {
    if x.is_finite() {
        Value::from((x * 10.0).round() / 10.0)
    } else {
        Value::Null
    }
}

/// A JSON object's `map` entries as `k=v, ...`, or `none`.
pub fn counts_line(v: &Value) -> String {
    match v.as_object() {
        Some(map) if !map.is_empty() => map
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(", "),
        _ => "none".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_aligns_labels() {
        let mut t = Table::new("relay");
        t.row("acked/s", 10).row("lost", 0);
        assert_eq!(t.render(), "== relay\n  acked/s  10\n  lost     0\n");
        assert_eq!(
            counts_line(&serde_json::json!({"a": 1, "b": 2})),
            "a=1, b=2"
        );
        assert_eq!(counts_line(&serde_json::json!({})), "none");
    }

    #[test]
    fn columns_line_up() {
        let mut t = Table::new("abuse");
        t.columns(&[
            ("", "no attack".into(), "attack".into()),
            ("p99", "1.5 ms".into(), "2.25 ms".into()),
            ("lost", "0 → 0".into(), "0".into()),
        ])
        .row("goal", "met");
        assert_eq!(
            t.render(),
            "== abuse\n        no attack   attack\n  p99   1.5 ms      2.25 ms\n  lost  0 → 0       0\n  goal  met\n"
        );
    }
}
