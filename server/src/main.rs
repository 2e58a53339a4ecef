//! `startserv [PORT] [--config FILE] [flags]`: the chat server's binary.
//!
//! Reads the configuration (a bad value stops start-up with one line naming the key),
//! sets up logging, then runs the server until SIGINT or SIGTERM.

use std::process::ExitCode;

use chat::config::Config;

fn main() -> ExitCode {
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
    match chat::server::run(config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            log::error!("startserv: {e}");
            ExitCode::FAILURE
        }
    }
}
