//! `startserv [PORT] [--config FILE] [flags]`: the chat server's binary.
//!
//! Reads the configuration (a bad value stops start-up with one line naming the key),
//! sets up logging, then runs the server until SIGINT or SIGTERM.

use std::process::ExitCode;

use chat::config::Config;

fn main() -> ExitCode {
    pin_mmap_threshold();
    let config = match Config::from_args() {
        Ok(config) => config,
        Err(e) => e.exit(),
    };
    let _logger = match chat::logging::init(&config.log, &config.log_dir()) {
        Ok(handle) => handle, // kept alive until main returns: dropping it flushes the log
        Err(e) => {
            eprintln!("startserv: cannot set up logging: {e}");
            return ExitCode::FAILURE;
        }
    };
    chat::logging::log_panics();
    match chat::server::run(config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            log::error!("startserv: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Serves allocations of 32 KiB and more (argon2's memory blocks, large frames) with
/// `mmap`, returned to the system when freed. By default glibc raises this threshold
/// after the first large free; the large transient buffers then come from the heap and,
/// interleaved with long-lived per-connection state, leave it fragmented: idle
/// connections measured 12–41 KB of resident memory each instead of about 2 KB.
#[cfg(target_env = "gnu")]
fn pin_mmap_threshold() {
    // SAFETY: `mallopt` only tunes the allocator. It is called first thing in `main`,
    // before any other thread exists, with a parameter glibc defines and an in-range
    // value; it reports failure through its return value and has no other effect.
    let pinned = unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, 32 * 1024) };
    if pinned != 1 {
        eprintln!("startserv: could not set the allocator's mmap threshold; continuing");
    }
}

#[cfg(not(target_env = "gnu"))]
fn pin_mmap_threshold() {}
