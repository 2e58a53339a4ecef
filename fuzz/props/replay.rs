//! Replaying kept inputs through a target's property checks, for the regression tests
//! (`reactor/tests/fuzz_regressions.rs`, `proto/tests/fuzz_regressions.rs`), which
//! include this file by `#[path]`.

use std::path::{Path, PathBuf};

/// The files in `fuzz/<dir>` (sorted; `.gitkeep` left out); none when it is missing.
pub fn files(dir: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz")
        .join(dir);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new(); // no crash kept yet
    };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file() && p.file_name().is_some_and(|n| n != ".gitkeep"))
        .collect();
    files.sort();
    files
}

/// Runs `check` on every file in `fuzz/<dir>`; returns how many there were.
pub fn replay(dir: &str, check: impl Fn(&[u8])) -> usize {
    let files = files(dir);
    for f in &files {
        let data = std::fs::read(f).unwrap();
        eprintln!("replaying {} ({} bytes)", f.display(), data.len());
        check(&data);
    }
    files.len()
}
