//! `recon demo`: the whole pipeline on a fresh machine with no config. It starts the
//! simulator in-process on loopback with the demo book, fetches every account over real
//! HTTP into the run's `snapshot/`, and checks it like any other snapshot.

use crate::pipeline::{
    CheckOptions, RunError, RunResult, builtin_packs, check_snapshot, new_run_id,
};
use chrono::NaiveDate;
use recon_fetch::tradezero::{Credentials, TradeZero};
use recon_fetch::{Connector, FetchOptions, SnapshotWriter, fetch_all};
use recon_model::Broker;
use recon_model::manifest::Manifest;
use recon_rules::Severity;
use recon_sim::{SimBook, SimCredentials, SimOptions};
use secrecy::SecretString;
use std::path::PathBuf;
use std::time::Instant;

pub struct DemoOptions {
    pub out_dir: PathBuf,
    pub as_of: Option<NaiveDate>,
    pub fail_on: Severity,
}

pub struct DemoResult {
    pub run: RunResult,
    pub manifest: Manifest,
    pub fetch_ms: u64,
}

/// Serves `book` from an in-process simulator and fetches it into `snapshot`.
async fn fetch_book(
    book: SimBook,
    snapshot: PathBuf,
    as_of: NaiveDate,
) -> Result<Manifest, RunError> {
    let sim = recon_sim::start(book, SimCredentials::random(), SimOptions::default())
        .await
        .map_err(|e| RunError::Internal(format!("cannot start the simulator on 127.0.0.1: {e}")))?;
    let url = sim
        .url(Broker::Tradezero)
        .ok_or_else(|| RunError::Internal("the simulator serves no TradeZero".into()))?;
    let creds = &sim.credentials.tradezero;
    let tradezero = TradeZero::new(
        url,
        Credentials {
            api_key_id: SecretString::from(creds.api_key_id.clone()),
            api_secret_key: SecretString::from(creds.api_secret_key.clone()),
        },
        FetchOptions::default(),
    )
    .map_err(|e| RunError::Internal(format!("cannot build the HTTP client: {e}")))?;
    let connectors: Vec<Box<dyn Connector>> = vec![Box::new(tradezero)];
    let out = SnapshotWriter::create(&snapshot)?;
    let manifest = fetch_all(&connectors, &out, as_of).await?;
    sim.shutdown().await;
    Ok(manifest)
}

/// The demo: the built-in demo book through the whole pipeline.
pub fn run_demo(opts: &DemoOptions) -> Result<DemoResult, RunError> {
    run_book(SimBook::demo(), opts)
}

/// Any book through the whole pipeline: simulator → HTTP fetch → snapshot → check.
pub fn run_book(book: SimBook, opts: &DemoOptions) -> Result<DemoResult, RunError> {
    let as_of = opts.as_of.unwrap_or(book.as_of);
    let run_id = new_run_id();
    let run_dir = recon_report::run_dir(&opts.out_dir, as_of, &run_id);
    let snapshot = run_dir.join("snapshot");

    let started = Instant::now();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| RunError::Internal(format!("cannot start the async runtime: {e}")))?;
    let manifest = runtime.block_on(fetch_book(book, snapshot.clone(), as_of))?;
    drop(runtime);
    let fetch_ms = started.elapsed().as_millis() as u64;

    let run = check_snapshot(&CheckOptions {
        snapshot,
        out_dir: opts.out_dir.clone(),
        run_dir: Some(run_dir),
        run_id,
        as_of: Some(as_of),
        fail_on: opts.fail_on,
        packs: builtin_packs()?,
        earlier_timings: vec![("fetch".to_string(), fetch_ms)],
    })?;
    Ok(DemoResult {
        run,
        manifest,
        fetch_ms,
    })
}
