//! Helpers shared by the configuration unit tests: a command line, a temporary config
//! file, and a `Config` built from TOML text through the whole merge.

use std::io::Write;

use super::{Config, ConfigError};

pub(super) fn args(extra: &[&str]) -> Vec<String> {
    std::iter::once("startserv")
        .chain(extra.iter().copied())
        .map(String::from)
        .collect()
}

pub(super) fn write_config(text: &str) -> tempfile::NamedTempFile {
    let mut file = tempfile::Builder::new()
        .suffix(".toml")
        .tempfile()
        .expect("temp file");
    file.write_all(text.as_bytes()).expect("write temp file");
    file
}

pub(super) fn from_text(text: &str) -> Result<Config, ConfigError> {
    let file = write_config(text);
    Config::from_iter(args(&["--config", file.path().to_str().unwrap()]))
}
