//! Helpers the connector tests share.
#![allow(dead_code)] // each test file uses its own subset

use recon_fetch::{FetchOptions, RetryPolicy};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Every file below `dir`.
pub fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// Options that retry `retries` times with waits of at most 50 ms (Retry-After included),
/// so fault profiles run in milliseconds.
pub fn quick(retries: usize) -> FetchOptions {
    FetchOptions {
        timeout: Duration::from_secs(5),
        retry: RetryPolicy {
            retries,
            min_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(50),
        },
        ..FetchOptions::default()
    }
}

/// The connector recon builds for `broker`, pointed at the simulator (or at `url`) with the
/// simulator's credentials, some of them swapped by `replace` (a wrong secret).
pub fn sim_connector(
    sim: &recon_sim::RunningSim,
    broker: recon_model::Broker,
    url: Option<&str>,
    options: FetchOptions,
    replace: &[(&str, &str)],
) -> Box<dyn recon_fetch::Connector> {
    let (_, creds) = sim
        .credentials
        .by_broker()
        .find(|(b, _)| *b == broker)
        .expect("the simulator has credentials for every broker");
    let mut secrets = recon_fetch::Secrets::default();
    for (key, value) in creds {
        let value = replace
            .iter()
            .find(|(k, _)| *k == key)
            .map_or(value, |(_, v)| v)
            .to_string();
        secrets.insert(key, secrecy::SecretString::from(value));
    }
    let url = url.unwrap_or_else(|| sim.url(broker).unwrap());
    recon_fetch::connector(broker, url, secrets, options).unwrap()
}

/// Every connector's fetch into a new snapshot folder.
pub async fn fetch_into(
    connectors: &[Box<dyn recon_fetch::Connector>],
    as_of: chrono::NaiveDate,
) -> (tempfile::TempDir, recon_model::manifest::Manifest) {
    let dir = tempfile::tempdir().unwrap();
    let out = recon_fetch::SnapshotWriter::create(dir.path()).unwrap();
    let manifest = recon_fetch::fetch_all(connectors, &out, as_of)
        .await
        .unwrap();
    (dir, manifest)
}
