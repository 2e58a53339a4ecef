//! `chatload`: the load generator of the chat server.
//!
//! ```text
//! chatload relay  --conns C --duration S [--window W | --rate R] [--warmup S]
//!                 [--floor | --ws]
//! chatload conns  --conns C --hold S [--procs N] [--server-pid PID]
//! chatload login  --conns C [--demo-users]
//! chatload abuse  [--attackers K] [--conns C] [--rate R] --duration S [--warmup S]
//!                 [--server-pid PID]
//! chatload argon2-rate [--secs S] [--threads N]
//! common: --addr HOST:PORT (127.0.0.1:12345) --prefix P --password PW
//!         --reactors N --workers N --no-progress --no-spread
//! ```
//!
//! `--addr` may be repeated to load the nodes of a cluster (`make cluster`): `relay` puts
//! the two friends of each pair on different nodes, so every message crosses nodes;
//! `conns` and `login` spread their connections over the nodes; `abuse` and
//! `relay --floor` take one address. `relay --ws` connects over WebSocket: each `--addr`
//! is then a node's HTTP address (`startserv --http-port H`) and every connection opens
//! `ws://ADDR/ws`. For example:
//!
//! ```text
//! chatload relay --addr 127.0.0.1:7001 --addr 127.0.0.1:7002 --addr 127.0.0.1:7003 \
//!                --conns 1000 --duration 10
//! ```
//!
//! Each subcommand draws a progress bar on stderr (only on a terminal), prints a summary
//! table on stderr and one JSON line with every figure on stdout. Exit status: 0 when the
//! run was clean, 2 when it completed but an integrity check failed (lost or duplicated
//! messages, timeline gaps or reorders, failed logins, malformed frames...), 1 when it could not run (the JSON line
//! is then `{"error": ...}`). See the `tools` library for how each scenario works.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use serde_json::json;
use tools::args::{AbuseArgs, Argon2Args, ConnsArgs, LoginArgs, RelayArgs};
use tools::report::{emit_json, Report};
use tools::{abuse, argon2_rate, conns, login, relay, LoadError};

/// Load generator for the chat server.
#[derive(Parser, Debug)]
#[command(name = "chatload", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Friends in pairs send to each other: acked and delivered msg/s, send→ack and
    /// send→delivery latency, exactly-once delivery and timeline (pos) checks; over TCP,
    /// or over WebSocket with --ws (--addr is then the HTTP port).
    Relay(RelayArgs),
    /// Open, log in and hold many idle connections (optionally over several processes).
    Conns(ConnsArgs),
    /// A login storm: C clients log in at once.
    Login(LoginArgs),
    /// The relay at a fixed rate plus a pinger, first alone, then with K attackers
    /// (big frames never read, pipelined logins, half-open frames): latency, ping,
    /// server RSS and losses side by side.
    Abuse(AbuseArgs),
    /// Raw argon2id hashes per second on all cores (default server parameters).
    #[command(name = "argon2-rate")]
    Argon2Rate(Argon2Args),
}

fn run(cli: Cli) -> Result<Option<Report>, LoadError> {
    match cli.command {
        Cmd::Relay(args) => {
            let common = args.common.resolve()?;
            let plan = args.validate().map_err(LoadError::Args)?;
            relay::run(&common, &plan).map(Some)
        }
        Cmd::Conns(args) => {
            let common = args.common.resolve()?;
            let plan = args.validate().map_err(LoadError::Args)?;
            let child = args.child;
            let report = conns::run(&common, &args, &plan)?;
            Ok((!child).then_some(report))
        }
        Cmd::Login(args) => {
            let common = args.common.resolve()?;
            let timeout = args.validate().map_err(LoadError::Args)?;
            login::run(&common, &args, timeout).map(Some)
        }
        Cmd::Abuse(args) => {
            let common = args.common.resolve()?;
            let plan = args.validate().map_err(LoadError::Args)?;
            abuse::run(&common, &plan).map(Some)
        }
        Cmd::Argon2Rate(args) => {
            let (secs, threads) = args.validate().map_err(LoadError::Args)?;
            argon2_rate::run(&args, secs, threads).map(Some)
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(None) => ExitCode::SUCCESS,
        Ok(Some(report)) => {
            report.print();
            if report.clean {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(2)
            }
        }
        Err(e) => {
            eprintln!("chatload: {e}");
            emit_json(&json!({ "error": e.to_string() }));
            ExitCode::FAILURE
        }
    }
}
