//! The walk over a snapshot folder (DESIGN.md "Snapshot layout"): the manifest says which
//! brokers and accounts were fetched and what failed; a folder without a manifest is read by
//! scanning its broker folders. Each broker's accounts go to that broker's module; a broker
//! whose reading panics is made incomplete, never dropped.

use crate::common::OpenBroker;
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

/// A snapshot (or a part of one) read into canonical rows, before the frames are built.
#[derive(Debug)]
pub struct ReadSnapshot {
    /// The rows, as read: each account's in a book of its own, in the order read (the
    /// lists' quarantine first). The frames are built from the parts as they are: put into
    /// one book, every row (a few hundred bytes) would be moved once more, into fresh pages.
    pub parts: Vec<Book>,
    pub manifest: Option<Manifest>,
    pub as_of: NaiveDate,
    pub incomplete: BTreeSet<(String, String)>,
    pub fetch_errors: Vec<(String, FetchErrorRecord)>,
    pub warnings: Vec<String>,
}

impl ReadSnapshot {
    /// Nothing read yet, of the business day `as_of`.
    pub fn empty(as_of: NaiveDate) -> ReadSnapshot {
        ReadSnapshot {
            parts: Vec::new(),
            manifest: None,
            as_of,
            incomplete: BTreeSet::new(),
            fetch_errors: Vec::new(),
            warnings: Vec::new(),
        }
    }

    /// `other`'s rows, incomplete accounts, errors and warnings after this one's.
    pub fn extend(&mut self, other: ReadSnapshot) {
        self.parts.extend(other.parts);
        self.incomplete.extend(other.incomplete);
        self.fetch_errors.extend(other.fetch_errors);
        self.warnings.extend(other.warnings);
    }

    /// Every row in one book (a copy), for whoever wants them as one.
    pub fn book(&self) -> Book {
        let mut book = Book::default();
        for part in &self.parts {
            book.extend(part.clone());
        }
        book
    }

    /// The accounts read, in order.
    pub fn accounts(&self) -> impl Iterator<Item = &recon_model::AccountRow> {
        self.parts.iter().flat_map(|p| &p.accounts)
    }
}

/// One account of an opened snapshot: the broker (its place in the snapshot) and the
/// account's place in that broker's list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccountRef {
    pub broker: usize,
    pub index: usize,
}

/// A snapshot opened for reading: its manifest and business date read, each broker's
/// account list read, and nothing of any account yet. `read` reads any part of its
/// accounts, so a run can go chunk by chunk and hold one chunk's rows at a time.
pub struct OpenSnapshot {
    pub dir: PathBuf,
    pub manifest: Option<Manifest>,
    pub as_of: NaiveDate,
    pub warnings: Vec<String>,
    /// What the whole run lacks: the manifest's errors and the gaps found on opening (a
    /// broker that lists no account, one whose list could not be read).
    pub fetch_errors: Vec<(String, FetchErrorRecord)>,
    /// Rows that belong to no account: the account lists' quarantine.
    pub list_rows: Book,
    /// Accounts of brokers that could not be opened: incomplete, and not read.
    pub unread: BTreeSet<(String, String)>,
    brokers: Vec<(String, OpenBroker)>,
}

impl std::fmt::Debug for OpenSnapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenSnapshot")
            .field("dir", &self.dir)
            .field("as_of", &self.as_of)
            .field("accounts", &self.accounts().len())
            .finish_non_exhaustive()
    }
}

impl OpenSnapshot {
    /// Every account to read, broker after broker, each broker's in its list's order.
    pub fn accounts(&self) -> Vec<AccountRef> {
        self.brokers
            .iter()
            .enumerate()
            .flat_map(|(broker, (_, open))| {
                (0..open.accounts.len()).map(move |index| AccountRef { broker, index })
            })
            .collect()
    }

    /// The broker's name and the account's id.
    pub fn names(&self, account: AccountRef) -> (&str, &str) {
        let (name, open) = &self.brokers[account.broker];
        (name, &open.accounts[account.index])
    }

    /// The snapshot folder of an account (`<dir>/<broker>/<account>`), whose files it reads.
    pub fn folder(&self, account: AccountRef) -> PathBuf {
        let (broker, id) = self.names(account);
        self.dir.join(broker).join(id)
    }

    /// What belongs to the run rather than to any account: the list rows, the run-wide
    /// errors, the unread accounts and the warnings.
    pub fn run_wide(&self) -> ReadSnapshot {
        ReadSnapshot {
            parts: vec![self.list_rows.clone()],
            manifest: None,
            as_of: self.as_of,
            incomplete: self.unread.clone(),
            fetch_errors: self.fetch_errors.clone(),
            warnings: self.warnings.clone(),
        }
    }

    /// Reads `part` of the accounts, every broker's side by side on all cores, in `part`'s
    /// order. One broker's bytes must not take the others down: a panic while reading an
    /// account (a bug, not bad input, which is quarantined) makes that account incomplete,
    /// and each broker's such accounts are said as one gap.
    pub fn read(&self, part: &[AccountRef]) -> ReadSnapshot {
        use rayon::prelude::*;
        let mut out = ReadSnapshot::empty(self.as_of);
        // `parse.<broker>` fails a broker's part whole, as a bug in its reader would.
        let mut refused: std::collections::HashMap<usize, String> = Default::default();
        for same_broker in part.chunk_by(|a, b| a.broker == b.broker) {
            let broker = same_broker[0].broker;
            let name = &self.brokers[broker].0;
            if let Err(panic) =
                std::panic::catch_unwind(|| recon_model::failpoint::hit(&format!("parse.{name}")))
            {
                refused.insert(broker, panic_text(&panic));
            }
        }
        // Rayon splits a list into as many pieces as threads and splits a piece again only
        // when another thread steals it, so the last piece, hundreds of accounts, was read by
        // one thread while the other idled (~0.1 s per chunk at 10,000 accounts): pieces of
        // a few accounts keep both busy to the end, for a job's cost (a microsecond) each.
        let reads: Vec<Result<crate::common::AccountRead, String>> = part
            .par_iter()
            .with_max_len(4)
            .map(|&a| match refused.get(&a.broker) {
                Some(what) => Err(what.clone()),
                None => {
                    let (_, open) = &self.brokers[a.broker];
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        open.read_one(&open.accounts[a.index])
                    }))
                    .map_err(|panic| panic_text(&panic))
                }
            })
            .collect();
        let mut failed: Vec<(usize, String, usize)> = Vec::new();
        for (&a, read) in part.iter().zip(reads) {
            let (name, id) = self.names(a);
            match read {
                Ok(read) => {
                    if !read.complete {
                        out.incomplete.insert((name.to_string(), id.to_string()));
                    }
                    out.parts.push(read.book);
                }
                Err(what) => {
                    out.incomplete.insert((name.to_string(), id.to_string()));
                    match failed
                        .iter_mut()
                        .find(|(b, w, _)| *b == a.broker && *w == what)
                    {
                        Some((_, _, n)) => *n += 1,
                        None => failed.push((a.broker, what, 1)),
                    }
                }
            }
        }
        for (broker, what, n) in failed {
            let name = &self.brokers[broker].0;
            tracing::error!(broker = %name, accounts = n, "reading the snapshot failed: {what}");
            // The same words for every part read, so a run that reads in chunks says it
            // once; each account it hit is listed as incomplete on its own.
            let error = format!(
                "reading {name}'s snapshot failed ({what}): the accounts it hit were not checked"
            );
            out.fetch_errors
                .push((name.clone(), gap("snapshot", error)));
        }
        out
    }
}

fn panic_text(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("a panic")
        .to_string()
}

/// Opens the snapshot in `dir`: its manifest, business date (`as_of` overrides the
/// manifest's) and every broker's account list.
pub fn open_snapshot(dir: &Path, as_of: Option<NaiveDate>) -> Result<OpenSnapshot, SnapshotError> {
    if !dir.is_dir() {
        return Err(SnapshotError::Missing(dir.to_path_buf()));
    }
    let manifest = read_manifest(dir)?;
    let as_of = as_of
        .or(manifest.as_ref().map(|m| m.as_of))
        .ok_or_else(|| SnapshotError::NoAsOf(dir.to_path_buf()))?;

    let mut warnings = Vec::new();
    let names: Vec<String> = match &manifest {
        Some(m) => m.brokers.keys().cloned().collect(),
        None => subfolders(dir),
    };
    let mut brokers = Vec::new();
    let mut list_rows = Book::default();
    let mut unread = BTreeSet::new();
    let mut gaps: Vec<(String, FetchErrorRecord)> = Vec::new();
    for name in names {
        let Ok(broker) = name.parse::<Broker>() else {
            warnings.push(format!(
                "{}: `{name}` is not a broker recon knows; not read",
                dir.display()
            ));
            continue;
        };
        let entry = manifest.as_ref().and_then(|m| m.brokers.get(&name));
        let accounts = listed_accounts(dir, entry, &name);
        let open = opener(broker);
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
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            open(dir, entry, &accounts, as_of)
        })) {
            Ok(mut opened) => {
                list_rows.extend(std::mem::take(&mut opened.list_rows));
                brokers.push((name, opened));
            }
            Err(panic) => {
                let what = panic_text(&panic);
                tracing::error!(broker = %name, "reading the account list failed: {what}");
                gaps.push((
                    name.clone(),
                    gap("snapshot", format!("reading {name}'s snapshot failed ({what}): none of its accounts was checked")),
                ));
                unread.extend(accounts.iter().map(|a| (name.clone(), a.clone())));
            }
        }
    }
    let mut fetch_errors = manifest_errors(manifest.as_ref());
    fetch_errors.extend(gaps);
    Ok(OpenSnapshot {
        dir: dir.to_path_buf(),
        manifest,
        as_of,
        warnings,
        fetch_errors,
        list_rows,
        unread,
        brokers,
    })
}

/// Reads every broker in `dir` into rows at once (one chunk of every account). `as_of`
/// overrides the manifest's.
pub fn read_snapshot(dir: &Path, as_of: Option<NaiveDate>) -> Result<ReadSnapshot, SnapshotError> {
    let open = open_snapshot(dir, as_of)?;
    let mut read = open.run_wide();
    read.extend(open.read(&open.accounts()));
    read.manifest = open.manifest;
    Ok(read)
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
    let file = std::fs::File::open(&path).map_err(|e| refused(e.to_string()))?;
    let manifest = Manifest::read_without_requests(file).map_err(|e| refused(e.to_string()))?;
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

/// How a broker's part of a snapshot is opened (`common::open_broker`, the one shape every
/// broker follows) with that broker's two readers: its account list and one account. A new
/// broker is one arm here.
pub type Opener = fn(&Path, Option<&BrokerManifest>, &[String], NaiveDate) -> OpenBroker;

pub fn opener(broker: Broker) -> Opener {
    use crate::common::open_broker;
    match broker {
        Broker::Tastytrade => |root, entry, accounts, as_of| {
            open_broker(
                root,
                entry,
                accounts,
                as_of,
                tastytrade::read_account_list,
                tastytrade::read_account,
            )
        },
        Broker::Tradezero => |root, entry, accounts, as_of| {
            open_broker(
                root,
                entry,
                accounts,
                as_of,
                tradezero::read_account_list,
                tradezero::read_account,
            )
        },
        Broker::Clearstreet => |root, entry, accounts, as_of| {
            open_broker(
                root,
                entry,
                accounts,
                as_of,
                clearstreet::read_account_list,
                clearstreet::read_account,
            )
        },
        Broker::Etrade => |root, entry, accounts, as_of| {
            open_broker(
                root,
                entry,
                accounts,
                as_of,
                etrade::read_account_list,
                etrade::read_account,
            )
        },
        Broker::Architect => |root, entry, accounts, as_of| {
            open_broker(
                root,
                entry,
                accounts,
                as_of,
                architect::read_account_list,
                architect::read_account,
            )
        },
    }
}
