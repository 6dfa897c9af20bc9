//! `recon run` and `recon fetch`: every enabled broker fetched into the run's snapshot, then
//! (for `run`) checked like any snapshot. The demo goes through the same path with a config
//! that points at its in-process simulator.

use crate::config::Config;
use crate::config::credential_keys;
use crate::pipeline::{
    CheckOptions, RunError, RunResult, check_snapshot, load_packs, load_waivers, new_run_id,
};
use chrono::NaiveDate;
use recon_fetch::{
    Connector, FetchOptions, Progress, RetryPolicy, Secrets, SnapshotWriter, fetch_all_with,
};
use recon_model::manifest::Manifest;
use recon_report::email::EmailSettings;
use recon_rules::Severity;
use recon_rules::params::Overrides as ParamOverrides;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// What the command line adds to the config.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub out_dir: Option<PathBuf>,
    pub as_of: Option<NaiveDate>,
    pub fail_on: Option<Severity>,
}

/// The settled parameters of one run.
pub struct RunPlan {
    pub out_dir: PathBuf,
    pub as_of: NaiveDate,
    pub fail_on: Severity,
    pub run_id: String,
    pub run_dir: PathBuf,
}

impl RunPlan {
    pub fn new(config: &Config, overrides: &Overrides) -> RunPlan {
        let out_dir = overrides
            .out_dir
            .clone()
            .unwrap_or_else(|| config.out_dir.relative());
        let as_of = overrides.as_of.unwrap_or_else(|| config.business_date());
        let run_id = new_run_id();
        let run_dir = recon_report::run_dir(&out_dir, as_of, &run_id);
        RunPlan {
            out_dir,
            as_of,
            fail_on: overrides.fail_on.unwrap_or(config.fail_on),
            run_id,
            run_dir,
        }
    }
}

/// One connector per enabled broker.
pub fn connectors(config: &Config) -> Result<Vec<Box<dyn Connector>>, RunError> {
    let mut out: Vec<Box<dyn Connector>> = Vec::new();
    for (broker, b) in config.brokers.enabled() {
        let options = FetchOptions {
            accounts: b.accounts.clone(),
            concurrency: b.concurrency,
            timeout: Duration::from_secs(b.timeout_secs),
            retry: RetryPolicy {
                retries: b.retries,
                ..RetryPolicy::default()
            },
            requests_per_second: b.requests_per_second,
            deadline: Some(Duration::from_secs(b.deadline_secs)),
        };
        let mut secrets = Secrets::default();
        for key in credential_keys(broker) {
            if let Some(value) = b.secret(key) {
                secrets.insert(key, value.clone());
            }
        }
        let url = b.url(broker).unwrap_or_default();
        let connector = recon_fetch::connector(broker, &url, secrets, options)
            .map_err(|e| RunError::Usage(format!("brokers.{broker}: {e}")))?;
        out.push(connector);
    }
    if out.is_empty() {
        return Err(RunError::Usage(
            "no broker is enabled: configure at least one [brokers.<name>] section in recon.toml (see recon.example.toml)".into(),
        ));
    }
    Ok(out)
}

/// Fetches every enabled broker into `snapshot`, a new folder (or an existing snapshot
/// replaced whole, with `replace`). Returns the manifest and the time taken.
pub fn fetch(
    config: &Config,
    snapshot: &Path,
    as_of: NaiveDate,
    replace: bool,
) -> Result<(Manifest, u64), RunError> {
    let started = Instant::now();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| RunError::Internal(format!("cannot start the async runtime: {e}")))?;
    // A gRPC channel (Architect) is made inside the runtime that will drive it.
    let _inside = runtime.enter();
    let connectors = connectors(config)?;
    let out = if replace {
        SnapshotWriter::create_replacing(snapshot)
    } else {
        SnapshotWriter::create(snapshot)
    }
    .map_err(|e| RunError::Usage(format!("--snapshot-out: {e}")))?;
    let progress = Progress::stderr();
    let manifest = runtime.block_on(fetch_all_with(&connectors, &out, as_of, &progress))?;
    Ok((manifest, started.elapsed().as_millis() as u64))
}

/// What the config decides about checking a snapshot: packs, waivers, parameter
/// overrides, email and the config's digest. `recon run` and `recon check` both take it
/// from here, so a replay of a run's snapshot under the same config gives the same findings.
pub struct CheckSetup {
    pub packs: Vec<recon_rules::Pack>,
    pub waivers: Vec<recon_rules::waivers::Waiver>,
    pub overrides: ParamOverrides,
    pub email: Option<EmailSettings>,
    pub config_sha256: Option<String>,
    /// The books of record to compare (the `books` pack runs when there is one).
    pub books: Vec<recon_frames::books::BookSpec>,
    /// Chunks sized to the config's `memory_budget` (or the default one).
    pub chunking: crate::pipeline::Chunking,
}

impl CheckSetup {
    /// From `config` (none: the defaults), with the command line's packs and waivers file
    /// in place of the config's when given. Errors here stop the run before anything runs.
    pub fn new(
        config: Option<&Config>,
        cli_packs: &[PathBuf],
        cli_waivers: Option<&Path>,
        resend: bool,
    ) -> Result<CheckSetup, RunError> {
        let pack_files = match config {
            Some(c) if cli_packs.is_empty() => {
                c.pack_files().map_err(|e| RunError::Usage(e.to_string()))?
            }
            _ => cli_packs.to_vec(),
        };
        let books = config.map(Config::book_specs).unwrap_or_default();
        let mut pack_files = pack_files;
        // A configured book is compared: the built-in books pack runs with it unless a
        // pack of that id is already named.
        if !books.is_empty() && !pack_files.iter().any(|p| p.as_os_str() == "books") {
            if pack_files.is_empty() {
                pack_files.push(PathBuf::from("core"));
            }
            pack_files.push(PathBuf::from("books"));
        }
        let packs = load_packs(&pack_files)?;
        let waivers_file = cli_waivers.or_else(|| config.and_then(|c| c.rules.waivers.as_deref()));
        let waivers = load_waivers(waivers_file, &packs)?;
        let overrides = match config {
            Some(c) => {
                ParamOverrides::from_config(&c.rules.params, &packs).map_err(RunError::Usage)?
            }
            None => ParamOverrides::default(),
        };
        Ok(CheckSetup {
            email: config
                .and_then(Config::email_settings)
                .map(|e| EmailSettings { resend, ..e }),
            config_sha256: config.map(Config::digest),
            books,
            packs,
            waivers,
            overrides,
            chunking: config
                .and_then(|c| c.memory_budget)
                .map(|b| crate::pipeline::Chunking::Budget(b.as_u64()))
                .unwrap_or_default(),
        })
    }
}

/// The whole run: fetch into `<run_dir>/snapshot`, then check.
pub fn run(
    config: &Config,
    plan: &RunPlan,
    resend: bool,
) -> Result<(RunResult, Manifest), RunError> {
    // Config errors stop the run before anything is fetched.
    let setup = CheckSetup::new(Some(config), &[], None, resend)?;
    let snapshot = plan.run_dir.join("snapshot");
    let (manifest, fetch_ms) = fetch(config, &snapshot, plan.as_of, false)?;
    let result = check_snapshot(&CheckOptions {
        snapshot,
        out_dir: plan.out_dir.clone(),
        run_dir: Some(plan.run_dir.clone()),
        run_id: plan.run_id.clone(),
        as_of: Some(plan.as_of),
        fail_on: plan.fail_on,
        earlier_timings: vec![("fetch".to_string(), fetch_ms)],
        ..CheckOptions::from_setup(setup)
    })?;
    Ok((result, manifest))
}
