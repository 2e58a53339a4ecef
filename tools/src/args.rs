//! Command-line options of the chatload subcommands, and their validation.
//!
//! Every subcommand flattens [`Common`] (server addresses, user prefix, password, engine
//! threads, progress bars, source-address spreading). `validate` methods turn the raw
//! options into checked values and explain what is wrong in one line.
//!
//! `--addr` may be given several times: the nodes of one cluster (`docs/cluster.md`),
//! which share a database. `relay` places each pair of friends on two different nodes,
//! `conns` and `login` spread their connections over the nodes in turn; `abuse` and
//! `relay --floor` take one address. `relay --ws` reads each `--addr` as a node's HTTP
//! address (`startserv --http-port`) and connects to its `/ws` endpoint instead.

use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

use clap::Args;

use crate::accounts::{self, Accounts, DEFAULT_PASSWORD};
use crate::attack::{AttackPlan, MAX_ATTACKERS};
use crate::client::{Threads, Transport};
use crate::error::LoadError;

/// Most `--addr` a run takes.
pub const MAX_NODES: usize = 64;

/// Options every subcommand takes.
#[derive(Args, Debug, Clone)]
pub struct Common {
    /// Server address, HOST:PORT; give it once per node to spread the load over the
    /// nodes of a cluster.
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:12345")]
    pub addr: Vec<String>,
    /// Username prefix (users are PREFIX_0, PREFIX_1, ...); default: derived from the time.
    #[arg(long)]
    pub prefix: Option<String>,
    /// Password of the generated users (8 to 128 bytes).
    #[arg(long, default_value = DEFAULT_PASSWORD)]
    pub password: String,
    /// Client engine reactor threads (default: half the cores, at least 1).
    #[arg(long)]
    pub reactors: Option<usize>,
    /// Client engine worker threads (default: the number of cores).
    #[arg(long)]
    pub workers: Option<usize>,
    /// Never draw progress bars (they are drawn only on a terminal anyway).
    #[arg(long)]
    pub no_progress: bool,
    /// Connect from the OS's default source address instead of spreading connections
    /// over 127.0.0.2..=127.0.0.254.
    #[arg(long)]
    pub no_spread: bool,
}

/// [`Common`], checked.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// The server: the first `--addr` (set-up work that may go to any node goes here).
    pub addr: SocketAddr,
    /// Every `--addr`, in the order given (at least one; one server may be given twice).
    pub addrs: Vec<SocketAddr>,
    /// The user prefix (given or generated).
    pub prefix: String,
    /// Password of generated users.
    pub password: String,
    /// Client engine threads.
    pub threads: Threads,
    /// Draw progress bars (on a terminal).
    pub progress: bool,
    /// Spread source addresses.
    pub spread: bool,
}

impl Resolved {
    /// The node of a scenario's `node`-th place: the addresses in turn.
    pub fn node_addr(&self, node: usize) -> SocketAddr {
        self.addrs[node % self.addrs.len()]
    }

    /// Fails unless exactly one `--addr` was given (`what` names the scenario).
    pub fn single_addr(&self, what: &str) -> Result<SocketAddr, LoadError> {
        if self.addrs.len() == 1 {
            Ok(self.addr)
        } else {
            Err(LoadError::Args(format!(
                "{what} takes one --addr, got {}",
                self.addrs.len()
            )))
        }
    }

    /// The generated accounts of this run.
    pub fn generated(&self) -> Accounts {
        Accounts::Generated {
            prefix: self.prefix.clone(),
            password: self.password.clone(),
        }
    }
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

impl Common {
    /// Resolves the addresses and checks prefix and password.
    pub fn resolve(&self) -> Result<Resolved, LoadError> {
        let mut addrs = Vec::with_capacity(self.addr.len());
        for a in &self.addr {
            let addr = a
                .to_socket_addrs()
                .map_err(|e| LoadError::Args(format!("--addr {a}: {e}")))?
                .next()
                .ok_or_else(|| LoadError::Args(format!("--addr {a}: no address")))?;
            addrs.push(addr);
        }
        let addr = *addrs
            .first()
            .ok_or_else(|| LoadError::Args("--addr: no address given".into()))?;
        if addrs.len() > MAX_NODES {
            return Err(LoadError::Args(format!(
                "at most {MAX_NODES} --addr, got {}",
                addrs.len()
            )));
        }
        let prefix = self.prefix.clone().unwrap_or_else(accounts::default_prefix);
        accounts::validate_prefix(&prefix).map_err(LoadError::Args)?;
        if !(8..=128).contains(&self.password.len()) {
            return Err(LoadError::Args("--password must be 8 to 128 bytes".into()));
        }
        let reactors = self.reactors.unwrap_or((cores() / 2).max(1));
        let workers = self.workers.unwrap_or(cores());
        if reactors == 0 || workers == 0 || reactors > 64 || workers > 256 {
            return Err(LoadError::Args(
                "--reactors must be 1..=64 and --workers 1..=256".into(),
            ));
        }
        Ok(Resolved {
            addr,
            addrs,
            prefix,
            password: self.password.clone(),
            threads: Threads { reactors, workers },
            progress: !self.no_progress,
            spread: !self.no_spread,
        })
    }
}

/// `chatload relay` options.
#[derive(Args, Debug, Clone)]
pub struct RelayArgs {
    /// Shared options.
    #[command(flatten)]
    pub common: Common,
    /// Connections (= users = senders), an even number: user 2k and 2k+1 are friends.
    #[arg(long, default_value_t = 1000)]
    pub conns: usize,
    /// Seconds measured (after the warm-up).
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Seconds of warm-up: sends are checked for exactly-once but not counted in rates.
    #[arg(long, default_value_t = 2.0)]
    pub warmup: f64,
    /// Closed loop: un-acked sends in flight per sender (the default, with 1).
    #[arg(long, conflicts_with = "rate")]
    pub window: Option<usize>,
    /// Open loop: messages per second in total, spread evenly over the senders; latency
    /// counts from each message's scheduled send time.
    #[arg(long)]
    pub rate: Option<f64>,
    /// Bytes of text per message (1..=4096).
    #[arg(long, default_value_t = 32)]
    pub size: usize,
    /// Seconds to wait after the run for outstanding acks and pushes.
    #[arg(long, default_value_t = 10.0)]
    pub drain: f64,
    /// Talk to `relay_floor` (binary protocol, no accounts) instead of startserv.
    #[arg(long)]
    pub floor: bool,
    /// Connect over WebSocket: every --addr is then a node's HTTP address (startserv
    /// --http-port H: --addr 127.0.0.1:H) and each connection opens ws://ADDR/ws. Set-up
    /// (register, login, friends) and the measured relay both go over it; everything
    /// else (pacing, latency, exactly-once and timeline checks, report) is unchanged.
    #[arg(long, conflicts_with = "floor")]
    pub ws: bool,
    /// Also report the CPU time of these processes over the measured window, per
    /// relayed message, e.g. `--cpu-of server=1234 --cpu-of mariadbd=567` (repeatable).
    #[arg(long = "cpu-of", value_name = "NAME=PID")]
    pub cpu_of: Vec<String>,
    /// Seconds the set-up (register, login, friends) may take.
    #[arg(long, default_value_t = 120.0)]
    pub setup_timeout: f64,
}

/// How relay senders pace themselves.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Pace {
    /// `window` un-acked sends in flight per sender.
    Closed {
        /// Sends in flight per sender.
        window: usize,
    },
    /// `rate` messages per second in total.
    Open {
        /// Messages per second, all senders together.
        rate: f64,
    },
}

/// [`RelayArgs`], checked.
#[derive(Debug, Clone)]
pub struct RelayPlan {
    /// Connections.
    pub conns: usize,
    /// Measured time.
    pub duration: Duration,
    /// Warm-up time.
    pub warmup: Duration,
    /// Closed or open loop.
    pub pace: Pace,
    /// Text bytes per message.
    pub size: usize,
    /// Drain wait.
    pub drain: Duration,
    /// `relay_floor` mode.
    pub floor: bool,
    /// How the connections reach the nodes (`--ws`: WebSocket).
    pub transport: Transport,
    /// Set-up time limit.
    pub setup_timeout: Duration,
    /// Processes whose CPU time over the measured window is reported (`--cpu-of`).
    pub cpu_of: Vec<(String, u32)>,
}

fn secs(name: &str, v: f64, min: f64) -> Result<Duration, String> {
    if v.is_finite() && v >= min && v <= 86_400.0 {
        Ok(Duration::from_secs_f64(v))
    } else {
        Err(format!("--{name} must be {min} to 86400 seconds, got {v}"))
    }
}

impl RelayArgs {
    /// Checks the relay options.
    pub fn validate(&self) -> Result<RelayPlan, String> {
        if self.conns < 2 || self.conns & 1 != 0 {
            return Err(format!(
                "--conns must be an even number >= 2 (users are paired), got {}",
                self.conns
            ));
        }
        if self.floor && self.conns > u32::MAX as usize - 1 {
            return Err("--conns too large for --floor".into());
        }
        if self.floor && self.common.addr.len() > 1 {
            return Err("--floor takes one --addr (relay_floor is a single process)".into());
        }
        let pace = match (self.window, self.rate) {
            (Some(_), Some(_)) => return Err("give --window or --rate, not both".into()),
            (_, Some(rate)) if !(rate.is_finite() && rate > 0.0 && rate <= 10_000_000.0) => {
                return Err(format!("--rate must be > 0 and <= 10000000, got {rate}"))
            }
            (_, Some(rate)) => Pace::Open { rate },
            (Some(w), None) if !(1..=10_000).contains(&w) => {
                return Err(format!("--window must be 1..=10000, got {w}"))
            }
            (w, None) => Pace::Closed {
                window: w.unwrap_or(1),
            },
        };
        if !(1..=4096).contains(&self.size) {
            return Err(format!("--size must be 1..=4096, got {}", self.size));
        }
        Ok(RelayPlan {
            conns: self.conns,
            duration: secs("duration", self.duration, 0.1)?,
            warmup: secs("warmup", self.warmup, 0.0)?,
            pace,
            size: self.size,
            drain: secs("drain", self.drain, 0.0)?,
            floor: self.floor,
            transport: if self.ws {
                Transport::WebSocket
            } else {
                Transport::Tcp
            },
            setup_timeout: secs("setup-timeout", self.setup_timeout, 1.0)?,
            cpu_of: self
                .cpu_of
                .iter()
                .map(|s| crate::proc_cpu::parse_watch(s))
                .collect::<Result<_, _>>()?,
        })
    }
}

/// `chatload abuse` options.
#[derive(Args, Debug, Clone)]
pub struct AbuseArgs {
    /// Shared options.
    #[command(flatten)]
    pub common: Common,
    /// Attackers, one source address each (127.0.1.1, 127.0.1.2, ...), of the three
    /// kinds in turn: big frames, pipelined logins, half-open frames.
    #[arg(long, default_value_t = 10)]
    pub attackers: usize,
    /// Relay connections (the normal load), an even number: users 2k and 2k+1 are friends.
    #[arg(long, default_value_t = 1000)]
    pub conns: usize,
    /// Messages per second offered by the relay connections in total (open loop).
    #[arg(long, default_value_t = 10_000.0)]
    pub rate: f64,
    /// Seconds measured in each phase (after its warm-up).
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Seconds of warm-up at the start of each phase (the attack starts with it).
    #[arg(long, default_value_t = 2.0)]
    pub warmup: f64,
    /// Bytes of text per relay message (1..=4096).
    #[arg(long, default_value_t = 32)]
    pub size: usize,
    /// Seconds to wait after each phase for outstanding acks and pushes.
    #[arg(long, default_value_t = 10.0)]
    pub drain: f64,
    /// PID of the server: its VmRSS is sampled every 100 ms (peak per phase).
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// Milliseconds between the pinger's pings.
    #[arg(long, default_value_t = 50.0)]
    pub ping_ms: f64,
    /// Frames per burst of a pipelined-login attacker.
    #[arg(long, default_value_t = 70_000)]
    pub pipeline: usize,
    /// Connections held by a half-open attacker.
    #[arg(long, default_value_t = 8)]
    pub half_open: usize,
    /// Seconds the set-up (register, login, friends) may take.
    #[arg(long, default_value_t = 120.0)]
    pub setup_timeout: f64,
}

/// [`AbuseArgs`], checked.
#[derive(Debug, Clone, PartialEq)]
pub struct AbusePlan {
    /// Relay connections.
    pub conns: usize,
    /// Offered msg/s, all relay senders together.
    pub rate: f64,
    /// Measured time per phase.
    pub duration: Duration,
    /// Warm-up per phase.
    pub warmup: Duration,
    /// Text bytes per message.
    pub size: usize,
    /// Drain wait per phase.
    pub drain: Duration,
    /// The server's PID, for VmRSS.
    pub server_pid: Option<u32>,
    /// Time between pings.
    pub ping_interval: Duration,
    /// The attackers.
    pub attack: AttackPlan,
    /// Set-up time limit.
    pub setup_timeout: Duration,
}

impl AbuseArgs {
    /// Checks the abuse options.
    pub fn validate(&self) -> Result<AbusePlan, String> {
        if !(1..=MAX_ATTACKERS).contains(&self.attackers) {
            return Err(format!(
                "--attackers must be 1..={MAX_ATTACKERS} (one source address each), got {}",
                self.attackers
            ));
        }
        if self.conns < 2 || self.conns & 1 != 0 {
            return Err(format!(
                "--conns must be an even number >= 2 (users are paired), got {}",
                self.conns
            ));
        }
        if !(self.rate.is_finite() && self.rate > 0.0 && self.rate <= 10_000_000.0) {
            return Err(format!(
                "--rate must be > 0 and <= 10000000, got {}",
                self.rate
            ));
        }
        if !(1..=4096).contains(&self.size) {
            return Err(format!("--size must be 1..=4096, got {}", self.size));
        }
        if !(self.ping_ms.is_finite() && (1.0..=10_000.0).contains(&self.ping_ms)) {
            return Err(format!(
                "--ping-ms must be 1 to 10000, got {}",
                self.ping_ms
            ));
        }
        if !(1..=1_000_000).contains(&self.pipeline) {
            return Err(format!(
                "--pipeline must be 1..=1000000, got {}",
                self.pipeline
            ));
        }
        if !(1..=256).contains(&self.half_open) {
            return Err(format!(
                "--half-open must be 1..=256, got {}",
                self.half_open
            ));
        }
        Ok(AbusePlan {
            conns: self.conns,
            rate: self.rate,
            duration: secs("duration", self.duration, 0.1)?,
            warmup: secs("warmup", self.warmup, 0.0)?,
            size: self.size,
            drain: secs("drain", self.drain, 0.0)?,
            server_pid: self.server_pid,
            ping_interval: Duration::from_secs_f64(self.ping_ms / 1000.0),
            attack: AttackPlan {
                attackers: self.attackers,
                pipeline: self.pipeline,
                half_open: self.half_open,
            },
            setup_timeout: secs("setup-timeout", self.setup_timeout, 1.0)?,
        })
    }
}

/// `chatload conns` options.
#[derive(Args, Debug, Clone)]
pub struct ConnsArgs {
    /// Shared options.
    #[command(flatten)]
    pub common: Common,
    /// Connections to open and log in (all processes together).
    #[arg(long, default_value_t = 1000)]
    pub conns: usize,
    /// Seconds to hold them once every process is logged in.
    #[arg(long, default_value_t = 40.0)]
    pub hold: f64,
    /// Processes: the parent forks/execs this many children, each with a share of --conns
    /// (one process can hold at most its RLIMIT_NOFILE hard limit of sockets).
    #[arg(long, default_value_t = 1)]
    pub procs: usize,
    /// Seconds between pings on every connection while holding.
    #[arg(long, default_value_t = 30.0)]
    pub ping_interval: f64,
    /// Connections being set up (connect + login) at once, per process.
    #[arg(long, default_value_t = 500)]
    pub concurrency: usize,
    /// Log in as the demo users of sql/demo.sql (demo00001.., password demo-password).
    #[arg(long)]
    pub demo_users: bool,
    /// The generated accounts exist already: do not register them.
    #[arg(long)]
    pub skip_register: bool,
    /// PID of the server, to report its VmRSS before and after (growth per connection).
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// Seconds the connect+login phase may take.
    #[arg(long, default_value_t = 300.0)]
    pub login_timeout: f64,
    /// Internal: run as a child of `--procs` (JSON lines on stdout, "stop" on stdin).
    #[arg(long, hide = true)]
    pub child: bool,
    /// Internal: first account (and source address) index of this child.
    #[arg(long, hide = true, default_value_t = 0)]
    pub offset: usize,
}

/// [`ConnsArgs`], checked.
#[derive(Debug, Clone)]
pub struct ConnsPlan {
    /// Connections for this process (all processes for the parent).
    pub conns: usize,
    /// Hold time.
    pub hold: Duration,
    /// Processes.
    pub procs: usize,
    /// Ping period.
    pub ping_interval: Duration,
    /// Set-ups in flight.
    pub concurrency: usize,
    /// Login phase limit.
    pub login_timeout: Duration,
}

impl ConnsArgs {
    /// Checks the conns options.
    pub fn validate(&self) -> Result<ConnsPlan, String> {
        if self.conns == 0 {
            return Err("--conns must be at least 1".into());
        }
        if !(1..=64).contains(&self.procs) {
            return Err(format!("--procs must be 1..=64, got {}", self.procs));
        }
        if self.procs > self.conns {
            return Err("--procs must not exceed --conns".into());
        }
        if self.child && self.procs != 1 {
            return Err("a child process runs with --procs 1".into());
        }
        if self.demo_users && self.offset + self.conns > accounts::DEMO_USERS {
            return Err(format!(
                "--demo-users: sql/demo.sql has {} users",
                accounts::DEMO_USERS
            ));
        }
        if self.concurrency == 0 {
            return Err("--concurrency must be at least 1".into());
        }
        Ok(ConnsPlan {
            conns: self.conns,
            hold: secs("hold", self.hold, 0.0)?,
            procs: self.procs,
            ping_interval: secs("ping-interval", self.ping_interval, 0.1)?,
            concurrency: self.concurrency,
            login_timeout: secs("login-timeout", self.login_timeout, 1.0)?,
        })
    }
}

/// `chatload login` options.
#[derive(Args, Debug, Clone)]
pub struct LoginArgs {
    /// Shared options.
    #[command(flatten)]
    pub common: Common,
    /// Clients logging in at once.
    #[arg(long, default_value_t = 1000)]
    pub conns: usize,
    /// Log in as the demo users of sql/demo.sql (at most 5,000; hashed at the default cost).
    #[arg(long)]
    pub demo_users: bool,
    /// The generated accounts exist already: do not register them.
    #[arg(long)]
    pub skip_register: bool,
    /// Seconds the storm may take before the missing logins count as failed.
    #[arg(long, default_value_t = 300.0)]
    pub timeout: f64,
}

impl LoginArgs {
    /// Checks the login options; returns the storm's time limit.
    pub fn validate(&self) -> Result<Duration, String> {
        if self.conns == 0 {
            return Err("--conns must be at least 1".into());
        }
        if self.demo_users && self.conns > accounts::DEMO_USERS {
            return Err(format!(
                "--demo-users: sql/demo.sql has {} users",
                accounts::DEMO_USERS
            ));
        }
        secs("timeout", self.timeout, 1.0)
    }
}

/// `chatload argon2-rate` options.
#[derive(Args, Debug, Clone)]
pub struct Argon2Args {
    /// Seconds to hash for.
    #[arg(long, default_value_t = 5.0)]
    pub secs: f64,
    /// Hashing threads (default: the number of cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Memory cost in KiB (default: the server's default, 19456).
    #[arg(long, default_value_t = 19_456)]
    pub memory_kib: u32,
    /// Passes (default: the server's default, 2).
    #[arg(long, default_value_t = 2)]
    pub iterations: u32,
    /// Lanes (default: the server's default, 1).
    #[arg(long, default_value_t = 1)]
    pub parallelism: u32,
    /// Never draw a progress bar.
    #[arg(long)]
    pub no_progress: bool,
}

impl Argon2Args {
    /// Checks the options; returns (duration, threads).
    pub fn validate(&self) -> Result<(Duration, usize), String> {
        let threads = self.threads.unwrap_or_else(cores);
        if !(1..=1024).contains(&threads) {
            return Err(format!("--threads must be 1..=1024, got {threads}"));
        }
        Ok((secs("secs", self.secs, 0.1)?, threads))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct R {
        #[command(flatten)]
        a: RelayArgs,
    }

    fn relay(args: &[&str]) -> Result<RelayPlan, String> {
        let mut all = vec!["relay"];
        all.extend_from_slice(args);
        R::try_parse_from(all)
            .map_err(|e| e.to_string())?
            .a
            .validate()
    }

    #[test]
    fn relay_arguments_are_checked() {
        let p = relay(&["--conns", "10"]).unwrap();
        assert_eq!(p.pace, Pace::Closed { window: 1 });
        assert_eq!(
            relay(&["--conns", "10", "--rate", "2000"]).unwrap().pace,
            Pace::Open { rate: 2000.0 }
        );
        assert_eq!(
            relay(&["--conns", "10", "--window", "8"]).unwrap().pace,
            Pace::Closed { window: 8 }
        );
        assert_eq!(p.transport, Transport::Tcp);
        assert_eq!(
            relay(&["--conns", "10", "--ws"]).unwrap().transport,
            Transport::WebSocket
        );
        assert!(
            relay(&["--ws", "--floor"]).is_err(),
            "the floor has no WebSocket"
        );
        assert!(relay(&["--conns", "11"]).unwrap_err().contains("even"));
        assert!(relay(&["--conns", "0"]).is_err());
        assert!(relay(&["--window", "2", "--rate", "5"]).is_err());
        assert!(relay(&["--rate", "0"]).is_err());
        assert!(relay(&["--rate", "NaN"]).is_err());
        assert!(relay(&["--window", "0"]).is_err());
        assert!(relay(&["--size", "5000"]).is_err());
        assert!(relay(&["--duration", "-1"]).is_err());
        assert!(
            relay(&["--floor", "--addr", "127.0.0.1:1", "--addr", "127.0.0.1:2"])
                .unwrap_err()
                .contains("one --addr")
        );
    }

    #[derive(Parser)]
    struct A {
        #[command(flatten)]
        a: AbuseArgs,
    }

    fn abuse(args: &[&str]) -> Result<AbusePlan, String> {
        let mut all = vec!["abuse"];
        all.extend_from_slice(args);
        A::try_parse_from(all)
            .map_err(|e| e.to_string())?
            .a
            .validate()
    }

    #[test]
    fn abuse_arguments_are_checked() {
        let p = abuse(&[]).unwrap();
        assert_eq!(p.attack.attackers, 10);
        assert_eq!(p.attack.pipeline, 70_000);
        assert_eq!(p.conns, 1000);
        assert_eq!(p.rate, 10_000.0);
        assert_eq!(p.duration, Duration::from_secs(10));
        assert_eq!(p.ping_interval, Duration::from_millis(50));
        assert_eq!(p.server_pid, None);
        let p = abuse(&["--attackers", "254", "--server-pid", "42", "--rate", "500"]).unwrap();
        assert_eq!((p.attack.attackers, p.server_pid), (254, Some(42)));
        assert!(abuse(&["--attackers", "0"])
            .unwrap_err()
            .contains("--attackers"));
        assert!(abuse(&["--attackers", "255"])
            .unwrap_err()
            .contains("source address"));
        assert!(abuse(&["--conns", "7"]).unwrap_err().contains("even"));
        assert!(abuse(&["--rate", "0"]).is_err());
        assert!(abuse(&["--rate", "inf"]).is_err());
        assert!(abuse(&["--ping-ms", "0"]).is_err());
        assert!(abuse(&["--pipeline", "0"]).is_err());
        assert!(abuse(&["--half-open", "0"]).is_err());
        assert!(abuse(&["--duration", "0"]).is_err());
        assert!(abuse(&["--warmup", "-1"]).is_err());
        assert!(abuse(&["--size", "0"]).is_err());
        assert!(
            abuse(&["--window", "4"]).is_err(),
            "abuse is open loop only"
        );
    }

    #[test]
    fn common_options_are_checked() {
        let mut c = Common {
            addr: vec!["127.0.0.1:9".into()],
            prefix: Some("ok_prefix".into()),
            password: "long-enough".into(),
            reactors: None,
            workers: None,
            no_progress: false,
            no_spread: false,
        };
        let r = c.resolve().unwrap();
        assert_eq!(r.addr.port(), 9);
        assert_eq!(r.addrs, vec![r.addr]);
        assert!(r.threads.reactors >= 1 && r.threads.workers >= 1);
        c.password = "short".into();
        assert!(c.resolve().is_err());
        c.password = "long-enough".into();
        c.prefix = Some("bad prefix".into());
        assert!(c.resolve().is_err());
        c.prefix = None;
        assert!(c.resolve().is_ok(), "a generated prefix is valid");
        c.addr = vec!["no-port".into()];
        assert!(c.resolve().is_err());
        // The same address twice is two places on one server (tests use that).
        c.addr = vec!["127.0.0.1:7001".into(), "127.0.0.1:7001".into()];
        assert_eq!(c.resolve().unwrap().addrs.len(), 2);
        c.addr = vec![];
        assert!(c.resolve().is_err());
    }

    #[test]
    fn addr_may_be_given_once_per_node() {
        let p = R::try_parse_from(["relay"]).unwrap();
        let r = p.a.common.resolve().unwrap();
        assert_eq!(r.addrs, vec!["127.0.0.1:12345".parse().unwrap()]);
        assert!(r.single_addr("abuse").is_ok());

        let p = R::try_parse_from([
            "relay",
            "--addr",
            "127.0.0.1:7001",
            "--addr",
            "127.0.0.1:7002",
            "--addr",
            "127.0.0.1:7003",
        ])
        .unwrap();
        let r = p.a.common.resolve().unwrap();
        let ports: Vec<u16> = r.addrs.iter().map(|a| a.port()).collect();
        assert_eq!(ports, [7001, 7002, 7003]);
        assert_eq!(r.addr.port(), 7001);
        assert_eq!(r.node_addr(4).port(), 7002);
        assert!(r
            .single_addr("abuse")
            .unwrap_err()
            .to_string()
            .contains("abuse takes one --addr, got 3"));
    }
}
