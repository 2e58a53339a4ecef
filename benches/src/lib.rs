//! Benchmark programs live in `src/bin/`; this library holds what two of them share.

/// A multi-threaded tokio runtime with `threads` workers (default: the number of cores)
/// named `name`, after lifting the soft descriptor limit (often 1024) to the hard one:
/// thousands of connections need that many descriptors. Returns the thread count used.
pub fn tokio_runtime(
    threads: Option<usize>,
    name: &str,
) -> Result<(tokio::runtime::Runtime, usize), Box<dyn std::error::Error>> {
    rlimit::increase_nofile_limit(u64::MAX)?;
    let threads = threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .thread_name(name)
        .enable_all()
        .build()?;
    Ok((runtime, threads))
}
