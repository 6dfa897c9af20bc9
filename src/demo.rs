//! `recon demo`: the whole pipeline on a fresh machine with no config. It starts the
//! simulator in-process on loopback with the demo book and runs exactly what `recon run`
//! runs, with a config pointing at the simulator.

use crate::config::{BookConfig, BrokerConfig, Brokers, Config, EmailConfig};
use crate::pipeline::{RunError, RunResult};
use crate::run::{Overrides, RunPlan, run};
use chrono::NaiveDate;
use figment::value::magic::RelativePathBuf;
use recon_model::manifest::Manifest;
use recon_rules::Severity;
use recon_sim::{RunningSim, SimBook, SimCredentials, SimOptions};
use std::collections::BTreeMap;
use std::path::PathBuf;

pub struct DemoOptions {
    pub out_dir: PathBuf,
    pub as_of: Option<NaiveDate>,
    pub fail_on: Severity,
}

pub struct DemoResult {
    pub run: RunResult,
    pub manifest: Manifest,
}

/// A config that fetches from the running simulator.
pub fn config_for(sim: &RunningSim, out_dir: PathBuf, as_of: NaiveDate) -> Config {
    Config {
        as_of: Some(as_of),
        timezone: "America/New_York".into(),
        out_dir: RelativePathBuf::from(out_dir),
        fail_on: Severity::Error,
        memory_budget: None,
        brokers: sim_brokers(sim),
        rules: Default::default(),
        report: Default::default(),
        // The demo writes the compliance email into the run's outbox/.
        email: EmailConfig {
            enabled: true,
            to: vec!["compliance@example.com".into()],
            routes: BTreeMap::from([(Severity::Critical, vec!["cro@example.com".into()])]),
            ..EmailConfig::default()
        },
        books: BTreeMap::new(),
    }
}

/// Every broker the simulator serves, with the credentials it accepts.
pub fn sim_brokers(sim: &RunningSim) -> Brokers {
    let mut brokers = Brokers::default();
    for (broker, creds) in sim.credentials.by_broker() {
        let Some(url) = sim.url(broker) else { continue };
        let mut b = BrokerConfig::new(url);
        b.deadline_secs = 300;
        for (key, value) in creds {
            b.set_secret(key, value);
        }
        brokers.insert(broker, b);
    }
    brokers
}

/// The demo: the built-in demo book through the whole pipeline.
pub fn run_demo(opts: &DemoOptions) -> Result<DemoResult, RunError> {
    // The demo's book of record (fixtures/demo/book.csv, built into the binary) is written
    // beside the runs and compared by the books pack, like a firm's OMS export would be.
    let dir = opts.out_dir.join("demo-book-of-record");
    let io = |e: std::io::Error| RunError::Internal(format!("{}: {e}", dir.display()));
    std::fs::create_dir_all(&dir).map_err(io)?;
    std::fs::write(dir.join("book.csv"), DEMO_BOOK).map_err(io)?;
    std::fs::write(dir.join("book-cash.csv"), DEMO_BOOK_CASH).map_err(io)?;
    let books = BTreeMap::from([(
        "demo".to_string(),
        BookConfig::files(dir.join("book.csv"), Some(dir.join("book-cash.csv"))),
    )]);
    run_book_with(SimBook::demo(), opts, books)
}

/// The demo's book of record: the demo positions with one break of each kind planted.
const DEMO_BOOK: &str = include_str!("../fixtures/demo/book.csv");
const DEMO_BOOK_CASH: &str = include_str!("../fixtures/demo/book-cash.csv");

/// Any book through the whole pipeline, with no book of record.
pub fn run_book(book: SimBook, opts: &DemoOptions) -> Result<DemoResult, RunError> {
    run_book_with(book, opts, BTreeMap::new())
}

/// Any book through the whole pipeline: simulator → HTTP fetch → snapshot → check, with
/// `books` of record.
pub fn run_book_with(
    book: SimBook,
    opts: &DemoOptions,
    books: BTreeMap<String, BookConfig>,
) -> Result<DemoResult, RunError> {
    let as_of = opts.as_of.unwrap_or(book.as_of);
    // The simulator lives on its own runtime thread while the pipeline runs its own.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(|e| RunError::Internal(format!("cannot start the async runtime: {e}")))?;
    let sim = runtime
        .block_on(recon_sim::start(
            book,
            SimCredentials::random(),
            SimOptions::default(),
        ))
        .map_err(|e| RunError::Internal(format!("cannot start the simulator on 127.0.0.1: {e}")))?;
    let mut config = config_for(&sim, opts.out_dir.clone(), as_of);
    config.books = books;
    let plan = RunPlan::new(
        &config,
        &Overrides {
            fail_on: Some(opts.fail_on),
            ..Overrides::default()
        },
    );
    // The demo is a fresh run each time: it always writes its email.
    let result = run(&config, &plan, true);
    runtime.block_on(sim.shutdown());
    let (run, manifest) = result?;
    Ok(DemoResult { run, manifest })
}
