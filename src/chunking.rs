//! How a check splits the snapshot's accounts into chunks (DESIGN.md "Scale"): every rule of
//! the shipped packs is per account, so a run reads, builds and checks one chunk of accounts
//! at a time and keeps only findings and counts. The chunk size follows a memory budget: the
//! accounts' snapshot files are weighed on disk, each byte counted at what a byte of its
//! broker's format costs in memory while it is checked (`BrokerSpec::memory_per_byte_tenths`);
//! the run takes as few chunks as fit the budget, of even weight (`balanced`).

use crate::pipeline::Chunking;
use recon_frames::snapshot::{AccountRef, OpenSnapshot};
use std::ops::Range;
use std::path::Path;

/// The default budget: a run of any size stays near it.
pub const DEFAULT_MEMORY_BUDGET: u64 = 1 << 30;

/// What a run holds besides its chunks when its resident memory cannot be read: the
/// program, polars' and rayon's pools (a check of an empty snapshot peaks at 85 MiB).
const BASELINE: u64 = 128 << 20;

/// The share of the budget chunks are planned to fill: the rest is the allocator's slack
/// and the findings that build up.
const PLANNED_PERCENT: u64 = 70;

/// What a chunk's share of the book of record costs while the chunk is checked, per byte of
/// the book's frames: its rows taken out of the book, the broker positions keyed, the lots
/// summed, the CUSIP maps, and the `position_recon` and `cash_recon` views. Measured at
/// 10,000 accounts with a 919,731-line book (125 MB of frames) and a 1 GiB budget: counted
/// as one book for the whole run, the chunks peaked at 0.96–0.99 GiB (0.73 GiB without a
/// book), about 200 MB over the plan for two chunks holding ~18 MB of book each; and the
/// memory over the plan is fresh memory, whose first touch cost the run 0.2–0.4 s of
/// system time on the machine measured.
const BOOK_VIEWS_PER_BYTE: u64 = 6;

/// The smallest chunk a budget makes, so a budget below what the run needs anyway still
/// goes forward (in small chunks) rather than one account at a time.
const MIN_CHUNK_MEMORY: u64 = 32 << 20;

/// What the run holds before its book of record is read (the program, the account lists),
/// once the pages freed so far are handed back: measured before the book, because reading
/// a book leaves the allocator's arenas holding pages that were freed but stay resident
/// (a 919,731-line book: 477 MiB resident for 119 MiB of frames, of which dropping the
/// frames gave back 33), which the chunks then reuse. Counted after the book, that memory
/// left room only for the smallest chunks (44 of them at 10,000 accounts, peak 0.6 GiB of
/// a 1 GiB budget). `None` where resident memory cannot be read.
pub fn held_before_book() -> Option<u64> {
    crate::allocator::release_freed_pages();
    crate::pipeline::resident_kib().map(|kib| kib * 1024)
}

/// Whether `plan` weighs the accounts on disk (a memory budget, and no rule that needs the
/// whole book at once): a run with a book of record weighs them while it reads the book.
pub fn weighs(chunking: Chunking, whole_book: Option<&str>) -> bool {
    matches!(chunking, Chunking::Budget(_)) && whole_book.is_none()
}

/// The chunks of `accounts` (ranges of it, in order; one range is the whole book).
/// `held`: what the run held before the book (`held_before_book`); `book_bytes`: the size
/// of the book of record's frames, held for the whole run; `weighed`: the accounts'
/// `memory_weights` when already taken (else `plan` weighs them).
#[allow(clippy::single_range_in_vec_init)]
pub fn plan(
    snapshot: &OpenSnapshot,
    accounts: &[AccountRef],
    chunking: Chunking,
    held: Option<u64>,
    book_bytes: u64,
    whole_book: Option<&str>,
    weighed: Option<Vec<u64>>,
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
            // What the run already holds: the program and the account lists (measured) and
            // the book's frames.
            let held = held.unwrap_or(BASELINE) + book_bytes;
            // Two chunks are in memory at once: one read ahead while the other is checked.
            let room = (budget / 100 * PLANNED_PERCENT).saturating_sub(held) / 2;
            if room < MIN_CHUNK_MEMORY {
                tracing::warn!(
                    budget,
                    held,
                    book_bytes,
                    "the memory budget leaves little room beside what the run already holds (the program, the account lists, the book of record): checking in the smallest chunks"
                );
            }
            let max = room.max(MIN_CHUNK_MEMORY);
            let mut weights = weighed.unwrap_or_else(|| memory_weights(snapshot, accounts));
            // Each account carries its share of what the book's views cost, the book spread
            // evenly over the accounts (a book covers most of them, a few hundred lines each).
            let share = book_bytes.saturating_mul(BOOK_VIEWS_PER_BYTE) / len as u64;
            weights
                .iter_mut()
                .for_each(|w| *w = w.saturating_add(share));
            let chunks = balanced(&weights, max);
            tracing::info!(
                chunks = chunks.len(),
                accounts = len,
                estimated_bytes = weights.iter().sum::<u64>(),
                chunk_bytes = max,
                "checking in chunks"
            );
            chunks
        }
    }
}

/// As few chunks as `by_weight` makes, of even weight: filled up to `max` one after the
/// other, the last chunk was what was left over (at 10,000 accounts, 5 chunks the last of
/// which held 2 % of the book), and the check before it then ran with nothing to read
/// beside it, one core idle. Each account goes to the chunk its middle falls in when the
/// total is cut in equal parts; where that puts more than `max` in a chunk (heavy accounts),
/// `by_weight`'s chunks are kept.
fn balanced(weights: &[u64], max: u64) -> Vec<Range<usize>> {
    let greedy = by_weight(weights, max);
    let total: u128 = weights.iter().map(|&w| u128::from(w)).sum();
    let n = greedy.len() as u128;
    if n < 2 || total == 0 {
        return greedy;
    }
    let mut chunks: Vec<Range<usize>> = Vec::with_capacity(greedy.len());
    let mut before: u128 = 0;
    for (i, &w) in weights.iter().enumerate() {
        let middle = 2 * before + u128::from(w);
        before += u128::from(w);
        let chunk = (middle * n / (2 * total)).min(n - 1) as usize;
        let known = chunks.len();
        match chunks.last_mut() {
            Some(last) if chunk < known => last.end = i + 1,
            _ => chunks.push(i..i + 1),
        }
    }
    let fits = chunks.iter().all(|c| {
        weights[c.clone()]
            .iter()
            .map(|&w| u128::from(w))
            .sum::<u128>()
            <= u128::from(max)
    });
    if fits && chunks.len() == greedy.len() {
        chunks
    } else {
        greedy
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

/// What checking each account is expected to hold in memory: its snapshot files' bytes (a
/// stat per file, on both cores) at its broker's cost per byte.
pub fn memory_weights(snapshot: &OpenSnapshot, accounts: &[AccountRef]) -> Vec<u64> {
    use rayon::prelude::*;
    accounts
        .par_iter()
        .map(|&a| {
            let tenths = snapshot
                .names(a)
                .0
                .parse::<recon_model::Broker>()
                .map_or(50, |b| recon_model::brokers::spec(b).memory_per_byte_tenths);
            folder_bytes(&snapshot.folder(a)).saturating_mul(tenths) / 10
        })
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
    use super::{balanced, by_weight};

    #[test]
    fn chunks_fill_up_to_the_weight_and_a_heavy_account_stands_alone() {
        assert_eq!(by_weight(&[3, 3, 3, 3], 6), vec![0..2, 2..4]);
        assert_eq!(by_weight(&[3, 10, 3], 6), vec![0..1, 1..2, 2..3]);
        assert_eq!(by_weight(&[1, 1, 1], 100), vec![0..3]);
        assert_eq!(by_weight(&[], 6), vec![0..0]);
    }

    #[test]
    fn chunks_are_as_many_as_filling_makes_and_of_even_weight() {
        // Filled one after the other: 6, 6, 6, 1. Even: 5, 5, 5, 4 (as many chunks).
        let weights = [2; 10]
            .iter()
            .chain(&[1; 1])
            .chain(&[2; 4])
            .copied()
            .collect::<Vec<u64>>();
        assert_eq!(by_weight(&weights, 6).len(), 5);
        let even = balanced(&weights, 6);
        assert_eq!(even.len(), 5);
        assert_eq!(even.first().map(|c| c.start), Some(0));
        assert_eq!(even.last().map(|c| c.end), Some(weights.len()));
        for pair in even.windows(2) {
            assert_eq!(pair[0].end, pair[1].start);
        }
        let sums: Vec<u64> = even
            .iter()
            .map(|c| weights[c.clone()].iter().sum())
            .collect();
        assert!(sums.iter().all(|&s| (4..=6).contains(&s)), "{sums:?}");
        // A heavy account: the filled chunks stand.
        assert_eq!(balanced(&[3, 10, 3], 6), by_weight(&[3, 10, 3], 6));
        assert_eq!(balanced(&[1, 1, 1], 100), vec![0..3]);
        assert_eq!(balanced(&[], 6), vec![0..0]);
        assert_eq!(balanced(&[0, 0, 0], 6), vec![0..3]);
    }
}
