//! A snapshot's rows (`recon_parse::snapshot`, which walks the folder) into frames.

use crate::frames::{Frames, build_frames_of_parts};
use chrono::NaiveDate;
use recon_model::manifest::{FetchErrorRecord, Manifest};
pub use recon_parse::snapshot::{
    AccountRef, OpenSnapshot, ReadSnapshot, SnapshotError, open_snapshot, read_snapshot,
};
use std::collections::BTreeSet;
use std::path::Path;

/// What a snapshot gave.
#[derive(Debug)]
pub struct Normalized {
    pub frames: Frames,
    /// `None` for a snapshot written without one.
    pub manifest: Option<Manifest>,
    pub as_of: NaiveDate,
    /// Accounts whose data could not all be read: (broker, account).
    pub incomplete: BTreeSet<(String, String)>,
    /// Folders that are not brokers, brokers not read yet: said, never skipped in silence.
    pub warnings: Vec<String>,
    /// What could not be fetched or read, per broker: the manifest's errors plus the gaps
    /// the reader found (a broker marked failed without errors, one that lists no account,
    /// one whose reading failed).
    pub fetch_errors: Vec<(String, FetchErrorRecord)>,
}

#[derive(Debug, thiserror::Error)]
pub enum NormalizeError {
    #[error(transparent)]
    Snapshot(#[from] SnapshotError),
    #[error("cannot build frames: {0}")]
    Frames(#[from] polars::error::PolarsError),
}

/// Builds the frames of a snapshot read into rows; the rows are dropped once they are in.
pub fn normalize(read: ReadSnapshot) -> Result<Normalized, NormalizeError> {
    let frames = build_frames_of_parts(&read.parts, &read.incomplete, &read.fetch_errors)?;
    // Freeing the rows (several strings each, ~3 % of a check's time at a million
    // positions) is left to a pool thread: what comes next need not wait for it.
    let parts = read.parts;
    rayon::spawn(move || drop(parts));
    Ok(Normalized {
        frames,
        manifest: read.manifest,
        as_of: read.as_of,
        incomplete: read.incomplete,
        warnings: read.warnings,
        fetch_errors: read.fetch_errors,
    })
}

/// Reads every broker in `dir` and builds the frames. `as_of` overrides the manifest's.
pub fn normalize_snapshot(
    dir: &Path,
    as_of: Option<NaiveDate>,
) -> Result<Normalized, NormalizeError> {
    normalize(read_snapshot(dir, as_of)?)
}
