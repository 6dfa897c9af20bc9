//! `summary.json`: what ran, what it saw and what it found, counted every way a reader asks.

use crate::diff::Resolved;
use chrono::{DateTime, NaiveDate, Utc};
use recon_rules::views::AccountFigure;
use recon_rules::{Finding, RuleStats};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A rule pack as it ran.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackInfo {
    pub id: String,
    pub version: String,
    pub file: String,
    pub sha256: String,
}

/// What became of a run's email (summary.json `email`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmailOutcome {
    /// The digest of what the email says (`email::digest`), the ledger's key.
    pub digest: String,
    pub sent_to: Vec<String>,
    /// Recipients the ledger says already have this exact email.
    pub already_had: Vec<String>,
    /// Recipients an earlier attempt may have reached: it died between handing the
    /// message over and recording the outcome. Not sent again (`--resend` does).
    pub possibly_sent_before: Vec<String>,
    pub error: Option<String>,
}

/// Something that could not be fetched or read, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncompleteItem {
    pub broker: String,
    pub account: Option<String>,
    pub reason: String,
}

/// Facts about the run that the report cannot derive from the findings.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunFacts {
    pub run_id: String,
    pub as_of: NaiveDate,
    pub started_at: DateTime<Utc>,
    /// Wall time per stage, in milliseconds, in pipeline order.
    pub timings_ms: Vec<(String, u64)>,
    pub packs: Vec<PackInfo>,
    pub brokers: Vec<String>,
    pub accounts_checked: u64,
    pub positions_checked: u64,
    pub incomplete: Vec<IncompleteItem>,
    pub exit_code: i32,
    /// sha256 of the effective config, secrets redacted; `None` when no config was read.
    #[serde(default)]
    pub config_sha256: Option<String>,
    /// Peak resident memory of the process so far, in KiB (Linux; `None` elsewhere).
    #[serde(default)]
    pub peak_rss_kib: Option<u64>,
    /// Each account's net liq, cash and position value, for the HTML report's chart.
    #[serde(default)]
    pub accounts: Vec<AccountFigure>,
}

impl RunFacts {
    /// The accounts read completely this run, and the brokers read with no broker-wide gap.
    pub fn checked(&self) -> crate::diff::Checked {
        let mut checked = crate::diff::Checked::default();
        for f in &self.accounts {
            let incomplete = self.incomplete.iter().any(|i| {
                i.broker == f.broker && i.account.as_ref().is_none_or(|a| a == &f.account)
            });
            if !incomplete {
                checked
                    .accounts
                    .insert((f.broker.clone(), f.account.clone()));
            }
        }
        for broker in self
            .brokers
            .iter()
            .chain(self.accounts.iter().map(|f| &f.broker))
        {
            if !self
                .incomplete
                .iter()
                .any(|i| &i.broker == broker && i.account.is_none())
            {
                checked.brokers.insert(broker.clone());
            }
        }
        checked
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub total: u64,
    pub by_severity: BTreeMap<String, u64>,
    pub by_status: BTreeMap<String, u64>,
    pub by_broker: BTreeMap<String, u64>,
    pub by_rule: BTreeMap<String, u64>,
}

impl Counts {
    pub fn of(findings: &[Finding]) -> Counts {
        let mut c = Counts::default();
        for f in findings {
            c.total += 1;
            *c.by_severity.entry(f.severity.to_string()).or_default() += 1;
            *c.by_status
                .entry(f.status.as_str().to_string())
                .or_default() += 1;
            *c.by_broker
                .entry(f.broker.clone().unwrap_or_else(|| "-".into()))
                .or_default() += 1;
            *c.by_rule.entry(f.rule.clone()).or_default() += 1;
        }
        c
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Summary {
    pub run_id: String,
    pub as_of: NaiveDate,
    pub started_at: DateTime<Utc>,
    pub timings_ms: BTreeMap<String, u64>,
    pub peak_rss_kib: Option<u64>,
    /// sha256 of the effective config (secrets redacted), so an auditor can tell that two
    /// runs ran under the same settings; each pack's own sha256 is in `packs`.
    #[serde(default)]
    pub config_sha256: Option<String>,
    pub packs: Vec<PackInfo>,
    pub brokers: Vec<String>,
    pub accounts_checked: u64,
    pub positions_checked: u64,
    pub complete: bool,
    pub incomplete: Vec<IncompleteItem>,
    pub counts: Counts,
    /// Per rule: rows in scope, passed, failed, unknown and out of scope.
    pub rules: Vec<RuleStats>,
    /// The run this one was compared with, if any.
    pub previous_run: Option<String>,
    /// Findings of the previous run that this run no longer reports, on accounts it read.
    pub resolved: Vec<Resolved>,
    /// Findings of the previous run on accounts this run did not (fully) read: neither
    /// resolved nor seen again.
    #[serde(default)]
    pub not_rechecked: Vec<Resolved>,
    pub exit_code: i32,
    /// What became of the compliance email, when one is configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<EmailOutcome>,
    /// Each account's headline amounts, for the HTML chart (not written to summary.json:
    /// with 10,000 accounts it would dwarf the rest).
    #[serde(skip)]
    pub accounts: Vec<AccountFigure>,
}

impl Summary {
    pub fn new(facts: &RunFacts, findings: &[Finding], stats: &[RuleStats]) -> Summary {
        Summary {
            run_id: facts.run_id.clone(),
            as_of: facts.as_of,
            started_at: facts.started_at,
            timings_ms: facts.timings_ms.iter().cloned().collect(),
            peak_rss_kib: facts.peak_rss_kib,
            config_sha256: facts.config_sha256.clone(),
            packs: facts.packs.clone(),
            brokers: facts.brokers.clone(),
            accounts_checked: facts.accounts_checked,
            positions_checked: facts.positions_checked,
            complete: facts.incomplete.is_empty(),
            incomplete: facts.incomplete.clone(),
            counts: Counts::of(findings),
            rules: stats.to_vec(),
            previous_run: None,
            resolved: Vec::new(),
            not_rechecked: Vec::new(),
            exit_code: facts.exit_code,
            email: None,
            accounts: facts.accounts.clone(),
        }
    }
}
