//! Logging setup: flexi_logger writing asynchronously to a rotating file, duplicated to stderr.
//!
//! [`init`] installs the global logger once per process. Files are `startserv_rCURRENT.log`
//! in the log directory, rotated at 16 MiB into `startserv_r00000.log`, `..._r00001.log`, …,
//! keeping the 8 newest. Each line reads
//! `2025-01-31 12:00:00.123 +00:00 INFO  [chat-worker-3] chat::cmd::login: message`
//! (threads: `chat-main` accepts, `chat-sub-N` are the reactors, `chat-worker-N` run
//! commands, then `writer`, `writer-watchdog`, `delivery`, `sqlite-checkpoint`).

use std::io;
use std::path::{Path, PathBuf};

use flexi_logger::{
    Cleanup, Criterion, DeferredNow, Duplicate, FileSpec, FlexiLoggerError, LogSpecification,
    Logger, LoggerHandle, Naming, WriteMode,
};
use log::Record;

use crate::config::LogConfig;

/// Basename of the log files.
pub const LOG_BASENAME: &str = "startserv";
/// Size at which the current log file is rotated, in bytes (16 MiB).
pub const ROTATE_BYTES: u64 = 16 * 1024 * 1024;
/// Rotated log files kept; older ones are deleted.
pub const KEEP_FILES: usize = 8;

/// An error while setting up logging. Its `Display` is one line, ready to print.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// The log directory could not be created.
    #[error("log error: cannot create log directory {}: {source}", dir.display())]
    CreateDir {
        /// The directory that was to be created.
        dir: PathBuf,
        /// The underlying I/O error.
        source: io::Error,
    },
    /// `log.level` is not a valid level or flexi_logger spec.
    #[error("log error: log.level = {spec:?}: {source}")]
    Spec {
        /// The spec as configured.
        spec: String,
        /// flexi_logger's parse error.
        source: FlexiLoggerError,
    },
    /// The logger could not be started (log file not writable, or a logger is already
    /// installed in this process).
    #[error("log error: cannot start logging to {}: {source}", dir.display())]
    Start {
        /// The log directory.
        dir: PathBuf,
        /// flexi_logger's error.
        source: FlexiLoggerError,
    },
}

/// Installs the global logger: asynchronous writes to a rotating file in `dir` (basename
/// `startserv`, rotated at 16 MiB, 8 files kept), every line also written to stderr, filtered
/// by `cfg.level` (a level such as `info` or a spec such as `info,chat::store=debug`).
/// Creates `dir` if needed. `dir` is normally [`Config::log_dir`](crate::config::Config::log_dir);
/// `cfg.dir` is not consulted here.
///
/// Keep the returned [`LoggerHandle`] alive until the end of `main`: lines are written by a
/// background thread, and dropping the handle flushes them and stops that thread, so dropping
/// it early loses nothing but ends file logging, and never dropping it (e.g. `process::exit`)
/// can lose the last second of lines. Call [`LoggerHandle::flush`] before exiting abruptly.
///
/// Stderr copies are written synchronously by the thread that logs; keep hot paths at `debug`
/// or below if stderr is slow.
///
/// # Errors
/// [`LogError::CreateDir`] if `dir` cannot be created, [`LogError::Spec`] for a bad level,
/// [`LogError::Start`] if the file cannot be opened or a logger is already installed.
pub fn init(cfg: &LogConfig, dir: &Path) -> Result<LoggerHandle, LogError> {
    std::fs::create_dir_all(dir).map_err(|source| LogError::CreateDir {
        dir: dir.to_path_buf(),
        source,
    })?;
    let spec = LogSpecification::parse(cfg.level.trim()).map_err(|source| LogError::Spec {
        spec: cfg.level.clone(),
        source,
    })?;
    Logger::with(spec)
        .log_to_file(
            FileSpec::default()
                .directory(dir)
                .basename(LOG_BASENAME)
                .suppress_timestamp(),
        )
        .rotate(
            Criterion::Size(ROTATE_BYTES),
            Naming::Numbers,
            Cleanup::KeepLogFiles(KEEP_FILES),
        )
        .append()
        .write_mode(WriteMode::Async)
        .duplicate_to_stderr(Duplicate::All)
        .format(line_format)
        .start()
        .map_err(|source| LogError::Start {
            dir: dir.to_path_buf(),
            source,
        })
}

/// Sends every panic's message, place and (with `RUST_BACKTRACE=1`) backtrace to the log
/// instead of bare stderr, so that it lands in the log files with the thread's name. A
/// panic in a handler is then contained to its connection; one on an essential thread
/// ends the process (see [`reactor::spawn_essential`]).
pub fn log_panics() {
    std::panic::set_hook(Box::new(|info| {
        let backtrace = std::backtrace::Backtrace::capture();
        match backtrace.status() {
            std::backtrace::BacktraceStatus::Captured => {
                log::error!("panic: {info}\n{backtrace}")
            }
            _ => log::error!("panic: {info}"),
        }
    }));
}

/// `2025-01-31 12:00:00.123 +00:00 INFO  [thread] module::path: message`.
///
/// flexi_logger formats on the thread that logs (before handing the line to its writer
/// thread), so the thread name is the caller's.
fn line_format(w: &mut dyn io::Write, now: &mut DeferredNow, record: &Record) -> io::Result<()> {
    let thread = std::thread::current();
    write!(
        w,
        "{} {:<5} [{}] {}: {}",
        now.format("%Y-%m-%d %H:%M:%S%.3f %:z"),
        record.level(),
        thread.name().unwrap_or("<unnamed>"),
        record.module_path().unwrap_or("<unknown>"),
        record.args()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_spec_is_an_error_naming_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = LogConfig {
            level: "info,chat=loud".into(),
            dir: None,
        };
        let err = init(&cfg, dir.path()).err().expect("bad spec rejected");
        assert!(matches!(err, LogError::Spec { .. }), "{err}");
        assert!(
            err.to_string().starts_with("log error: log.level = "),
            "{err}"
        );
    }

    #[test]
    fn uncreatable_dir_is_named() {
        let file = tempfile::NamedTempFile::new().unwrap();
        let dir = file.path().join("logs");
        let err = init(&LogConfig::default(), &dir)
            .err()
            .expect("dir under a file rejected");
        assert!(matches!(err, LogError::CreateDir { .. }), "{err}");
        assert!(
            err.to_string().contains(&dir.display().to_string()),
            "{err}"
        );
    }

    #[test]
    fn writes_formatted_lines_to_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let logs = dir.path().join("nested/logs");
        let handle = match init(&LogConfig::default(), &logs) {
            Ok(handle) => handle,
            // Another test in this process installed a logger first: only one is allowed.
            Err(LogError::Start {
                source: FlexiLoggerError::Log(_),
                ..
            }) => return,
            Err(e) => panic!("{e}"),
        };
        std::thread::Builder::new()
            .name("log-test".into())
            .spawn(|| log::info!("hello from the logging test"))
            .unwrap()
            .join()
            .unwrap();
        log::debug!("filtered out at info");
        handle.flush();
        drop(handle);
        let text = std::fs::read_to_string(logs.join("startserv_rCURRENT.log")).unwrap();
        let line = text
            .lines()
            .find(|l| l.contains("hello from the logging test"))
            .unwrap_or_else(|| panic!("line missing from {text:?}"));
        assert!(
            line.contains(" INFO  [log-test] chat::logging::tests: "),
            "{line}"
        );
        assert!(!text.contains("filtered out"), "{text}");
    }
}
