//! How a check splits the snapshot's accounts into chunks (DESIGN.md "Scale"): every rule of
//! the shipped packs is per account, so a run reads, builds and checks one chunk of accounts
//! at a time and keeps only findings and counts. The chunk size follows a memory budget: the
//! accounts' snapshot files are weighed on disk and a chunk takes accounts until its bytes,
//! times what a byte of JSON costs in memory while it is checked, fill the budget.

use crate::pipeline::Chunking;
use recon_normalize::snapshot::{AccountRef, OpenSnapshot};
use std::ops::Range;
use std::path::Path;

/// The default budget: a run of any size stays near it.
pub const DEFAULT_MEMORY_BUDGET: u64 = 1 << 30;

/// Peak memory per byte of snapshot JSON in a chunk: the text, its rows, the frames and views
/// built from them, and the allocator's slack. Measured on the 10,000 × 100 snapshot (see
/// docs/performance.md "Bounded memory").
const MEMORY_PER_SNAPSHOT_BYTE: u64 = 3;

/// What a run holds besides its chunk: the program, polars' and rayon's pools, findings.
const BASELINE: u64 = 160 << 20;

/// The smallest chunk a budget makes, so a budget below what the run needs anyway still
/// goes forward (in small chunks) rather than one account at a time.
const MIN_CHUNK_BYTES: u64 = 8 << 20;

/// The chunks of `accounts` (ranges of it, in order). `book_bytes`: the book of record held
/// for the whole run, which the budget leaves aside.
pub fn plan(
    snapshot: &OpenSnapshot,
    accounts: &[AccountRef],
    chunking: Chunking,
    book_bytes: u64,
    whole_book: Option<&str>,
) -> Vec<Range<usize>> {
    let len = accounts.len();
    if len == 0 {
        return vec![0..0];
    }
    if let Some(why) = whole_book {
        tracing::warn!(
            "{why}: the whole book is read at once, memory is not bounded by the budget"
        );
        return vec![0..len];
    }
    match chunking {
        Chunking::Accounts(n) => {
            let n = n.max(1);
            (0..len).step_by(n).map(|s| s..(s + n).min(len)).collect()
        }
        Chunking::Budget(budget) => {
            let room = budget.saturating_sub(BASELINE + book_bytes);
            if room < MIN_CHUNK_BYTES * MEMORY_PER_SNAPSHOT_BYTE {
                tracing::warn!(
                    budget,
                    book_bytes,
                    "the memory budget leaves little room beside the book of record: checking in the smallest chunks"
                );
            }
            let max = (room / MEMORY_PER_SNAPSHOT_BYTE).max(MIN_CHUNK_BYTES);
            let sizes = folder_sizes(snapshot, accounts);
            let chunks = by_weight(&sizes, max);
            tracing::info!(
                chunks = chunks.len(),
                accounts = len,
                snapshot_bytes = sizes.iter().sum::<u64>(),
                chunk_bytes = max,
                "checking in chunks"
            );
            chunks
        }
    }
}

/// Consecutive runs of `weights`, each at most `max` (an account heavier than that is a
/// chunk of its own).
fn by_weight(weights: &[u64], max: u64) -> Vec<Range<usize>> {
    let mut chunks = Vec::new();
    let (mut start, mut total) = (0, 0u64);
    for (i, &w) in weights.iter().enumerate() {
        if i > start && total.saturating_add(w) > max {
            chunks.push(start..i);
            (start, total) = (i, 0);
        }
        total = total.saturating_add(w);
    }
    chunks.push(start..weights.len());
    chunks
}

/// Each account's snapshot files, in bytes (on both cores: a stat per file).
fn folder_sizes(snapshot: &OpenSnapshot, accounts: &[AccountRef]) -> Vec<u64> {
    use rayon::prelude::*;
    accounts
        .par_iter()
        .map(|&a| folder_bytes(&snapshot.folder(a)))
        .collect()
}

fn folder_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.metadata().ok())
        .filter(|m| m.is_file())
        .map(|m| m.len())
        .sum()
}

/// A bar of accounts checked, on stderr when it is a terminal and `show` is set.
pub fn progress(show: bool, accounts: usize) -> indicatif::ProgressBar {
    use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
    let bar = ProgressBar::with_draw_target(
        Some(accounts as u64),
        match show {
            true => ProgressDrawTarget::stderr(),
            false => ProgressDrawTarget::hidden(),
        },
    );
    bar.set_style(
        ProgressStyle::with_template("{prefix:>12} [{bar:30}] {pos}/{len} accounts  {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_prefix("checking");
    bar
}

#[cfg(test)]
mod tests {
    use super::by_weight;

    #[test]
    fn chunks_fill_up_to_the_weight_and_a_heavy_account_stands_alone() {
        assert_eq!(by_weight(&[3, 3, 3, 3], 6), vec![0..2, 2..4]);
        assert_eq!(by_weight(&[3, 10, 3], 6), vec![0..1, 1..2, 2..3]);
        assert_eq!(by_weight(&[1, 1, 1], 100), vec![0..3]);
        assert_eq!(by_weight(&[], 6), vec![0..0]);
    }
}
