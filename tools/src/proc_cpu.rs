//! CPU time of other processes (the server, the database) over a measured window, read
//! from `/proc/<pid>/stat` (user + system time of all their threads): what `chatload
//! relay --cpu-of NAME=PID` reports per relayed message.
//!
//! [`watch`] starts a thread that samples each process when the warm-up ends and again
//! when the measured window ends; started just before the run, its clock lags the run's
//! by the time a thread takes to start. Readings have the kernel's tick resolution
//! (10 ms at 100 Hz), so a window of a few seconds is needed for a figure per message.
//! May touch: `/proc` (read only) and the thread it starts.

use std::thread::JoinHandle;
use std::time::Duration;

use crate::error::LoadError;

/// CPU seconds (user + system) process `pid` has used so far; `None` if it is gone.
pub fn cpu_secs_of(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces: count fields
    // after its closing parenthesis, where field 3 (state) starts.
    let (_, rest) = stat.rsplit_once(')')?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / ticks_per_sec())
}

/// Clock ticks per second of `/proc` times.
fn ticks_per_sec() -> f64 {
    // SAFETY: sysconf reads a configuration value; it takes no pointers.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if hz > 0 {
        hz as f64
    } else {
        100.0
    }
}

/// One watched process's CPU seconds over the window (`None`: it could not be read).
pub type Reading = (String, Option<f64>);

/// Samples each of `processes` (name, pid) after `warmup` and again `duration` later;
/// the thread's result is each one's CPU seconds in between.
pub fn watch(
    processes: Vec<(String, u32)>,
    warmup: Duration,
    duration: Duration,
) -> Result<JoinHandle<Vec<Reading>>, LoadError> {
    std::thread::Builder::new()
        .name("chatload-cpu".into())
        .spawn(move || {
            std::thread::sleep(warmup);
            let before: Vec<Option<f64>> =
                processes.iter().map(|(_, pid)| cpu_secs_of(*pid)).collect();
            std::thread::sleep(duration);
            processes
                .into_iter()
                .zip(before)
                .map(|((name, pid), before)| {
                    let used = before.zip(cpu_secs_of(pid)).map(|(a, b)| b - a);
                    (name, used)
                })
                .collect()
        })
        .map_err(LoadError::io("spawn the CPU watcher"))
}

/// Parses `NAME=PID`.
pub fn parse_watch(spec: &str) -> Result<(String, u32), String> {
    let (name, pid) = spec
        .split_once('=')
        .ok_or_else(|| format!("--cpu-of wants NAME=PID, got {spec:?}"))?;
    let pid = pid
        .parse()
        .map_err(|_| format!("--cpu-of {spec:?}: {pid:?} is not a process id"))?;
    if name.is_empty() {
        return Err(format!("--cpu-of {spec:?}: the name is empty"));
    }
    Ok((name.to_owned(), pid))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process_and_parses_specs() {
        let me = std::process::id();
        let a = cpu_secs_of(me).unwrap();
        let mut x = 0u64;
        for i in 0..30_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        assert!(x != 1);
        let b = cpu_secs_of(me).unwrap();
        assert!(b >= a && b > 0.0, "{a} {b}");
        assert_eq!(cpu_secs_of(u32::MAX), None);
        assert_eq!(parse_watch("server=42"), Ok(("server".into(), 42)));
        assert!(parse_watch("server").is_err());
        assert!(parse_watch("=4").is_err());
        assert!(parse_watch("s=x").is_err());
    }
}
