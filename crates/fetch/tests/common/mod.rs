//! Helpers the connector tests share.
#![allow(dead_code)] // each test file uses its own subset

use recon_fetch::{FetchOptions, RetryPolicy};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Every file below `dir`.
pub fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// Options that retry `retries` times with waits of at most 50 ms (Retry-After included),
/// so fault profiles run in milliseconds.
pub fn quick(retries: usize) -> FetchOptions {
    FetchOptions {
        timeout: Duration::from_secs(5),
        retry: RetryPolicy {
            retries,
            min_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(50),
        },
        ..FetchOptions::default()
    }
}
