//! Everything after fetch, from a snapshot folder: normalize → views → rules → report.

use crate::exit::ExitStatus;
use chrono::{NaiveDate, Utc};
use recon_frames::books::BookFrames;
use recon_frames::snapshot::{AccountRef, OpenSnapshot, open_snapshot};
use recon_frames::{NormalizeError, ReadSnapshot, SnapshotError};
use recon_model::manifest::FetchErrorRecord;
use recon_report::email::{self, EmailSettings};
use recon_report::{EmailOutcome, IncompleteItem, PackInfo, RunFacts, RunOutput, write_run};
use recon_rules::book_views::BookChunks;
use recon_rules::params::Overrides;
use recon_rules::waivers::{self, Waiver};
use recon_rules::{Evaluation, Finding, Pack, PackError, Severity, Views, compile_with, evaluate};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Instant;

pub struct CheckOptions {
    pub snapshot: PathBuf,
    /// `<out_dir>`: runs go to `<out_dir>/<as_of>/<run_id>/`.
    pub out_dir: PathBuf,
    /// The run folder, when the caller already made one (the demo fetches into it).
    pub run_dir: Option<PathBuf>,
    pub run_id: String,
    /// Overrides the manifest's business date.
    pub as_of: Option<NaiveDate>,
    pub fail_on: Severity,
    pub packs: Vec<Pack>,
    /// Stages that ran before this one (the demo's fetch), in milliseconds.
    pub earlier_timings: Vec<(String, u64)>,
    /// Accepted findings (`recon_rules::waivers`).
    pub waivers: Vec<Waiver>,
    /// Parameter overrides per broker and account, from config.
    pub overrides: Overrides,
    /// Write the compliance email into the run's `outbox/`.
    pub email: Option<EmailSettings>,
    /// The digest of the config the run was made under (summary.json `config_sha256`).
    pub config_sha256: Option<String>,
    /// The books of record to compare against the brokers.
    pub books: Vec<recon_frames::books::BookSpec>,
    /// How the accounts are split into chunks (DESIGN.md "Scale").
    pub chunking: Chunking,
    /// Draw a bar of accounts checked (on a terminal).
    pub progress: bool,
    /// Which engine evaluates the rules.
    pub engine: Engine,
}

/// Where the rules run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Engine {
    /// polars, in this process, over the snapshot read chunk by chunk.
    #[default]
    Local,
    /// Apache Spark through Spark Connect (`crate::spark_check`), over frames exported by
    /// `recon export`: `remote` is an `sc://` address, `frames` a folder or URI the cluster
    /// reads.
    Spark { remote: String, frames: String },
}

/// How a check splits the snapshot's accounts into chunks, each read, built and checked
/// before the next (`crate::chunking`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chunking {
    /// Chunks sized so the run's peak memory stays near this many bytes.
    Budget(u64),
    /// This many accounts per chunk, whatever their size (tests and tuning).
    Accounts(usize),
}

impl Default for Chunking {
    fn default() -> Self {
        Chunking::Budget(crate::chunking::DEFAULT_MEMORY_BUDGET)
    }
}

impl CheckOptions {
    /// Options carrying what the config decided; the caller fills in where and when.
    pub fn from_setup(setup: crate::run::CheckSetup) -> CheckOptions {
        CheckOptions {
            snapshot: PathBuf::new(),
            out_dir: PathBuf::from(crate::config::DEFAULT_OUT_DIR),
            run_dir: None,
            run_id: new_run_id(),
            as_of: None,
            fail_on: Severity::Error,
            packs: setup.packs,
            earlier_timings: Vec::new(),
            waivers: setup.waivers,
            overrides: setup.overrides,
            email: setup.email,
            config_sha256: setup.config_sha256,
            books: setup.books,
            chunking: setup.chunking,
            progress: false,
            engine: Engine::Local,
        }
    }
}

pub struct RunResult {
    pub output: RunOutput,
    pub findings: Vec<Finding>,
    pub exit: ExitStatus,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Nothing ran: exit 3.
    #[error(transparent)]
    Pack(#[from] PackError),
    #[error("{0}")]
    Usage(String),
    /// The snapshot could not be read at all: exit 2.
    #[error(transparent)]
    Snapshot(NormalizeError),
    #[error("{0}")]
    Internal(String),
    #[error("cannot write the report: {0}")]
    Output(#[from] std::io::Error),
    /// The report is on disk; delivering it failed: exit 4.
    #[error("delivery failed: {0}")]
    Delivery(String),
}

impl RunError {
    pub fn exit(&self) -> ExitStatus {
        match self {
            RunError::Pack(_) | RunError::Usage(_) => ExitStatus::Usage,
            RunError::Snapshot(_) | RunError::Internal(_) | RunError::Output(_) => {
                ExitStatus::Incomplete
            }
            RunError::Delivery(_) => ExitStatus::DeliveryFailed,
        }
    }
}

/// Builds the email and delivers it (outbox or SMTP) to the recipients that do not have it
/// yet, recording each step in the ledger of `out_dir` (`email::ledger`): the attempt
/// before the message leaves, the outcome after. Answers what became of it; `error` is set
/// when the delivery failed or could not be recorded.
pub fn deliver(
    settings: &EmailSettings,
    output: &RunOutput,
    findings: &[Finding],
    out_dir: &Path,
) -> EmailOutcome {
    let summary = &output.summary;
    let digest = email::digest(summary, findings);
    let mut outcome = EmailOutcome {
        digest: digest.clone(),
        ..EmailOutcome::default()
    };
    if !email::has_news(settings, summary, findings) {
        tracing::info!("no email to send for this run");
        return outcome;
    }
    let fail = |mut outcome: EmailOutcome, error: String| {
        outcome.error = Some(error);
        outcome
    };
    let mut ledger = match email::ledger::Ledger::open(out_dir) {
        Ok(l) => l,
        Err(e) => return fail(outcome, e),
    };
    let mut to = Vec::new();
    for r in email::recipients(settings, findings) {
        match ledger.standing(summary.as_of, &digest, &r) {
            _ if settings.resend => to.push(r),
            email::ledger::Standing::NotSent => to.push(r),
            email::ledger::Standing::Sent => outcome.already_had.push(r),
            email::ledger::Standing::PossiblySent => outcome.possibly_sent_before.push(r),
        }
    }
    if !outcome.possibly_sent_before.is_empty() {
        tracing::warn!(
            recipients = ?outcome.possibly_sent_before,
            "possibly sent before: an earlier attempt died between handing this email over and recording it; not sent again (--resend sends it)"
        );
    }
    if to.is_empty() {
        if outcome.already_had.is_empty() && outcome.possibly_sent_before.is_empty() {
            return fail(outcome, "email: no recipient (set email.to)".into());
        }
        tracing::info!(as_of = %summary.as_of, "every recipient already has this email (--resend sends it again)");
        return outcome;
    }
    let csv = std::fs::read(output.dir.join("findings.csv")).ok();
    let message = match email::build(settings, summary, findings, &output.dir, &to, csv) {
        Ok(m) => m,
        Err(e) => return fail(outcome, e),
    };
    let (as_of, run_id) = (summary.as_of, summary.run_id.as_str());
    use email::ledger::State;
    if let Err(e) = ledger.record(as_of, &digest, run_id, &to, State::Attempt, None) {
        return fail(outcome, e);
    }
    let outbox = output.dir.join("outbox");
    let sent = match &settings.delivery {
        email::Delivery::File => email::write_to_outbox(&message, &outbox).map(|file| {
            tracing::info!(file = %file.display(), recipients = to.len(), "email written to the outbox");
        }),
        email::Delivery::Smtp(smtp) => email::send_smtp(&message, smtp).map(|()| {
            tracing::info!(host = %smtp.host, recipients = to.len(), "email sent");
        }),
    };
    if let Err(e) = sent {
        let recorded = ledger.record(as_of, &digest, run_id, &to, State::Failed, Some(e.clone()));
        // Kept, so nothing is lost: `recon report send` delivers it later.
        let kept = match &settings.delivery {
            email::Delivery::Smtp(_) => match email::write_to_outbox(&message, &outbox) {
                Ok(file) => format!(
                    "; the message is kept in {} (retry with `recon report send {}`)",
                    file.display(),
                    output.dir.display()
                ),
                Err(kept) => format!("; and it could not be kept: {kept}"),
            },
            email::Delivery::File => String::new(),
        };
        let unrecorded = recorded.err().map(|r| format!("; {r}")).unwrap_or_default();
        return fail(outcome, format!("{e}{kept}{unrecorded}"));
    }
    if let email::Delivery::Smtp(_) = settings.delivery {
        // What an earlier failed attempt kept has now been delivered.
        for file in std::fs::read_dir(&outbox).into_iter().flatten().flatten() {
            if file.path().extension().is_some_and(|x| x == "eml") {
                let _ = std::fs::remove_file(file.path());
            }
        }
        let _ = std::fs::remove_dir(&outbox);
    }
    outcome.sent_to = to.clone();
    if let Err(e) = ledger.record(as_of, &digest, run_id, &to, State::Sent, None) {
        // Delivered, but not recorded: the attempt line stands, so the next try reports
        // "possibly sent before" rather than sending again.
        return fail(outcome, format!("delivered, but {e}"));
    }
    outcome
}

/// A run id that sorts by time and does not collide within a second.
pub fn new_run_id() -> String {
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    format!("{}-{}", Utc::now().format("%Y%m%dT%H%M%SZ"), &suffix[..6])
}

/// Stage times for `--timings` and summary.json: each stage's time since the one before,
/// and a stage made of parts (`normalize.parse`, `normalize.frames`) totalled under its own
/// name.
pub(crate) struct Timings {
    laps: Vec<(String, u64)>,
    since: Instant,
}

impl Timings {
    /// Timing from now, after the stages an earlier step (the fetch) already timed.
    pub(crate) fn after(earlier: &[(String, u64)]) -> Timings {
        Timings {
            laps: earlier.to_vec(),
            since: Instant::now(),
        }
    }

    /// The time since the last lap, added to `name`'s (a stage that runs once per chunk
    /// is timed in total).
    fn lap(&mut self, name: &str) {
        let ms = self.since.elapsed().as_millis() as u64;
        self.add(name, ms);
        self.since = Instant::now();
    }

    /// Times from now on (what ran since the last lap is not counted).
    fn restart(&mut self) {
        self.since = Instant::now();
    }

    /// `ms` added to `name`'s time, for work timed on its own (a chunk read ahead).
    pub(crate) fn add(&mut self, name: &str, ms: u64) {
        match self.laps.iter_mut().find(|(n, _)| n == name) {
            Some((_, total)) => *total += ms,
            None => self.laps.push((name.to_string(), ms)),
        }
    }

    /// Another's stage times added to these (parts of a run timed apart).
    fn absorb(&mut self, other: Timings) {
        for (name, ms) in other.laps {
            self.add(&name, ms);
        }
    }

    /// `stage` as the sum of its `stage.*` parts, when it has any.
    fn total(&mut self, stage: &str) {
        let prefix = format!("{stage}.");
        let sum = self
            .laps
            .iter()
            .filter(|(name, _)| name.starts_with(&prefix))
            .map(|(_, ms)| ms)
            .sum();
        if self.laps.iter().any(|(name, _)| name.starts_with(&prefix)) {
            self.laps.push((stage.to_string(), sum));
        }
    }
}

/// The configured books of record, read whole and indexed by account so each chunk takes
/// its own rows (`claim_books`); `None` without a book.
pub(crate) fn open_books(
    specs: &[recon_frames::books::BookSpec],
    snapshot: &OpenSnapshot,
    accounts: &[AccountRef],
) -> Result<Option<BookChunks>, RunError> {
    if specs.is_empty() {
        return Ok(None);
    }
    let known = accounts.iter().map(|&a| {
        let (b, id) = snapshot.names(a);
        (b.to_string(), id.to_string())
    });
    let book = read_books(specs, snapshot.as_of)?;
    BookChunks::new(book, known)
        .map(Some)
        .map_err(|e| RunError::Internal(format!("cannot index the book: {e}")))
}

/// The book rows of one chunk's accounts: by account id, or by the name an account of the
/// chunk has (read with it).
pub(crate) fn claim_books(
    books: &mut BookChunks,
    snapshot: &OpenSnapshot,
    part: &[AccountRef],
    read: &ReadSnapshot,
) -> Result<BookFrames, RunError> {
    let ids: Vec<(&str, &str)> = part.iter().map(|&a| snapshot.names(a)).collect();
    let names: Vec<(&str, &str)> = read
        .accounts()
        .filter_map(|r| Some((r.broker.as_str(), r.account_name.as_deref()?)))
        .collect();
    books
        .claim(&ids, &names)
        .map_err(|e| RunError::Internal(format!("cannot deal out the book: {e}")))
}

/// The book's rows no broker account claimed, and its quarantine: checked on their own,
/// after every chunk.
pub(crate) fn unclaimed_books(books: BookChunks) -> Result<BookFrames, RunError> {
    books
        .rest()
        .map_err(|e| RunError::Internal(format!("cannot deal out the book: {e}")))
}

/// Every configured book, as one set of frames. A book that cannot be read, or is of
/// another day, is refused by name: nothing is compared against half a book.
fn read_books(
    specs: &[recon_frames::books::BookSpec],
    as_of: chrono::NaiveDate,
) -> Result<recon_frames::books::BookFrames, RunError> {
    let parts = specs
        .iter()
        .map(|spec| {
            recon_frames::books::read_book(spec, as_of).map_err(|e| RunError::Usage(e.to_string()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    recon_frames::books::BookFrames::concat(parts)
        .map_err(|e| RunError::Internal(format!("cannot build the book frames: {e}")))
}

/// What makes the run incomplete: every fetch error and gap, and each account whose
/// snapshot files could not all be read that no error names already.
fn incomplete_items(
    fetch_errors: &[(String, FetchErrorRecord)],
    accounts: &BTreeSet<(String, String)>,
) -> Vec<IncompleteItem> {
    let mut incomplete: Vec<IncompleteItem> = fetch_errors
        .iter()
        .map(|(broker, e)| IncompleteItem {
            broker: broker.clone(),
            account: e.account.clone(),
            reason: format!("{}: {}", e.endpoint, e.error),
        })
        .collect();
    for (broker, account) in accounts {
        let listed = incomplete
            .iter()
            .any(|i| &i.broker == broker && i.account.as_ref() == Some(account));
        if !listed {
            incomplete.push(IncompleteItem {
                broker: broker.clone(),
                account: Some(account.clone()),
                reason: "some of its snapshot files could not be read (see data-quarantine)".into(),
            });
        }
    }
    incomplete
}

/// What the chunks of a run add up to: the findings and rule counts, and the small
/// per-account facts the report needs. Each chunk's frames and views are dropped once it is
/// added.
#[derive(Default)]
pub(crate) struct RunTally {
    pub(crate) eval: Evaluation,
    pub(crate) accounts_checked: u64,
    pub(crate) positions_checked: u64,
    pub(crate) figures: Vec<recon_rules::AccountFigure>,
    pub(crate) incomplete: BTreeSet<(String, String)>,
    pub(crate) fetch_errors: Vec<(String, FetchErrorRecord)>,
    /// The snapshot's brokers, whether or not they had accounts.
    pub(crate) brokers: Vec<String>,
}

impl RunTally {
    /// What another part of the run added up to, after this one's.
    fn absorb(&mut self, other: RunTally) {
        self.accounts_checked += other.accounts_checked;
        self.positions_checked += other.positions_checked;
        self.figures.extend(other.figures);
        self.incomplete.extend(other.incomplete);
        self.fetch_errors.extend(other.fetch_errors);
        self.eval.add(other.eval);
    }

    fn add(&mut self, normalized: recon_frames::Normalized, views: &Views, eval: Evaluation) {
        self.accounts_checked += normalized.frames.accounts.height() as u64;
        self.positions_checked += normalized.frames.positions.height() as u64;
        self.figures.extend(views.account_figures());
        self.incomplete.extend(normalized.incomplete);
        self.fetch_errors.extend(normalized.fetch_errors);
        self.eval.add(eval);
    }
}

/// What the run's outputs record about it, besides findings and rule stats.
fn run_facts(
    opts: &CheckOptions,
    as_of: NaiveDate,
    tally: &mut RunTally,
    started_at: chrono::DateTime<Utc>,
    timings: Timings,
    incomplete: Vec<IncompleteItem>,
    exit: ExitStatus,
) -> RunFacts {
    RunFacts {
        run_id: opts.run_id.clone(),
        as_of,
        started_at,
        timings_ms: timings.laps,
        packs: opts
            .packs
            .iter()
            .map(|p| PackInfo {
                id: p.id.clone(),
                version: p.version.clone(),
                file: p.file.clone(),
                sha256: p.sha256.clone(),
            })
            .collect(),
        brokers: std::mem::take(&mut tally.brokers),
        accounts_checked: tally.accounts_checked,
        positions_checked: tally.positions_checked,
        incomplete,
        exit_code: exit.code(),
        config_sha256: opts.config_sha256.clone(),
        peak_rss_kib: peak_rss_kib(),
        accounts: std::mem::take(&mut tally.figures),
    }
}

/// One chunk's rules: its rows made frames and views (with the book rows of its accounts),
/// every rule compiled against them (a parameter overridden per account is a column of the
/// chunk's accounts) and evaluated.
fn check_chunk(
    opts: &CheckOptions,
    read: ReadSnapshot,
    book: Option<BookFrames>,
    timings: &mut Timings,
    tally: &mut RunTally,
) -> Result<(), RunError> {
    let as_of = read.as_of;
    timings.restart();
    let normalized = recon_frames::normalize(read).map_err(RunError::Snapshot)?;
    timings.lap("normalize.frames");
    let views = match book {
        None => {
            let views = Views::build(&normalized.frames, as_of)
                .map_err(|e| RunError::Internal(format!("cannot build views: {e}")))?;
            timings.lap("views");
            views
        }
        Some(book) => {
            let (views, [built, booked]) =
                Views::build_with_books(&normalized.frames, &book, as_of).map_err(|e| {
                    RunError::Internal(format!("cannot build the views with the book: {e}"))
                })?;
            // Built side by side: each side's own time (together more than the wall time).
            timings.add("views", built.as_millis() as u64);
            timings.add("books.views", booked.as_millis() as u64);
            timings.restart();
            views
        }
    };
    let rules = compile_with(&opts.packs, &views, &opts.overrides)?;
    let eval = evaluate(&rules, &views);
    timings.lap("rules");
    tally.add(normalized, &views, eval);
    Ok(())
}

pub fn check_snapshot(opts: &CheckOptions) -> Result<RunResult, RunError> {
    if let Engine::Spark { remote, frames } = &opts.engine {
        return crate::spark_check::check_on_spark(opts, remote, frames);
    }
    let started_at = Utc::now();
    let mut timings = Timings::after(&opts.earlier_timings);

    let snapshot = open(&opts.snapshot, opts.as_of)?;
    let accounts = snapshot.accounts();
    let held = crate::chunking::held_before_book();
    timings.lap("normalize.parse");
    let whole_book = recon_rules::reach::whole_book_rule(&opts.packs);
    // The accounts are weighed on disk (a stat per file) while the book, if any, is read:
    // the book's read leaves a core idle at times, the weighing is all system calls.
    let weigh = crate::chunking::weighs(opts.chunking, whole_book.as_deref());
    let (books, weighed) = rayon::join(
        || open_books(&opts.books, &snapshot, &accounts),
        || weigh.then(|| crate::chunking::memory_weights(&snapshot, &accounts)),
    );
    let mut books = books?;
    if books.is_some() {
        timings.lap("books.read");
    }
    let book_bytes = books.as_ref().map_or(0, BookChunks::estimated_size) as u64;
    let chunks = crate::chunking::plan(
        &snapshot,
        &accounts,
        opts.chunking,
        held,
        book_bytes,
        whole_book.as_deref(),
        weighed,
    );
    timings.lap("normalize.parse");
    let progress = crate::chunking::progress(opts.progress, accounts.len());

    let mut tally = RunTally::default();
    // Chunk k + 1 is read while chunk k is checked: the two keep both cores busy where
    // either alone leaves one idle (the plan leaves room for two chunks at once). What
    // belongs to no account (the lists' quarantine, the run-wide gaps) comes with the first
    // chunk, as it comes first in a whole read.
    let readers = reader_pool()?;
    let read_chunk = |i: usize| -> Vec<Piece> {
        pieces(&chunks, i, whole_book.is_none())
            .into_iter()
            .enumerate()
            .map(|(k, range)| {
                let started = Instant::now();
                // Only the chunk's first piece carries what belongs to no account.
                let read = read_chunk(&snapshot, &accounts[range.clone()], i + k);
                (read, started.elapsed().as_millis() as u64, range)
            })
            .collect()
    };
    let mut ahead = Some(readers.install(|| read_chunk(0)));
    let mut reported = Reported::new();
    for i in 0..chunks.len() {
        let Some(read) = ahead.take() else {
            break;
        };
        let checks = ready_pieces(
            read,
            &mut books,
            &snapshot,
            &accounts,
            &mut reported,
            &mut timings,
        )?;
        // The read goes to the readers' own threads and the check stays on this one: a
        // thread that waits (on polars, on a join) steals work from its own pool, and a
        // stolen piece of a read is half of what is left of it, which the check then
        // waited behind (a chunk's views and rules stalled ~0.15 s per chunk).
        let mut next = None;
        let checked = readers.in_place_scope(|scope| {
            if i + 1 < chunks.len() {
                scope.spawn(|_| next = Some(read_chunk(i + 1)));
            }
            check_pieces(opts, checks, &mut timings, &mut tally)
        });
        checked?;
        ahead = next;
        progress.inc(chunks[i].len() as u64);
    }
    if let Some(b) = books {
        // The book's rows no broker account claimed (and its quarantine), on their own.
        let read = ReadSnapshot::empty(snapshot.as_of);
        check_chunk(
            opts,
            read,
            Some(unclaimed_books(b)?),
            &mut timings,
            &mut tally,
        )?;
    }
    progress.finish_and_clear();
    timings.total("normalize");
    timings.total("books");
    tally.brokers = brokers(&snapshot);
    finish_run(opts, snapshot.as_of, tally, started_at, timings)
}

/// A piece of a chunk as read: its rows, the milliseconds reading took, its accounts.
type Piece = (ReadSnapshot, u64, std::ops::Range<usize>);

/// The accounts of chunk `i` in the pieces it is checked in: one, except the last chunk of
/// a run whose rules are per account, in two halves checked side by side. The last check
/// runs after every read, alone: one check leaves a core idle much of that time (views
/// and rules are partly serial), two keep both busy.
fn pieces(
    chunks: &[std::ops::Range<usize>],
    i: usize,
    per_account: bool,
) -> Vec<std::ops::Range<usize>> {
    let range = chunks[i].clone();
    if per_account && i + 1 == chunks.len() && range.len() >= 2 {
        let middle = range.start + range.len() / 2;
        vec![range.start..middle, middle..range.end]
    } else {
        vec![range]
    }
}

/// The gaps already said in a run: (broker, account, endpoint, error).
type Reported = BTreeSet<(String, Option<String>, String, String)>;

/// A chunk's pieces as read, made ready to check: the read timed, each with its book rows,
/// and a gap every chunk meets (a broker whose reading fails) left to the first that says it.
fn ready_pieces(
    pieces: Vec<Piece>,
    books: &mut Option<BookChunks>,
    snapshot: &OpenSnapshot,
    accounts: &[AccountRef],
    reported: &mut Reported,
    timings: &mut Timings,
) -> Result<Vec<(ReadSnapshot, Option<BookFrames>)>, RunError> {
    let mut ready = Vec::with_capacity(pieces.len());
    for (mut read, read_ms, range) in pieces {
        timings.add("normalize.parse", read_ms);
        read.fetch_errors.retain(|(broker, e)| {
            reported.insert((
                broker.clone(),
                e.account.clone(),
                e.endpoint.clone(),
                e.error.clone(),
            ))
        });
        let book = match books {
            Some(b) => Some(claim_books(b, snapshot, &accounts[range], &read)?),
            None => None,
        };
        ready.push((read, book));
    }
    Ok(ready)
}

/// A chunk's pieces checked (side by side when there are two), added to `tally` in order.
fn check_pieces(
    opts: &CheckOptions,
    pieces: Vec<(ReadSnapshot, Option<BookFrames>)>,
    timings: &mut Timings,
    tally: &mut RunTally,
) -> Result<(), RunError> {
    let check = |(read, book): (ReadSnapshot, Option<BookFrames>)| {
        let (mut timings, mut tally) = (Timings::after(&[]), RunTally::default());
        check_chunk(opts, read, book, &mut timings, &mut tally).map(|()| (timings, tally))
    };
    let mut pieces = pieces.into_iter();
    match (pieces.next(), pieces.next()) {
        (Some((read, book)), None) => check_chunk(opts, read, book, timings, tally),
        (Some(first), Some(second)) => {
            let (a, b) = rayon::join(|| check(first), || check(second));
            for (piece_timings, piece_tally) in [a?, b?] {
                timings.absorb(piece_timings);
                tally.absorb(piece_tally);
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// The threads that read chunks, apart from rayon's global pool (frames, views) and
/// polars' (rules): as many as rayon's.
fn reader_pool() -> Result<rayon::ThreadPool, RunError> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(rayon::current_num_threads())
        .thread_name(|i| format!("recon-read-{i}"))
        .build()
        .map_err(|e| RunError::Internal(format!("cannot start the reading threads: {e}")))
}

/// Opens the snapshot folder (its manifest and account lists), logging its warnings; a
/// missing folder or business date is a usage error.
pub(crate) fn open(dir: &Path, as_of: Option<NaiveDate>) -> Result<OpenSnapshot, RunError> {
    if !dir.is_dir() {
        return Err(RunError::Usage(format!(
            "snapshot folder {} does not exist",
            dir.display()
        )));
    }
    let snapshot = open_snapshot(dir, as_of).map_err(|e| match e {
        SnapshotError::NoAsOf(_) | SnapshotError::Missing(_) => RunError::Usage(e.to_string()),
        other => RunError::Snapshot(other.into()),
    })?;
    for warning in &snapshot.warnings {
        tracing::warn!("{warning}");
    }
    Ok(snapshot)
}

/// The snapshot's brokers, by its manifest (none without one).
pub(crate) fn brokers(snapshot: &OpenSnapshot) -> Vec<String> {
    match &snapshot.manifest {
        Some(m) => m.brokers.keys().cloned().collect(),
        None => Vec::new(),
    }
}

/// Chunk `index` of the accounts (`part`): what belongs to no account (the lists'
/// quarantine, the run-wide gaps) comes with the first, as it comes first in a whole read.
pub(crate) fn read_chunk(
    snapshot: &OpenSnapshot,
    part: &[AccountRef],
    index: usize,
) -> ReadSnapshot {
    let mut read = match index {
        0 => snapshot.run_wide(),
        _ => ReadSnapshot::empty(snapshot.as_of),
    };
    read.extend(snapshot.read(part));
    read
}

/// What every check does once its rules ran, whatever the engine: findings in canonical
/// order, waivers, the run's files, the email.
pub(crate) fn finish_run(
    opts: &CheckOptions,
    as_of: NaiveDate,
    mut tally: RunTally,
    started_at: chrono::DateTime<Utc>,
    timings: Timings,
) -> Result<RunResult, RunError> {
    tally.eval.sort(&recon_rules::rule_order(&opts.packs));
    let mut findings = std::mem::take(&mut tally.eval.findings);
    let stats = std::mem::take(&mut tally.eval.stats);
    waivers::apply(&mut findings, &opts.waivers, as_of);

    let incomplete = incomplete_items(&tally.fetch_errors, &tally.incomplete);
    let exit = ExitStatus::of_run(&findings, opts.fail_on, !incomplete.is_empty(), false);

    let facts = run_facts(
        opts, as_of, &mut tally, started_at, timings, incomplete, exit,
    );
    let dir = opts
        .run_dir
        .clone()
        .unwrap_or_else(|| recon_report::run_dir(&opts.out_dir, as_of, &opts.run_id));
    let report_started = Instant::now();
    let mut output = write_run(&opts.out_dir, &dir, &facts, &mut findings, &stats)?;
    // The report's own time is known only once it is written: summary.json gets it after.
    let report_ms = report_started.elapsed().as_millis() as u64;
    output.summary.timings_ms.insert("report".into(), report_ms);
    output.summary.peak_rss_kib = peak_rss_kib().or(output.summary.peak_rss_kib);
    recon_report::files::rewrite_summary(&output.dir, &output.summary)?;
    let mut exit = exit;
    if let Some(settings) = &opts.email {
        let outcome = deliver(settings, &output, &findings, &opts.out_dir);
        if let Some(e) = &outcome.error {
            // The report is on disk; only delivery failed. 2 still outranks 4.
            tracing::error!("{e}");
            exit = ExitStatus::of_run(&findings, opts.fail_on, !facts.incomplete.is_empty(), true);
            output.summary.exit_code = exit.code();
        }
        output.summary.email = Some(outcome);
        recon_report::files::rewrite_summary(&output.dir, &output.summary)?;
    }
    Ok(RunResult {
        output,
        findings,
        exit,
    })
}

/// The default packs: the built-in `core` (rules/core.toml, compiled into the binary).
pub fn builtin_packs() -> Result<Vec<Pack>, PackError> {
    load_packs(&[PathBuf::from("core")])
}

/// Reads the packs in `paths`, or the built-in core pack when none are given. A path that
/// is a built-in pack's id (`core`, `risk`, `data-quality`) and no file loads that pack.
pub fn load_packs(paths: &[PathBuf]) -> Result<Vec<Pack>, PackError> {
    if paths.is_empty() {
        return builtin_packs();
    }
    paths
        .iter()
        .map(
            |p| match p.to_str().filter(|n| recon_rules::pack::names_builtin(n)) {
                Some(id) => recon_rules::pack::builtin_pack(id).expect("a built-in id"),
                None => recon_rules::load_pack_file(Path::new(p)),
            },
        )
        .collect()
}

/// Reads the waivers file, if one is named; a bad one is a usage error naming it.
pub fn load_waivers(path: Option<&Path>, packs: &[Pack]) -> Result<Vec<Waiver>, RunError> {
    match path {
        Some(p) => waivers::load(p, packs).map_err(RunError::Usage),
        None => Ok(Vec::new()),
    }
}

/// The process's peak resident memory (`VmHWM`), on Linux.
pub fn peak_rss_kib() -> Option<u64> {
    proc_status_kib("VmHWM:")
}

/// The process's resident memory now (`VmRSS`), on Linux.
pub fn resident_kib() -> Option<u64> {
    proc_status_kib("VmRSS:")
}

fn proc_status_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// `recon report send RUN_DIR`: delivers the email of a finished run (after fixing the SMTP
/// settings, say), from its `summary.json` and `findings.jsonl`, to the recipients the
/// ledger says do not have it yet (all of them with `resend`). The ledger is the one of the
/// run's own out_dir (`RUN_DIR/../..`), whatever the current directory.
pub fn send_run(run_dir: &Path, settings: &EmailSettings) -> Result<EmailOutcome, RunError> {
    let out_dir = run_dir
        .parent()
        .and_then(Path::parent)
        .filter(|d| d.join("latest.json").is_file() || d.join(email::ledger::FILE).is_file())
        .ok_or_else(|| {
            RunError::Usage(format!(
                "{} is not a run folder (<out_dir>/<as_of>/<run_id>/, beside latest.json)",
                run_dir.display()
            ))
        })?
        .to_path_buf();
    let read = |name: &str| {
        std::fs::read(run_dir.join(name))
            .map_err(|e| RunError::Usage(format!("{}: {e}", run_dir.join(name).display())))
    };
    let summary: recon_report::Summary = serde_json::from_slice(&read("summary.json")?)
        .map_err(|e| RunError::Usage(format!("{}: {e}", run_dir.join("summary.json").display())))?;
    let text = String::from_utf8_lossy(&read("findings.jsonl")?).into_owned();
    let findings = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(serde_json::from_str::<Finding>)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| {
            RunError::Usage(format!("{}: {e}", run_dir.join("findings.jsonl").display()))
        })?;
    let output = RunOutput {
        dir: run_dir.to_path_buf(),
        summary,
    };
    let outcome = deliver(settings, &output, &findings, &out_dir);
    // Recorded in the run's summary too, so it says where the email went.
    let mut summary = output.summary;
    summary.email = Some(outcome.clone());
    if let Err(e) = recon_report::files::rewrite_summary(run_dir, &summary) {
        tracing::warn!(
            "cannot update {}: {e}",
            run_dir.join("summary.json").display()
        );
    }
    match &outcome.error {
        Some(e) => Err(RunError::Delivery(e.clone())),
        None => Ok(outcome),
    }
}
