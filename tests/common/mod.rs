//! Helpers the end-to-end tests share: running the binary and reading what it wrote.
#![allow(dead_code)] // each test file uses its own subset

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Output;

/// stdout and stderr of a run, for assertion messages.
pub fn text(out: &Output) -> String {
    format!(
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The run folder `latest.json` names.
pub fn latest_run(out_dir: &Path) -> PathBuf {
    let latest: Value =
        serde_json::from_slice(&std::fs::read(out_dir.join("latest.json")).unwrap()).unwrap();
    out_dir.join(latest["dir"].as_str().unwrap())
}

/// Every file below `dir`.
pub fn all_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(all_files(&path));
        } else {
            out.push(path);
        }
    }
    out
}
