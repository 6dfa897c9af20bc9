//! Progress of a fetch: one bar per broker on a terminal (accounts fetched of all accounts,
//! requests and retries so far); nothing drawn when stderr is not a terminal, where the log
//! lines of `fetch_all` say the same at the end of each broker.

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::sync::atomic::{AtomicU64, Ordering};

/// The bars of one fetch.
#[derive(Debug, Clone)]
pub struct Progress {
    multi: MultiProgress,
}

impl Progress {
    /// Bars on stderr when it is a terminal; hidden otherwise.
    pub fn stderr() -> Self {
        Progress {
            multi: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
        }
    }

    /// Never draws (tests, library use).
    pub fn hidden() -> Self {
        Progress {
            multi: MultiProgress::with_draw_target(ProgressDrawTarget::hidden()),
        }
    }

    pub fn broker(&self, name: &str) -> BrokerProgress {
        let bar = self.multi.add(ProgressBar::new(0));
        bar.set_style(
            ProgressStyle::with_template("{prefix:>12} [{bar:30}] {pos}/{len} accounts  {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        bar.set_prefix(name.to_string());
        BrokerProgress {
            bar,
            requests: AtomicU64::new(0),
            retries: AtomicU64::new(0),
        }
    }
}

/// One broker's bar and counters.
#[derive(Debug)]
pub struct BrokerProgress {
    bar: ProgressBar,
    requests: AtomicU64,
    retries: AtomicU64,
}

impl BrokerProgress {
    pub fn hidden() -> Self {
        Progress::hidden().broker("")
    }

    pub fn set_accounts(&self, total: usize) {
        self.bar.set_length(total as u64);
    }

    pub fn account_done(&self) {
        self.bar.inc(1);
    }

    pub fn request(&self, attempts: u32) {
        let requests = self.requests.fetch_add(1, Ordering::Relaxed) + 1;
        let retries = self
            .retries
            .fetch_add(u64::from(attempts.saturating_sub(1)), Ordering::Relaxed)
            + u64::from(attempts.saturating_sub(1));
        self.bar
            .set_message(format!("{requests} requests, {retries} retries"));
    }

    pub fn finish(&self) {
        self.bar.finish();
    }
}
