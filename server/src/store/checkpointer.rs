//! The SQLite store's background checkpointer.
//!
//! In WAL mode a commit appends pages to the write-ahead log; a checkpoint copies them
//! back into the database file. By default the connection whose commit pushes the log
//! past 1,000 pages runs the checkpoint inline, which here is the message writer: every
//! few batches one commit also paid for copying thousands of pages (16% of the writer's
//! time under load, measured with `perf`). This thread runs a `PASSIVE` checkpoint (it
//! never blocks readers or writers) on its own connection every [`PERIOD`], so commits
//! only append. The store's connections keep an automatic checkpoint at
//! [`BACKSTOP_PAGES`] pages, so the log stays bounded if this thread falls behind.
//! May touch: its own connection to the database file; nothing else.

use std::path::Path;
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{RecvTimeoutError, Sender};
use rusqlite::Connection;

/// How often the log is checkpointed.
pub const PERIOD: Duration = Duration::from_millis(100);
/// Log pages past which a committing connection checkpoints by itself (SQLite's own
/// default is 1,000).
pub const BACKSTOP_PAGES: u32 = 10_000;

/// The running checkpointer; dropping it stops and joins the thread.
pub struct Checkpointer {
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Checkpointer {
    /// Starts checkpointing `conn`'s database.
    pub fn start(conn: Connection, path: &Path) -> std::io::Result<Checkpointer> {
        let (stop, stopped) = crossbeam_channel::bounded::<()>(0);
        let shown = path.display().to_string();
        let thread = reactor::spawn_essential("sqlite-checkpoint".into(), move || {
            let mut failing = false;
            while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(PERIOD) {
                let outcome = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| {
                    row.get::<_, i64>(0)
                });
                match outcome {
                    Ok(_) if failing => {
                        log::info!("{shown}: checkpoints work again");
                        failing = false;
                    }
                    Ok(_) => {}
                    Err(e) if !failing => {
                        log::warn!("{shown}: background checkpoint failed: {e}");
                        failing = true;
                    }
                    Err(_) => {}
                }
            }
        })?;
        Ok(Checkpointer {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            if thread.join().is_err() {
                log::error!("the sqlite checkpoint thread panicked");
            }
        }
    }
}
