//! The Spark path: `recon export` writes a snapshot's canonical frames as Parquet
//! (`recon_frames::export`), and `recon check --engine spark` runs the packs on them
//! through Spark Connect (`recon_spark`) and reports exactly as a local check does
//! (`pipeline::finish_run`: same files, same email, same exit codes).

use crate::pipeline::{CheckOptions, Chunking, RunError, RunResult, RunTally, Timings, finish_run};
use chrono::{NaiveDate, Utc};
use recon_frames::Frames;
use recon_frames::books::{BookFrames, BookSpec};
use recon_frames::export::{ExportError, ExportManifest, Exporter};
use recon_rules::book_views::BookChunks;
use recon_rules::views::book_frames;
use recon_spark::{EngineError, Remote, SparkSession, TOKEN_ENV};
use secrecy::SecretString;
use std::path::Path;

/// `recon export`: the snapshot's frames into `out`, chunk by chunk (the same chunks a
/// check reads, so memory stays within the budget), and with `books` the book of record's
/// frames of each chunk (the same rows and recon views a local check builds).
pub fn export_snapshot(
    snapshot_dir: &Path,
    out: &Path,
    as_of: Option<NaiveDate>,
    chunking: Chunking,
    progress: bool,
    books: &[BookSpec],
) -> Result<ExportManifest, RunError> {
    let snapshot = crate::pipeline::open(snapshot_dir, as_of)?;
    let accounts = snapshot.accounts();
    // The books first: one that is refused (another day, a missing column) leaves no
    // half-written export behind.
    let held = crate::chunking::held_before_book();
    let mut book = crate::pipeline::open_books(books, &snapshot, &accounts)?;
    let mut exporter =
        Exporter::create(out, crate::pipeline::brokers(&snapshot)).map_err(export_error)?;
    exporter.set_books(books.iter().map(|b| b.name.clone()).collect());
    let book_bytes = book.as_ref().map_or(0, BookChunks::estimated_size) as u64;
    let chunks =
        crate::chunking::plan(&snapshot, &accounts, chunking, held, book_bytes, None, None);
    let bar = crate::chunking::progress(progress, accounts.len());
    for (i, range) in chunks.iter().enumerate() {
        let part = &accounts[range.clone()];
        let read = crate::pipeline::read_chunk(&snapshot, part, i);
        let claimed = match &mut book {
            Some(b) => Some(crate::pipeline::claim_books(b, &snapshot, part, &read)?),
            None => None,
        };
        let normalized = recon_frames::normalize(read).map_err(RunError::Snapshot)?;
        exporter
            .add_chunk(
                &normalized.frames,
                &normalized.incomplete,
                &normalized.fetch_errors,
            )
            .map_err(export_error)?;
        if let Some(claimed) = claimed {
            export_book_frames(&mut exporter, &normalized.frames, &claimed, snapshot.as_of)?;
        }
        bar.inc(range.len() as u64);
    }
    if let Some(b) = book {
        let rest = crate::pipeline::unclaimed_books(b)?;
        let none = recon_frames::build_frames(&Default::default(), &Default::default(), &[])
            .map_err(|e| RunError::Internal(format!("cannot build empty frames: {e}")))?;
        export_book_frames(&mut exporter, &none, &rest, snapshot.as_of)?;
    }
    bar.finish_and_clear();
    exporter.finish(snapshot.as_of).map_err(export_error)
}

/// One chunk's book frames (`recon_rules::views::book_frames`, as a local check builds
/// them) into the export.
fn export_book_frames(
    exporter: &mut Exporter,
    frames: &Frames,
    book: &BookFrames,
    as_of: NaiveDate,
) -> Result<(), RunError> {
    let built = book_frames(
        &frames.accounts,
        &frames.positions,
        &frames.balances,
        book,
        as_of,
    )
    .map_err(|e| RunError::Internal(format!("cannot build the book views: {e}")))?;
    exporter.add_book_frames(&built).map_err(export_error)
}

/// An existing export folder is the caller's mistake (exit 3); anything else is a failed
/// write.
fn export_error(e: ExportError) -> RunError {
    match e {
        ExportError::Exists(_) => RunError::Usage(e.to_string()),
        other => RunError::Output(std::io::Error::other(other.to_string())),
    }
}

/// A local folder as the absolute path the Spark server opens (it resolves a relative one
/// against its own working folder); a URI (`s3a://`, `abfss://`, `dbfs:/`) as it is.
fn frames_location(frames: &str) -> Result<String, RunError> {
    if frames.contains(":/") {
        return Ok(frames.to_string());
    }
    let path = Path::new(frames);
    let absolute = path.canonicalize().map_err(|e| {
        RunError::Usage(format!(
            "frames folder {}: {e} (write it with `recon export`)",
            path.display()
        ))
    })?;
    Ok(absolute.to_string_lossy().into_owned())
}

/// `recon check --engine spark`.
pub fn check_on_spark(
    opts: &CheckOptions,
    remote: &str,
    frames: &str,
) -> Result<RunResult, RunError> {
    let started_at = Utc::now();
    let mut timings = Timings::after(&opts.earlier_timings);
    let token = std::env::var(TOKEN_ENV)
        .ok()
        .filter(|t| !t.is_empty())
        .map(SecretString::from);
    let remote = Remote::parse(remote, token).map_err(|e| RunError::Usage(e.to_string()))?;
    let frames = frames_location(frames)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| RunError::Internal(format!("cannot start the async runtime: {e}")))?;
    let run = runtime.block_on(async {
        let session = SparkSession::connect(remote)
            .await
            .map_err(EngineError::Spark)?;
        let books: Vec<String> = opts.books.iter().map(|b| b.name.clone()).collect();
        recon_spark::check(&session, &frames, &opts.packs, &opts.overrides, &books).await
    });
    let run = run.map_err(|e| match e {
        EngineError::Pack(p) => RunError::Pack(p),
        EngineError::Frames { .. } | EngineError::NotPortable(_) => RunError::Usage(e.to_string()),
        // Nothing (or not everything) was checked: the run is incomplete, never clean.
        EngineError::Spark(_) | EngineError::Internal(_) => RunError::Internal(e.to_string()),
    })?;
    if let Some(as_of) = opts.as_of.filter(|d| *d != run.manifest.as_of) {
        return Err(RunError::Usage(format!(
            "the frames are of {}, not {as_of}",
            run.manifest.as_of
        )));
    }
    for (stage, ms) in &run.timings {
        timings.add(stage, *ms);
    }
    let rows = |frame: &str| run.manifest.frames.get(frame).map_or(0, |f| f.rows);
    let tally = RunTally {
        accounts_checked: rows("accounts"),
        positions_checked: rows("positions"),
        figures: run.figures,
        incomplete: run.manifest.incomplete.iter().cloned().collect(),
        fetch_errors: run.manifest.fetch_errors.clone(),
        brokers: run.manifest.brokers.clone(),
        eval: run.evaluation,
    };
    finish_run(opts, run.manifest.as_of, tally, started_at, timings)
}
