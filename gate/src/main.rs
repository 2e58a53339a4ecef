//! `startgate PORT --mysql URL --redis URL [--cluster NAME] [--mail-dir DIR | --smtp URL]
//! [--data-dir DIR] [--config FILE]`: the gateway's binary. Reads the configuration (a
//! bad value stops start-up with one line), sets up logging, then serves until SIGINT
//! or SIGTERM.

use std::process::ExitCode;

use clap::Parser;
use gate::config::{Cli, GateConfig};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match GateConfig::load(&cli) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("startgate: {e}");
            return ExitCode::from(2);
        }
    };
    let _logger = match chat::logging::init(&config.log, &config.log_dir()) {
        Ok(handle) => handle, // kept alive until main returns: dropping it flushes the log
        Err(e) => {
            eprintln!("startgate: cannot set up logging: {e}");
            return ExitCode::FAILURE;
        }
    };
    chat::logging::log_panics();
    let server = match gate::start(config) {
        Ok(server) => server,
        Err(e) => {
            log::error!("startgate: {e}");
            return ExitCode::FAILURE;
        }
    };
    match server.run_until_signal() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            log::error!("startgate: {e}");
            ExitCode::FAILURE
        }
    }
}
