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
    /// Peak resident memory of the process so far, in KiB (Linux; `None` elsewhere).
    #[serde(default)]
    pub peak_rss_kib: Option<u64>,
    /// Each account's net liq, cash and position value, for the HTML report's chart.
    #[serde(default)]
    pub accounts: Vec<AccountFigure>,
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
    /// Findings of the previous run that this run no longer reports.
    pub resolved: Vec<Resolved>,
    pub exit_code: i32,
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
            exit_code: facts.exit_code,
            accounts: facts.accounts.clone(),
        }
    }
}
