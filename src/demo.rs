//! `recon demo`: the whole pipeline on a fresh machine with no config. It starts the
//! simulator in-process on loopback with the demo book and runs exactly what `recon run`
//! runs, with a config pointing at the simulator.

use crate::config::{BrokerConfig, Brokers, Config, EmailConfig};
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
        *brokers.get_mut(broker) = Some(b);
    }
    brokers
}

/// The demo: the built-in demo book through the whole pipeline.
pub fn run_demo(opts: &DemoOptions) -> Result<DemoResult, RunError> {
    run_book(SimBook::demo(), opts)
}

/// Any book through the whole pipeline: simulator → HTTP fetch → snapshot → check.
pub fn run_book(book: SimBook, opts: &DemoOptions) -> Result<DemoResult, RunError> {
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
    let config = config_for(&sim, opts.out_dir.clone(), as_of);
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
