//! `hash_password`: prints the argon2id PHC string of a password, as the server stores it.
//!
//! ```text
//! hash_password 'demo-password'          # from the first argument
//! echo 'demo-password' | hash_password   # or from stdin (one trailing newline dropped)
//! ```
//!
//! Uses the server's hasher with the OWASP parameters (19 MiB, 2 iterations, 1 lane) and a
//! fresh random salt, so every run prints a different string that verifies the same
//! password. `tools/gen_demo_sql.py --hash` takes its output.

use std::io::Read;
use std::process::ExitCode;

use chat::auth::{Argon2Params, PasswordHasher};

fn main() -> ExitCode {
    let password = match std::env::args().nth(1) {
        Some(arg) if arg == "-h" || arg == "--help" => {
            println!("usage: hash_password [PASSWORD]   (reads stdin when no argument)");
            return ExitCode::SUCCESS;
        }
        Some(arg) => arg,
        None => {
            let mut input = String::new();
            if let Err(e) = std::io::stdin().read_to_string(&mut input) {
                eprintln!("hash_password: cannot read stdin: {e}");
                return ExitCode::FAILURE;
            }
            let trimmed = input
                .strip_suffix('\n')
                .map(|s| s.strip_suffix('\r').unwrap_or(s))
                .unwrap_or(&input);
            trimmed.to_string()
        }
    };
    if password.is_empty() {
        eprintln!("hash_password: empty password");
        return ExitCode::FAILURE;
    }
    let hashed = PasswordHasher::new(Argon2Params::owasp()).and_then(|h| h.hash(&password));
    match hashed {
        Ok(phc) => {
            println!("{phc}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("hash_password: {e}");
            ExitCode::FAILURE
        }
    }
}
