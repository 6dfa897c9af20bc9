//! The connector trait, the bookkeeping every connector shares (recording each request and
//! each failure for the manifest), and `fetch_all`, which runs every broker at once.

use crate::http::RetryPolicy;
use crate::progress::{BrokerProgress, Progress};
use crate::snapshot::SnapshotWriter;
use chrono::{NaiveDate, Utc};
use recon_model::Broker;
use recon_model::manifest::{
    BrokerManifest, FetchErrorRecord, FetchStatus, MANIFEST_FORMAT, Manifest, RequestRecord,
};
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Settings every connector takes from config.
#[derive(Debug, Clone)]
pub struct FetchOptions {
    /// Only these accounts (case-insensitive); all the broker lists when `None`.
    pub accounts: Option<Vec<String>>,
    /// Requests in flight at once for this broker.
    pub concurrency: usize,
    /// Per-request timeout.
    pub timeout: Duration,
    pub retry: RetryPolicy,
    /// At most this many requests a second to this broker (attempts and retries alike).
    pub requests_per_second: Option<u32>,
    /// The whole broker's fetch ends this long after the connector is made: later requests
    /// are not started, and are recorded as not fetched.
    pub deadline: Option<Duration>,
}

impl Default for FetchOptions {
    fn default() -> Self {
        FetchOptions {
            accounts: None,
            concurrency: 4,
            timeout: Duration::from_secs(30),
            retry: RetryPolicy::default(),
            requests_per_second: None,
            deadline: None,
        }
    }
}

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One broker's way of fetching every account into the snapshot. A connector never fails as
/// a whole: what it could not get is in the manifest entry it returns.
pub trait Connector: Send + Sync {
    fn broker(&self) -> Broker;
    fn fetch<'a>(
        &'a self,
        out: &'a SnapshotWriter,
        progress: BrokerProgress,
    ) -> BoxFuture<'a, BrokerManifest>;
}

/// What a broker's connector knows of its API: how to list the accounts and how to fetch
/// one. The run around them (the ledger, the allow list, the bounded concurrency, the
/// manifest entry) is the same for every broker: the `Connector` impl below.
pub trait BrokerApi: Send + Sync {
    const BROKER: Broker;

    fn options(&self) -> &FetchOptions;

    /// The account ids the broker lists (its list's bodies written to the snapshot), or why
    /// they could not be had.
    fn list(
        &self,
        ledger: &Ledger,
        out: &SnapshotWriter,
    ) -> impl Future<Output = Result<Vec<String>, String>> + Send;

    /// One account's endpoints into the snapshot, each request under a permit of `gate`;
    /// what fails goes to the ledger.
    fn account(
        &self,
        ledger: &Ledger,
        out: &SnapshotWriter,
        id: &str,
        gate: &tokio::sync::Semaphore,
    ) -> impl Future<Output = ()> + Send;
}

impl<T: BrokerApi> Connector for T {
    fn broker(&self) -> Broker {
        T::BROKER
    }

    fn fetch<'a>(
        &'a self,
        out: &'a SnapshotWriter,
        progress: BrokerProgress,
    ) -> BoxFuture<'a, BrokerManifest> {
        Box::pin(async move {
            let ledger = Ledger::new(progress);
            let listed = self.list(&ledger, out).await;
            fetch_accounts(&ledger, self.options(), listed, |id, gate| {
                let ledger = &ledger;
                async move { self.account(ledger, out, &id, &gate).await }
            })
            .await;
            ledger.finish()
        })
    }
}

/// Runs every connector concurrently and writes `manifest.json`.
pub async fn fetch_all(
    connectors: &[Box<dyn Connector>],
    out: &SnapshotWriter,
    as_of: NaiveDate,
) -> std::io::Result<Manifest> {
    fetch_all_with(connectors, out, as_of, &Progress::hidden()).await
}

/// `fetch_all`, drawing progress bars on `progress`.
pub async fn fetch_all_with(
    connectors: &[Box<dyn Connector>],
    out: &SnapshotWriter,
    as_of: NaiveDate,
    progress: &Progress,
) -> std::io::Result<Manifest> {
    let fetches = connectors.iter().map(|c| async move {
        let started = Instant::now();
        let entry = c.fetch(out, progress.broker(c.broker().as_str())).await;
        tracing::info!(
            broker = %c.broker(),
            status = ?entry.status,
            accounts = entry.accounts.len(),
            errors = entry.errors.len(),
            ms = started.elapsed().as_millis() as u64,
            "fetched"
        );
        (c.broker().to_string(), entry)
    });
    let brokers: BTreeMap<String, BrokerManifest> = futures::future::join_all(fetches)
        .await
        .into_iter()
        .collect();
    let manifest = Manifest {
        format: MANIFEST_FORMAT,
        as_of,
        fetched_at: Utc::now(),
        recon_version: env!("CARGO_PKG_VERSION").to_string(),
        brokers,
    };
    out.write_manifest(&manifest)?;
    Ok(manifest)
}

/// The second half of every connector: from the broker's account list (or why it could not
/// be had), the accounts to fetch (allow list applied, unsafe ids refused), each fetched by
/// `fetch` concurrently; `fetch` takes a permit of `gate` for each request, so at most
/// `concurrency` requests are in flight. Only twice that many accounts are started at a
/// time (a future per account of 100,000 held 480 MB), so memory does not grow with the
/// number of accounts.
pub async fn fetch_accounts<F, Fut>(
    ledger: &Ledger,
    options: &FetchOptions,
    listed: Result<Vec<String>, String>,
    fetch: F,
) where
    F: Fn(String, std::sync::Arc<tokio::sync::Semaphore>) -> Fut,
    Fut: Future<Output = ()>,
{
    let wanted = match listed {
        Ok(ids) => crate::client::select_accounts(ledger, ids, options),
        Err(e) => {
            ledger.error(None, "accounts", e);
            return;
        }
    };
    let gate = std::sync::Arc::new(tokio::sync::Semaphore::new(options.concurrency.max(1)));
    use futures::StreamExt;
    let in_flight = options.concurrency.max(1) * 2;
    futures::stream::iter(wanted)
        .for_each_concurrent(in_flight, |id| fetch(id, gate.clone()))
        .await;
}

/// Collects the manifest entry of one broker while its requests run concurrently, and
/// keeps its progress bar moving.
#[derive(Debug)]
pub struct Ledger {
    inner: Mutex<LedgerInner>,
    progress: BrokerProgress,
}

#[derive(Debug, Default)]
struct LedgerInner {
    accounts: Vec<String>,
    errors: Vec<FetchErrorRecord>,
    requests: Vec<RequestRecord>,
    list_failed: bool,
}

impl Ledger {
    pub fn new(progress: BrokerProgress) -> Self {
        Ledger {
            inner: Mutex::default(),
            progress,
        }
    }

    pub fn request(&self, record: RequestRecord) {
        self.progress.request(record.attempts);
        self.inner.lock().unwrap().requests.push(record);
    }

    /// How many accounts will be fetched, once the account list is known.
    pub fn expect_accounts(&self, n: usize) {
        self.progress.set_accounts(n);
    }

    pub fn error(&self, account: Option<&str>, endpoint: &str, error: impl Into<String>) {
        let error = error.into();
        tracing::warn!(account, endpoint, %error, "not fetched");
        let mut inner = self.inner.lock().unwrap();
        if account.is_none() {
            inner.list_failed = true;
        }
        inner.errors.push(FetchErrorRecord {
            account: account.map(str::to_string),
            endpoint: endpoint.to_string(),
            error,
        });
    }

    /// An account whose folder is in the snapshot (even if some endpoint of it failed).
    pub fn account(&self, id: &str) {
        self.progress.account_done();
        self.inner.lock().unwrap().accounts.push(id.to_string());
    }

    pub fn finish(self) -> BrokerManifest {
        self.progress.finish();
        let mut inner = self.inner.into_inner().unwrap();
        inner.accounts.sort();
        inner.requests.sort_by(|a, b| a.path.cmp(&b.path));
        let status = if inner.list_failed {
            FetchStatus::Failed
        } else if inner.errors.is_empty() {
            FetchStatus::Complete
        } else {
            FetchStatus::Partial
        };
        BrokerManifest {
            status,
            accounts: inner.accounts,
            errors: inner.errors,
            requests: Some(inner.requests),
        }
    }
}
