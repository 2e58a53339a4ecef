//! Threads the process cannot live without.
//!
//! A sub-reactor or the acceptor that dies leaves a process that looks alive (the port
//! is open, the acceptor may even go on handing sockets to a dead reactor) but serves
//! nobody. So a panic on such a thread is not survived: it is logged and the process
//! exits with status 101 (Rust's panic status), so that a supervisor restarts it.
//! Applications use [`spawn_essential`] for their own threads of that kind (a batched
//! writer, say). Worker threads are not essential: a panicking callback is caught and
//! costs only its connection.
//!
//! May touch: the process (it ends it).

use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::thread::JoinHandle;

/// Spawns a thread named `name` whose panic ends the process (after logging it and
/// flushing the logger).
pub fn spawn_essential<F>(name: String, f: F) -> io::Result<JoinHandle<()>>
where
    F: FnOnce() + Send + 'static,
{
    std::thread::Builder::new()
        .name(name.clone())
        .spawn(move || {
            if catch_unwind(AssertUnwindSafe(f)).is_err() {
                log::error!(
                    "thread {name} panicked; the process cannot go on without it and exits \
                     (status 101) so that a supervisor can restart it"
                );
                log::logger().flush();
                std::process::exit(101);
            }
        })
}
