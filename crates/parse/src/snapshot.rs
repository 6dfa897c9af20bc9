//! The walk over a snapshot folder (DESIGN.md "Snapshot layout"): the manifest says which
//! brokers and accounts were fetched and what failed; a folder without a manifest is read by
//! scanning its broker folders. Each broker's accounts go to that broker's module; a broker
//! whose reading panics is made incomplete, never dropped.

use crate::{architect, clearstreet, etrade, tastytrade, tradezero};
use chrono::NaiveDate;
use recon_model::manifest::{
    BrokerManifest, FetchErrorRecord, FetchStatus, MANIFEST_FILE, MANIFEST_FORMAT, Manifest,
};
use recon_model::{Book, Broker};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Why a snapshot folder cannot be read at all.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("snapshot folder {0} does not exist")]
    Missing(PathBuf),
    #[error("cannot read {path}: {message}")]
    Manifest { path: PathBuf, message: String },
    #[error(
        "snapshot {0} has no manifest.json and no --as-of was given: the business date is unknown"
    )]
    NoAsOf(PathBuf),
}

/// A snapshot read into canonical rows, before the frames are built.
#[derive(Debug)]
pub struct ReadSnapshot {
    pub book: Book,
    pub manifest: Option<Manifest>,
    pub as_of: NaiveDate,
    pub incomplete: BTreeSet<(String, String)>,
    pub fetch_errors: Vec<(String, FetchErrorRecord)>,
    pub warnings: Vec<String>,
}

/// Reads every broker in `dir` into rows (recon-parse, one broker after another, each in
/// parallel over its accounts). `as_of` overrides the manifest's.
pub fn read_snapshot(dir: &Path, as_of: Option<NaiveDate>) -> Result<ReadSnapshot, SnapshotError> {
    if !dir.is_dir() {
        return Err(SnapshotError::Missing(dir.to_path_buf()));
    }
    let manifest = read_manifest(dir)?;
    let as_of = as_of
        .or(manifest.as_ref().map(|m| m.as_of))
        .ok_or_else(|| SnapshotError::NoAsOf(dir.to_path_buf()))?;

    let mut warnings = Vec::new();
    let brokers: Vec<String> = match &manifest {
        Some(m) => m.brokers.keys().cloned().collect(),
        None => subfolders(dir),
    };
    let mut book = Book::default();
    let mut incomplete = BTreeSet::new();
    let mut gaps: Vec<(String, FetchErrorRecord)> = Vec::new();
    for name in brokers {
        let Ok(broker) = name.parse::<Broker>() else {
            warnings.push(format!(
                "{}: `{name}` is not a broker recon knows; not read",
                dir.display()
            ));
            continue;
        };
        let entry = manifest.as_ref().and_then(|m| m.brokers.get(&name));
        let accounts = listed_accounts(dir, entry, &name);
        let read = match broker {
            Broker::Tastytrade => tastytrade::read_broker,
            Broker::Tradezero => tradezero::read_broker,
            Broker::Clearstreet => clearstreet::read_broker,
            Broker::Etrade => etrade::read_broker,
            Broker::Architect => architect::read_broker,
        };
        if accounts.is_empty() {
            // A broker that lists no account is far more often a key scoped to the wrong
            // accounts, or an outage answered with `[]`, than a firm with nothing there.
            gaps.push((
                name.clone(),
                gap(
                    "accounts",
                    format!("{name} listed no accounts: nothing was checked"),
                ),
            ));
        }
        // One broker's bytes must not take the others down: a panic while reading it (a
        // bug, not bad input, which is quarantined) makes that broker incomplete instead.
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            recon_model::failpoint::hit(&format!("parse.{name}"));
            read(dir, entry, &accounts, as_of)
        })) {
            Ok((b, inc)) => {
                book.extend(b);
                incomplete.extend(inc.into_iter().map(|a| (name.clone(), a)));
            }
            Err(panic) => {
                let what = panic
                    .downcast_ref::<String>()
                    .map(String::as_str)
                    .or_else(|| panic.downcast_ref::<&str>().copied())
                    .unwrap_or("a panic");
                tracing::error!(broker = %name, "reading the snapshot failed: {what}");
                gaps.push((
                    name.clone(),
                    gap("snapshot", format!("reading {name}'s snapshot failed ({what}): none of its accounts was checked")),
                ));
                incomplete.extend(accounts.iter().map(|a| (name.clone(), a.clone())));
            }
        }
    }
    let mut fetch_errors = manifest_errors(manifest.as_ref());
    fetch_errors.extend(gaps);
    Ok(ReadSnapshot {
        book,
        manifest,
        as_of,
        incomplete,
        fetch_errors,
        warnings,
    })
}

/// The snapshot's manifest, if it has one; one this recon cannot read is refused by name.
fn read_manifest(dir: &Path) -> Result<Option<Manifest>, SnapshotError> {
    let path = dir.join(MANIFEST_FILE);
    if !path.exists() {
        return Ok(None);
    }
    let refused = |message: String| SnapshotError::Manifest {
        path: path.clone(),
        message,
    };
    let text = std::fs::read_to_string(&path).map_err(|e| refused(e.to_string()))?;
    let manifest: Manifest = serde_json::from_str(&text).map_err(|e| refused(e.to_string()))?;
    if manifest.format != MANIFEST_FORMAT {
        return Err(refused(format!(
            "snapshot format {} is not the one this recon reads ({MANIFEST_FORMAT}){}",
            manifest.format,
            if manifest.format > MANIFEST_FORMAT {
                ": it was written by a newer recon"
            } else {
                ""
            }
        )));
    }
    Ok(Some(manifest))
}

/// What the manifest says could not be fetched, per broker; a broker it calls partial or
/// failed is incomplete even when its `errors` say nothing (a hand-made or truncated
/// manifest): said, never read as clean.
fn manifest_errors(manifest: Option<&Manifest>) -> Vec<(String, FetchErrorRecord)> {
    let brokers = || manifest.into_iter().flat_map(|m| &m.brokers);
    let mut errors: Vec<(String, FetchErrorRecord)> = brokers()
        .flat_map(|(broker, entry)| entry.errors.iter().map(|e| (broker.clone(), e.clone())))
        .collect();
    for (broker, entry) in brokers() {
        if entry.status != FetchStatus::Complete && entry.errors.is_empty() {
            errors.push((
                broker.clone(),
                gap(
                    "manifest",
                    format!(
                        "the manifest marks {broker} {:?} without naming what failed",
                        entry.status
                    )
                    .to_lowercase(),
                ),
            ));
        }
    }
    errors
}

/// The accounts of a broker: the manifest's list, else the folders of the broker folder.
fn listed_accounts(dir: &Path, entry: Option<&BrokerManifest>, name: &str) -> Vec<String> {
    match entry {
        Some(e) => e.accounts.clone(),
        None => subfolders(&dir.join(name)),
    }
}

/// A broker-wide gap (no account named) as a fetch error: it becomes a `fetch-incomplete`
/// finding and makes the run incomplete.
fn gap(endpoint: &str, error: String) -> FetchErrorRecord {
    FetchErrorRecord {
        account: None,
        endpoint: endpoint.to_string(),
        error,
    }
}

fn subfolders(dir: &Path) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.path().is_dir())
        .filter_map(|e| e.file_name().to_str().map(str::to_string))
        .filter(|n| !n.starts_with('.'))
        .collect();
    out.sort();
    out
}
