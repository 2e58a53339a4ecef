//! `echo_load`: the closed-loop load client of the echo benchmark.
//!
//! ```text
//! echo_load --addr A --conns C --inflight W --duration S [--warmup S] [--size 64]
//!           [--threads T] [--server-pid PID] [--json]
//! ```
//!
//! It opens `C` connections, then each keeps `W` frames of `size` bytes in flight: it
//! sends `W`, then one more each time an echo returns. Frames are length-prefixed (4-byte
//! big-endian length, then the body). A body starts with the frame's sequence number and
//! its send time, then a filler derived from the sequence number, so the client checks
//! that every echo is byte-for-byte the frame sent in that position (a server echoes a
//! connection's frames in order) and times each round trip into an HdrHistogram (µs).
//!
//! The warm-up starts once every connection is open; frames that come back during it are
//! checked but not counted. Then `S` seconds are measured, and it prints frames/s, p50,
//! p90, p99, p99.9 and max latency, and errors (one JSON line with `--json`). It also
//! reports the CPU the measured window cost: its own, the server's (with `--server-pid`,
//! read from `/proc`, also as µs per frame) and other processes' (the machine's busy time
//! less both), which tells whether something else on the machine skewed the run.
//!
//! Errors are counted, never panicked on: failed connects, resets, early EOF, broken
//! framing (the connection is abandoned), echoes that differ from what was sent, and
//! connections that stayed open but got no echo at all during the measurement
//! (`stalled`).

use std::collections::VecDeque;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clap::Parser;
use hdrhistogram::Histogram;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinSet;
use tokio::time::{timeout_at, Instant};

/// Bytes in the length prefix.
const PREFIX: usize = 4;
/// Sequence number (8) and send time in ns since the run's start (8).
const STAMP: usize = 16;
/// Largest body the servers accept.
const MAX_FRAME: usize = 65_536;
/// Histogram shards; a connection flushes its samples into shard `index % SHARDS`.
const SHARDS: usize = 32;
/// Samples a connection collects before flushing them into its shard.
const FLUSH_EVERY: usize = 512;
/// Highest latency the histogram holds, in µs (larger samples are clamped to it).
const MAX_LATENCY_US: u64 = 60_000_000;
/// How long to wait for all connections to open.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// Command line of the load client.
#[derive(Parser, Debug, Clone)]
#[command(about = "Closed-loop load client for length-prefixed echo servers")]
struct Args {
    /// Server address, e.g. 127.0.0.1:9000.
    #[arg(long)]
    addr: SocketAddr,
    /// Connections to open.
    #[arg(long, default_value_t = 100)]
    conns: usize,
    /// Frames each connection keeps in flight.
    #[arg(long, default_value_t = 1)]
    inflight: usize,
    /// Seconds measured after the warm-up.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Seconds of warm-up (echoes checked, not counted).
    #[arg(long, default_value_t = 2.0)]
    warmup: f64,
    /// Body bytes per frame (16..=65536: the first 16 carry sequence number and time).
    #[arg(long, default_value_t = 64)]
    size: usize,
    /// Runtime threads (default: the number of cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Process id of the server (Linux): adds its CPU time and context switches during
    /// the measured window, and the CPU other processes took meanwhile, to the report.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Print one JSON line instead of the text summary.
    #[arg(long)]
    json: bool,
}

/// Error counters, shared by every connection.
#[derive(Default)]
struct Errors {
    connect: AtomicU64,
    io: AtomicU64,
    eof: AtomicU64,
    framing: AtomicU64,
    mismatch: AtomicU64,
    stalled: AtomicU64,
}

impl Errors {
    fn total(&self) -> u64 {
        [
            &self.connect,
            &self.io,
            &self.eof,
            &self.framing,
            &self.mismatch,
            &self.stalled,
        ]
        .iter()
        .map(|c| c.load(Ordering::Relaxed))
        .sum()
    }
}

/// What every connection task shares.
struct Shared {
    size: usize,
    inflight: usize,
    /// Origin of the send times written into frames.
    base: Instant,
    /// Echoes arriving from here on are counted...
    measure_from: Instant,
    /// ...until here, when every connection stops.
    end: Instant,
    shards: Vec<Mutex<Histogram<u64>>>,
    errors: Errors,
}

/// Outcome of one connection's run.
#[derive(Default)]
struct ConnStats {
    /// Echoes received in the measured window.
    measured: u64,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    if args.size < STAMP || args.size > MAX_FRAME {
        return Err(format!("--size must be in {STAMP}..={MAX_FRAME}").into());
    }
    if args.conns == 0 || args.inflight == 0 {
        return Err("--conns and --inflight must be at least 1".into());
    }
    let valid_times = args.duration > 0.0
        && args.duration.is_finite()
        && args.warmup >= 0.0
        && args.warmup.is_finite();
    if !valid_times {
        return Err("--duration must be > 0 and --warmup >= 0 seconds".into());
    }
    let (runtime, threads) = benches::tokio_runtime(args.threads, "echo-load")?;
    runtime.block_on(run(args, threads))
}

async fn run(args: Args, threads: usize) -> Result<(), Box<dyn std::error::Error>> {
    // Open every connection first, so that the warm-up starts with all of them.
    let errors = Errors::default();
    let mut connecting = JoinSet::new();
    for _ in 0..args.conns {
        let addr = args.addr;
        connecting.spawn(async move {
            let stream = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr)).await;
            match stream {
                Ok(Ok(stream)) => stream.set_nodelay(true).map(|()| stream),
                Ok(Err(e)) => Err(e),
                Err(_) => Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "connect timed out",
                )),
            }
        });
    }
    let mut streams = Vec::with_capacity(args.conns);
    let mut first_connect_error = None;
    while let Some(joined) = connecting.join_next().await {
        match joined {
            Ok(Ok(stream)) => streams.push(stream),
            Ok(Err(e)) => {
                errors.connect.fetch_add(1, Ordering::Relaxed);
                first_connect_error.get_or_insert(e.to_string());
            }
            Err(e) => {
                errors.connect.fetch_add(1, Ordering::Relaxed);
                first_connect_error.get_or_insert(e.to_string());
            }
        }
    }
    if let Some(e) = &first_connect_error {
        eprintln!(
            "echo_load: {} of {} connections failed (first: {e})",
            args.conns - streams.len(),
            args.conns
        );
    }

    let base = Instant::now();
    let measure_from = base + Duration::from_secs_f64(args.warmup);
    let end = measure_from + Duration::from_secs_f64(args.duration);
    let mut shards = Vec::with_capacity(SHARDS);
    for _ in 0..SHARDS {
        shards.push(Mutex::new(Histogram::new_with_bounds(
            1,
            MAX_LATENCY_US,
            3,
        )?));
    }
    let shared = Arc::new(Shared {
        size: args.size,
        inflight: args.inflight,
        base,
        measure_from,
        end,
        shards,
        errors,
    });

    // CPU accounting of the measured window: sampled when it opens and when it closes.
    let server_pid = args.server_pid;
    let sampler = tokio::spawn(async move {
        tokio::time::sleep_until(measure_from).await;
        let start = Sample::take(server_pid);
        tokio::time::sleep_until(end).await;
        Sample::take(server_pid).since(&start)
    });

    let mut running = JoinSet::new();
    for (index, stream) in streams.into_iter().enumerate() {
        let shared = Arc::clone(&shared);
        running.spawn(async move { drive(index, stream, &shared).await });
    }
    let mut measured = 0u64;
    while let Some(joined) = running.join_next().await {
        match joined {
            Ok(stats) => measured += stats.measured,
            // A task can only end this way by panicking; count it, keep going.
            Err(_) => {
                shared.errors.io.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    let mut total = Histogram::<u64>::new_with_bounds(1, MAX_LATENCY_US, 3)?;
    for shard in &shared.shards {
        let shard = shard.lock().map_err(|_| "a histogram shard was poisoned")?;
        total.add(&*shard)?;
    }
    let usage = sampler.await.unwrap_or_default();
    report(&args, threads, measured, &total, &shared.errors, &usage)?;
    Ok(())
}

/// One connection's closed loop, until `shared.end` or its first error.
async fn drive(index: usize, mut stream: TcpStream, shared: &Shared) -> ConnStats {
    let mut conn = Conn::new(index, shared);
    let outcome = conn.run(&mut stream).await;
    conn.flush_samples();
    match outcome {
        Ok(()) if conn.stats.measured == 0 => {
            shared.errors.stalled.fetch_add(1, Ordering::Relaxed);
        }
        Ok(()) => {}
        Err(Failure::Io) => {
            shared.errors.io.fetch_add(1, Ordering::Relaxed);
        }
        Err(Failure::Eof) => {
            shared.errors.eof.fetch_add(1, Ordering::Relaxed);
        }
        Err(Failure::Framing) => {
            shared.errors.framing.fetch_add(1, Ordering::Relaxed);
        }
    }
    conn.stats
}

/// Why a connection stopped early.
enum Failure {
    /// A read or write failed.
    Io,
    /// The server closed the connection.
    Eof,
    /// The server's bytes were not a valid frame of the size sent: the stream is lost.
    Framing,
}

/// One connection's client-side state.
struct Conn<'a> {
    index: usize,
    shared: &'a Shared,
    next_seq: u64,
    /// Frames sent and not yet echoed, oldest first: (sequence number, send time in ns).
    pending: VecDeque<(u64, u64)>,
    input: Vec<u8>,
    output: Vec<u8>,
    expected: Vec<u8>,
    samples: Vec<u64>,
    stats: ConnStats,
}

impl<'a> Conn<'a> {
    fn new(index: usize, shared: &'a Shared) -> Self {
        Self {
            index,
            shared,
            // Distinct streams per connection make a cross-connection mix-up visible.
            next_seq: (index as u64) << 40,
            pending: VecDeque::with_capacity(shared.inflight),
            input: Vec::with_capacity(64 * 1024),
            output: Vec::with_capacity(shared.inflight * (PREFIX + shared.size)),
            expected: vec![0; shared.size],
            samples: Vec::with_capacity(FLUSH_EVERY),
            stats: ConnStats::default(),
        }
    }

    async fn run(&mut self, stream: &mut TcpStream) -> Result<(), Failure> {
        let shared = self.shared;
        let now = nanos_since(shared.base, Instant::now());
        for _ in 0..shared.inflight {
            self.queue_frame(now);
        }
        if !self.write(stream).await? {
            return Ok(());
        }
        loop {
            if self.input.capacity() - self.input.len() < 4096 {
                self.input.reserve(64 * 1024);
            }
            let n = match timeout_at(shared.end, stream.read_buf(&mut self.input)).await {
                Err(_) => return Ok(()), // the run is over
                Ok(Ok(0)) => return Err(Failure::Eof),
                Ok(Ok(n)) => n,
                Ok(Err(_)) => return Err(Failure::Io),
            };
            debug_assert!(n > 0);
            let received = Instant::now();
            let sending = received < shared.end;
            let measuring = received >= shared.measure_from && sending;
            let now = nanos_since(shared.base, received);
            let frame_len = PREFIX + shared.size;
            let mut pos = 0;
            while let Some(header) = self.input[pos..].first_chunk::<PREFIX>() {
                let len = u32::from_be_bytes(*header) as usize;
                if len != shared.size {
                    return Err(Failure::Framing);
                }
                if self.input.len() - pos < frame_len {
                    break;
                }
                let Some((seq, sent)) = self.pending.pop_front() else {
                    return Err(Failure::Framing); // an echo of nothing we sent
                };
                fill_body(&mut self.expected, seq, sent);
                if self.input[pos + PREFIX..pos + frame_len] != self.expected[..] {
                    shared.errors.mismatch.fetch_add(1, Ordering::Relaxed);
                }
                pos += frame_len;
                if measuring {
                    self.stats.measured += 1;
                    self.record(now.saturating_sub(sent) / 1_000);
                }
                if sending {
                    self.queue_frame(now);
                }
            }
            self.input.drain(..pos);
            if !self.write(stream).await? {
                return Ok(());
            }
        }
    }

    /// Sends the queued frames; false when the run ended while writing.
    async fn write(&mut self, stream: &mut TcpStream) -> Result<bool, Failure> {
        if self.output.is_empty() {
            return Ok(true);
        }
        match timeout_at(self.shared.end, stream.write_all(&self.output)).await {
            Err(_) => Ok(false),
            Ok(Ok(())) => {
                self.output.clear();
                Ok(true)
            }
            Ok(Err(_)) => Err(Failure::Io),
        }
    }

    /// Appends one frame, stamped with `now`, to the output.
    fn queue_frame(&mut self, now: u64) {
        let seq = self.next_seq;
        self.next_seq = self.next_seq.wrapping_add(1);
        let size = self.shared.size;
        // `size` is checked against MAX_FRAME in `main`, so it fits in a u32.
        self.output.extend_from_slice(&(size as u32).to_be_bytes());
        let start = self.output.len();
        self.output.resize(start + size, 0);
        fill_body(&mut self.output[start..], seq, now);
        self.pending.push_back((seq, now));
    }

    fn record(&mut self, micros: u64) {
        self.samples.push(micros);
        if self.samples.len() >= FLUSH_EVERY {
            self.flush_samples();
        }
    }

    fn flush_samples(&mut self) {
        if self.samples.is_empty() {
            return;
        }
        let shard = &self.shared.shards[self.index % SHARDS];
        // A poisoned shard means another task panicked mid-record; the counts are still
        // usable, so keep recording.
        let mut histogram = shard.lock().unwrap_or_else(|p| p.into_inner());
        for &micros in &self.samples {
            histogram.saturating_record(micros.clamp(1, MAX_LATENCY_US));
        }
        self.samples.clear();
    }
}

/// The body of frame `seq` sent at `sent`: sequence number, send time, then filler.
fn fill_body(body: &mut [u8], seq: u64, sent: u64) {
    body[..8].copy_from_slice(&seq.to_be_bytes());
    body[8..STAMP].copy_from_slice(&sent.to_be_bytes());
    let mut byte = seq as u8;
    for b in &mut body[STAMP..] {
        *b = byte;
        byte = byte.wrapping_add(1);
    }
}

/// CPU counters at one instant, for the accounting of the measured window.
#[derive(Default, Clone, Copy)]
struct Sample {
    /// This process's CPU seconds (user + system).
    client: f64,
    /// The server's CPU seconds, when its pid is known and readable.
    server: Option<f64>,
    /// The server's context switches (all threads, voluntary and not).
    server_switches: Option<u64>,
    /// CPU seconds the whole machine spent busy since boot, when `/proc/stat` is readable.
    busy: Option<f64>,
    /// When the sample was taken.
    at: Option<std::time::Instant>,
}

/// What the window cost: differences of two samples.
#[derive(Default)]
struct Usage {
    seconds: f64,
    client: f64,
    server: Option<f64>,
    server_switches: Option<u64>,
    /// Busy CPU seconds not spent by the client or the server (interference).
    other: Option<f64>,
}

impl Sample {
    fn take(server_pid: Option<u32>) -> Self {
        Self {
            client: own_cpu_seconds(),
            server: server_pid.and_then(process_cpu_seconds),
            server_switches: server_pid.and_then(process_switches),
            busy: machine_busy_seconds(),
            at: Some(std::time::Instant::now()),
        }
    }

    fn since(&self, start: &Sample) -> Usage {
        let client = self.client - start.client;
        let server = self.server.zip(start.server).map(|(b, a)| b - a);
        let busy = self.busy.zip(start.busy).map(|(b, a)| b - a);
        Usage {
            seconds: self
                .at
                .zip(start.at)
                .map_or(0.0, |(b, a)| b.duration_since(a).as_secs_f64()),
            client,
            server,
            server_switches: self
                .server_switches
                .zip(start.server_switches)
                .map(|(b, a)| b.saturating_sub(a)),
            other: busy.map(|busy| (busy - client - server.unwrap_or(0.0)).max(0.0)),
        }
    }
}

/// CPU time (user + system) this process has used so far, in seconds.
fn own_cpu_seconds() -> f64 {
    // SAFETY: getrusage only writes into the zeroed struct we own.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        if libc::getrusage(libc::RUSAGE_SELF, &mut usage) != 0 {
            return 0.0;
        }
        usage
    };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(usage.ru_utime) + secs(usage.ru_stime)
}

/// Clock ticks per second of the times in `/proc`.
fn clock_ticks() -> f64 {
    // SAFETY: sysconf has no memory effects.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if hz > 0 {
        hz as f64
    } else {
        100.0
    }
}

/// CPU seconds (user + system) of process `pid`, from `/proc/PID/stat`.
fn process_cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces; the fields after its closing parenthesis do not.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / clock_ticks())
}

/// Context switches, voluntary and not, of every thread of process `pid`.
fn process_switches(pid: u32) -> Option<u64> {
    let mut total = 0;
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).ok()? {
        let Ok(task) = task else { continue };
        let Ok(status) = std::fs::read_to_string(task.path().join("status")) else {
            continue; // the thread ended meanwhile
        };
        total += status
            .lines()
            .filter(|l| l.contains("ctxt_switches:"))
            .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
            .sum::<u64>();
    }
    Some(total)
}

/// CPU seconds the machine spent busy since boot (all CPUs), from `/proc/stat`.
fn machine_busy_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let ticks: Vec<f64> = line
        .split_whitespace()
        .skip(1)
        .map(|f| f.parse().unwrap_or(0.0))
        .collect();
    // user nice system idle iowait irq softirq steal: all but idle and iowait are busy.
    let busy: f64 = [0, 1, 2, 5, 6, 7]
        .iter()
        .filter_map(|&i| ticks.get(i))
        .sum();
    Some(busy / clock_ticks())
}

fn nanos_since(base: Instant, t: Instant) -> u64 {
    u64::try_from(t.saturating_duration_since(base).as_nanos()).unwrap_or(u64::MAX)
}

fn report(
    args: &Args,
    threads: usize,
    frames: u64,
    h: &Histogram<u64>,
    errors: &Errors,
    usage: &Usage,
) -> Result<(), Box<dyn std::error::Error>> {
    let round2 = |x: f64| (x * 100.0).round() / 100.0;
    let server_us_per_frame = usage
        .server
        .filter(|_| frames > 0)
        .map(|s| round2(s * 1e6 / frames as f64));
    let fps = frames as f64 / args.duration;
    let q = |p: f64| {
        if h.is_empty() {
            0
        } else {
            h.value_at_quantile(p)
        }
    };
    let (p50, p90, p99, p999) = (q(0.50), q(0.90), q(0.99), q(0.999));
    let max = if h.is_empty() { 0 } else { h.max() };
    let mean = if h.is_empty() { 0.0 } else { h.mean() };
    let mut out = std::io::stdout().lock();
    if args.json {
        let line = serde_json::json!({
            "addr": args.addr.to_string(),
            "conns": args.conns,
            "inflight": args.inflight,
            "size": args.size,
            "threads": threads,
            "warmup_s": args.warmup,
            "duration_s": args.duration,
            "frames": frames,
            "frames_per_sec": fps.round() as u64,
            "p50_us": p50,
            "p90_us": p90,
            "p99_us": p99,
            "p999_us": p999,
            "max_us": max,
            "mean_us": (mean * 10.0).round() / 10.0,
            "window_s": round2(usage.seconds),
            "server_cpu_s": usage.server.map(round2),
            "server_us_per_frame": server_us_per_frame,
            "server_ctx_switches": usage.server_switches,
            "client_cpu_s": round2(usage.client),
            "other_cpu_s": usage.other.map(round2),
            "errors": errors.total(),
            "error_kinds": {
                "connect": errors.connect.load(Ordering::Relaxed),
                "io": errors.io.load(Ordering::Relaxed),
                "eof": errors.eof.load(Ordering::Relaxed),
                "framing": errors.framing.load(Ordering::Relaxed),
                "mismatch": errors.mismatch.load(Ordering::Relaxed),
                "stalled": errors.stalled.load(Ordering::Relaxed),
            },
        });
        writeln!(out, "{line}")?;
    } else {
        writeln!(
            out,
            "echo_load: {} conns x {} in flight, {} B frames, {} threads, {}s warm-up + {}s measured against {}",
            args.conns, args.inflight, args.size, threads, args.warmup, args.duration, args.addr
        )?;
        writeln!(out, "  frames:     {frames} ({fps:.0} frames/s)")?;
        writeln!(
            out,
            "  latency µs: p50 {p50}  p90 {p90}  p99 {p99}  p99.9 {p999}  max {max}  (mean {mean:.1})"
        )?;
        let opt = |x: Option<f64>| x.map_or("?".to_string(), |x| format!("{x:.2}"));
        writeln!(
            out,
            "  cpu (measured {:.2}s window): server {}s ({} µs/frame, {} context switches), client {:.2}s, other processes {}s",
            usage.seconds,
            opt(usage.server),
            opt(server_us_per_frame),
            usage.server_switches.map_or("?".to_string(), |n| n.to_string()),
            usage.client,
            opt(usage.other),
        )?;
        writeln!(
            out,
            "  errors:     {} (connect {}, io {}, eof {}, framing {}, mismatch {}, stalled {})",
            errors.total(),
            errors.connect.load(Ordering::Relaxed),
            errors.io.load(Ordering::Relaxed),
            errors.eof.load(Ordering::Relaxed),
            errors.framing.load(Ordering::Relaxed),
            errors.mismatch.load(Ordering::Relaxed),
            errors.stalled.load(Ordering::Relaxed),
        )?;
    }
    out.flush()?;
    Ok(())
}
