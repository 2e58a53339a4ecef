//! `chatload argon2-rate`: raw argon2id hashes per second on all cores.
//!
//! The yardstick of the login storm at the default cost: a password login costs one
//! argon2id verification, which is one hash with the stored parameters. Each thread
//! hashes a fixed password with a fixed salt in a loop (argon2id v0x13, 32-byte output,
//! the server's default parameters unless told otherwise) for `--secs`, in one scratch
//! buffer allocated once per thread (the fastest way the argon2 crate offers, and what the
//! server does); the report is hashes/s over all threads, so `logins/s ÷ hashes/s` says
//! how much of the hashing capacity the server turns into logins.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use argon2::{Algorithm, Argon2, Block, Params, Version};
use serde_json::json;

use crate::args::Argon2Args;
use crate::error::LoadError;
use crate::report::{bar, num1, Report, Table};

/// Runs the measurement for `secs` on `threads` threads.
pub fn run(args: &Argon2Args, secs: Duration, threads: usize) -> Result<Report, LoadError> {
    let params = Params::new(args.memory_kib, args.iterations, args.parallelism, Some(32))
        .map_err(|e| LoadError::Args(format!("argon2 parameters: {e}")))?;
    let stop = Arc::new(AtomicBool::new(false));
    let hashes = Arc::new(AtomicU64::new(0));
    let failures = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let mut handles = Vec::new();
    for t in 0..threads {
        let (stop, hashes, failures) = (
            Arc::clone(&stop),
            Arc::clone(&hashes),
            Arc::clone(&failures),
        );
        let params = params.clone();
        let handle = std::thread::Builder::new()
            .name(format!("argon2-{t}"))
            .spawn(move || {
                let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
                let mut out = [0u8; 32];
                let mut blocks = vec![Block::default(); argon.params().block_count()];
                while !stop.load(Ordering::Relaxed) {
                    match argon.hash_password_into_with_memory(
                        b"chatload-password",
                        b"chatload-salt-16",
                        &mut out,
                        &mut blocks,
                    ) {
                        Ok(()) => hashes.fetch_add(1, Ordering::Relaxed),
                        Err(_) => failures.fetch_add(1, Ordering::Relaxed),
                    };
                }
            })
            .map_err(LoadError::io("spawn a hashing thread"))?;
        handles.push(handle);
    }
    let pb = bar(secs.as_millis() as u64, "argon2", !args.no_progress);
    while start.elapsed() < secs {
        std::thread::sleep(Duration::from_millis(50));
        pb.set_position(start.elapsed().as_millis() as u64);
    }
    stop.store(true, Ordering::Relaxed);
    for h in handles {
        let _ = h.join();
    }
    pb.finish_and_clear();
    let elapsed = start.elapsed().as_secs_f64();
    let n = hashes.load(Ordering::Relaxed);
    let rate = n as f64 / elapsed;
    let failed = failures.load(Ordering::Relaxed);
    let json = json!({
        "scenario": "argon2-rate",
        "threads": threads,
        "memory_kib": args.memory_kib,
        "iterations": args.iterations,
        "parallelism": args.parallelism,
        "hashes": n,
        "failed": failed,
        "secs": num1(elapsed),
        "hashes_per_sec": num1(rate),
        "ms_per_hash_per_thread": num1(elapsed * 1000.0 * threads as f64 / n.max(1) as f64),
    });
    let mut table = Table::new(format!(
        "chatload argon2-rate (m={} KiB, t={}, p={}, {threads} threads)",
        args.memory_kib, args.iterations, args.parallelism
    ));
    table
        .row("hashes", n)
        .row("hashes/s", format!("{rate:.1}"))
        .row("failed", failed);
    Ok(Report {
        table,
        json,
        clean: failed == 0,
    })
}
