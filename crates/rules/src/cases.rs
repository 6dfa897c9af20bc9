//! Rule-pack test cases (`rules/tests/<pack>/<rule-id>.toml`, one per rule): a small book
//! and exactly the findings it must produce, like ruff's fixture files, and how many rows
//! of a rule passed (`[passes]`). `recon rules test` and `cargo test` run them.
//!
//! Rows take sensible defaults so a case states only what matters to it:
//!
//! ```toml
//! description = "off by one cent more than the tolerance"
//! as_of = "2026-11-20"
//! [[account]]
//! account_id = "A"
//! [[balance]]
//! account_id = "A"
//! cash = "1000"
//! net_liq = "1005.01"
//! [[expect]]
//! rule = "account-value-identity"
//! account = "A"
//! ```

use crate::compile::compile;
use crate::evaluate::evaluate;
use crate::finding::{Finding, FindingStatus, Severity};
use crate::pack::Pack;
use crate::views::Views;
use chrono::{DateTime, NaiveDate, Utc};
use recon_model::manifest::FetchErrorRecord;
use recon_model::{
    AccountKind, AccountRow, AccountStatus, BalanceRow, Book, Broker, Instrument, PnlRow,
    PositionRow, PutCall, QuarantineRow, Side,
};
use rust_decimal::Decimal;
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    pub description: String,
    pub as_of: NaiveDate,
    #[serde(default, rename = "account")]
    accounts: Vec<CaseAccount>,
    #[serde(default, rename = "balance")]
    balances: Vec<CaseBalance>,
    #[serde(default, rename = "position")]
    positions: Vec<CasePosition>,
    #[serde(default, rename = "pnl")]
    pnl: Vec<CasePnl>,
    #[serde(default, rename = "quarantine")]
    quarantine: Vec<CaseQuarantine>,
    /// The firm's book of record (the `books` pack): positions and cash as booked.
    #[serde(default, rename = "book_position")]
    book_positions: Vec<CaseBookPosition>,
    #[serde(default, rename = "book_cash")]
    book_cash: Vec<CaseBookCash>,
    #[serde(default, rename = "book_quarantine")]
    book_quarantine: Vec<CaseBookProblem>,
    /// What the fetch could not get (the manifest's errors, for `fetch-incomplete`).
    #[serde(default, rename = "fetch_error")]
    fetch_errors: Vec<CaseFetchError>,
    #[serde(default, rename = "expect")]
    pub expect: Vec<CaseFinding>,
    /// By rule id, how many rows the rule had in scope that passed: a doc's "Passes"
    /// example asserted, since the absence of a finding cannot tell a pass from a row out
    /// of scope.
    #[serde(default)]
    pub passes: BTreeMap<String, u64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseFetchError {
    #[serde(default = "tradezero")]
    broker: Broker,
    /// `None` when the whole broker failed.
    account: Option<String>,
    endpoint: String,
    error: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseBookPosition {
    #[serde(default = "tradezero")]
    broker: Broker,
    account_id: String,
    symbol: String,
    quantity: Decimal,
    price: Option<Decimal>,
    market_value: Option<Decimal>,
    cusip: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseBookProblem {
    #[serde(default = "tradezero")]
    broker: Broker,
    account_id: String,
    source: String,
    line: u64,
    column: Option<String>,
    reason: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseBookCash {
    #[serde(default = "tradezero")]
    broker: Broker,
    account_id: String,
    #[serde(default = "usd")]
    currency: String,
    amount: Decimal,
}

impl Case {
    /// The case's book of record, when it has one.
    fn book_of_record(&self) -> Option<recon_frames::books::BookRows> {
        if self.book_positions.is_empty()
            && self.book_cash.is_empty()
            && self.book_quarantine.is_empty()
        {
            return None;
        }
        let as_of = self.as_of;
        Some(recon_frames::books::BookRows {
            positions: self
                .book_positions
                .iter()
                .map(|p| recon_model::BookPositionRow {
                    book: "case".into(),
                    broker: p.broker,
                    account_id: p.account_id.clone(),
                    instrument_key: recon_model::instrument_key::instrument_key(&p.symbol, as_of),
                    symbol: p.symbol.clone(),
                    quantity: p.quantity,
                    price: p.price,
                    market_value: p.market_value,
                    cost_basis: None,
                    currency: "USD".into(),
                    as_of,
                    cusip: p.cusip.clone(),
                })
                .collect(),
            cash: self
                .book_cash
                .iter()
                .map(|c| recon_model::BookCashRow {
                    book: "case".into(),
                    broker: c.broker,
                    account_id: c.account_id.clone(),
                    currency: c.currency.clone(),
                    amount: c.amount,
                    as_of,
                })
                .collect(),
            problems: self
                .book_quarantine
                .iter()
                .map(|q| recon_model::BookProblem {
                    book: "case".into(),
                    broker: Some(q.broker.to_string()),
                    account_id: Some(q.account_id.clone()),
                    source: q.source.clone(),
                    line: q.line,
                    column: q.column.clone(),
                    reason: q.reason.clone(),
                })
                .collect(),
        })
    }
}

fn tradezero() -> Broker {
    Broker::Tradezero
}
fn margin() -> AccountKind {
    AccountKind::Margin
}
fn active() -> AccountStatus {
    AccountStatus::Active
}
fn usd() -> String {
    "USD".into()
}
fn one() -> Decimal {
    Decimal::ONE
}
fn equity() -> Instrument {
    Instrument::Equity
}
fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseAccount {
    #[serde(default = "tradezero")]
    broker: Broker,
    account_id: String,
    #[serde(default = "margin")]
    kind: AccountKind,
    #[serde(default = "active")]
    status: AccountStatus,
    #[serde(default)]
    is_paper: bool,
    /// False when some of the account's data could not be read.
    #[serde(default = "yes")]
    data_complete: bool,
    options_level: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseBalance {
    #[serde(default = "tradezero")]
    broker: Broker,
    account_id: String,
    #[serde(default = "usd")]
    currency: String,
    cash: Option<Decimal>,
    net_liq: Option<Decimal>,
    margin_excess: Option<Decimal>,
    maintenance_requirement: Option<Decimal>,
    buying_power: Option<Decimal>,
    used_leverage: Option<Decimal>,
    allowed_leverage: Option<Decimal>,
    updated_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct CasePosition {
    #[serde(default = "tradezero")]
    broker: Broker,
    account_id: String,
    position_id: String,
    symbol: String,
    underlying: Option<String>,
    #[serde(default = "equity")]
    instrument: Instrument,
    put_call: Option<PutCall>,
    expires_at: Option<NaiveDate>,
    quantity: Decimal,
    side: Option<Side>,
    #[serde(default = "one")]
    multiplier: Decimal,
    mark: Option<Decimal>,
    /// Market value and net-liq value (equal here; set `net_liq_value` for futures).
    market_value: Option<Decimal>,
    net_liq_value: Option<Decimal>,
    #[serde(default = "yes")]
    pnl_expected: bool,
    updated_at: Option<DateTime<Utc>>,
    cusip: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct CasePnl {
    #[serde(default = "tradezero")]
    broker: Broker,
    account_id: String,
    position_id: Option<String>,
    symbol: String,
    exposure: Option<Decimal>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseQuarantine {
    #[serde(default = "tradezero")]
    broker: Broker,
    account_id: Option<String>,
    source: String,
    #[serde(default)]
    pointer: String,
    reason: String,
}

/// A finding a case expects; compared on rule, broker, account, position, status, severity.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaseFinding {
    pub rule: String,
    #[serde(default = "tradezero")]
    pub broker: Broker,
    pub account: Option<String>,
    pub position: Option<String>,
    #[serde(default = "new")]
    pub status: FindingStatus,
    #[serde(default = "error")]
    pub severity: Severity,
}

fn new() -> FindingStatus {
    FindingStatus::New
}
fn error() -> Severity {
    Severity::Error
}

impl CaseFinding {
    fn of(f: &Finding) -> Option<CaseFinding> {
        Some(CaseFinding {
            rule: f.rule.clone(),
            broker: f.broker.as_deref()?.parse().ok()?,
            account: f.account.clone(),
            position: f.position.clone(),
            status: f.status,
            severity: f.severity,
        })
    }
}

impl Case {
    pub(crate) fn book(&self) -> (Book, BTreeSet<(String, String)>) {
        let incomplete = self
            .accounts
            .iter()
            .filter(|a| !a.data_complete)
            .map(|a| (a.broker.to_string(), a.account_id.clone()))
            .collect();
        let book = Book {
            accounts: self
                .accounts
                .iter()
                .map(|a| AccountRow {
                    broker: a.broker,
                    account_id: a.account_id.clone(),
                    account_name: None,
                    account_kind: a.kind,
                    status: a.status,
                    options_level: a.options_level.clone(),
                    is_paper: a.is_paper || a.kind == AccountKind::Paper,
                    as_of: self.as_of,
                })
                .collect(),
            balances: self
                .balances
                .iter()
                .map(|b| BalanceRow {
                    cash: b.cash,
                    net_liq: b.net_liq,
                    margin_excess: b.margin_excess,
                    maintenance_requirement: b.maintenance_requirement,
                    buying_power: b.buying_power,
                    used_leverage: b.used_leverage,
                    allowed_leverage: b.allowed_leverage,
                    updated_at: b.updated_at,
                    ..BalanceRow::empty(b.broker, b.account_id.clone(), b.currency.clone())
                })
                .collect(),
            positions: self
                .positions
                .iter()
                .map(|p| PositionRow {
                    broker: p.broker,
                    account_id: p.account_id.as_str().into(),
                    position_id: p.position_id.as_str().into(),
                    symbol: p.symbol.as_str().into(),
                    underlying: p.underlying.as_deref().unwrap_or(&p.symbol).into(),
                    instrument: p.instrument,
                    put_call: p.put_call,
                    strike: None,
                    expires_at: p.expires_at,
                    quantity: p.quantity,
                    side: p.side,
                    multiplier: p.multiplier,
                    avg_price: None,
                    mark: p.mark,
                    close_price: None,
                    market_value: p.market_value,
                    net_liq_value: p.net_liq_value.or(p.market_value),
                    cost_basis: None,
                    unrealized_pnl: None,
                    pnl_expected: p.pnl_expected,
                    updated_at: p.updated_at,
                    cusip: p.cusip.as_deref().map(Into::into),
                })
                .collect(),
            pnl: self
                .pnl
                .iter()
                .map(|r| PnlRow {
                    broker: r.broker,
                    account_id: r.account_id.as_str().into(),
                    position_id: r.position_id.as_deref().map(Into::into),
                    symbol: r.symbol.as_str().into(),
                    exposure: r.exposure,
                    realized_pnl: None,
                    unrealized_pnl: None,
                    day_realized_pnl: None,
                    day_unrealized_pnl: None,
                })
                .collect(),
            quarantine: self
                .quarantine
                .iter()
                .map(|q| QuarantineRow {
                    broker: q.broker,
                    account_id: q.account_id.clone(),
                    source: q.source.clone(),
                    pointer: q.pointer.clone(),
                    reason: q.reason.clone(),
                })
                .collect(),
        };
        (book, incomplete)
    }
}

/// The result of one case.
#[derive(Debug, Clone)]
pub struct CaseResult {
    pub file: PathBuf,
    pub description: String,
    /// Expected but not found.
    pub missing: Vec<CaseFinding>,
    /// Found but not expected.
    pub unexpected: Vec<CaseFinding>,
    /// Rules whose passing rows were not as many as `passes` says: (rule, want, got).
    pub wrong_passes: Vec<(String, u64, u64)>,
    /// Why the case could not run at all.
    pub error: Option<String>,
}

impl CaseResult {
    pub fn passed(&self) -> bool {
        self.error.is_none()
            && self.missing.is_empty()
            && self.unexpected.is_empty()
            && self.wrong_passes.is_empty()
    }
}

/// Runs one case file against the packs; only the findings of pack `pack` are compared
/// (every pack runs, so a case also proves the other packs compile beside it).
pub fn run_case(file: &Path, packs: &[Pack], pack: &str) -> CaseResult {
    let mut result = CaseResult {
        file: file.to_path_buf(),
        description: String::new(),
        missing: Vec::new(),
        unexpected: Vec::new(),
        wrong_passes: Vec::new(),
        error: None,
    };
    let case: Case = match std::fs::read_to_string(file)
        .map_err(|e| e.to_string())
        .and_then(|t| toml::from_str(&t).map_err(|e| e.to_string()))
    {
        Ok(c) => c,
        Err(e) => {
            result.error = Some(format!("{}: {e}", file.display()));
            return result;
        }
    };
    result.description = case.description.clone();
    let (book, incomplete) = case.book();
    let fetch_errors: Vec<(String, FetchErrorRecord)> = case
        .fetch_errors
        .iter()
        .map(|e| {
            let record = FetchErrorRecord {
                account: e.account.clone(),
                endpoint: e.endpoint.clone(),
                error: e.error.clone(),
            };
            (e.broker.to_string(), record)
        })
        .collect();
    let outcome = recon_frames::build_frames(&book, &incomplete, &fetch_errors)
        .map_err(|e| e.to_string())
        .and_then(|frames| Views::build(&frames, case.as_of).map_err(|e| e.to_string()))
        .and_then(|mut views| {
            if let Some(rows) = case.book_of_record() {
                recon_frames::books::BookFrames::build(&rows)
                    .and_then(|b| views.add_books(&b, case.as_of))
                    .map_err(|e| e.to_string())?;
            }
            Ok(views)
        })
        .and_then(|views| {
            let rules = compile(packs, &views).map_err(|e| e.to_string())?;
            Ok(evaluate(&rules, &views))
        });
    let evaluation = match outcome {
        Ok(e) => e,
        Err(e) => {
            result.error = Some(e);
            return result;
        }
    };
    for (rule, &want) in &case.passes {
        let got = evaluation
            .stats
            .iter()
            .find(|s| s.pack == pack && &s.rule == rule)
            .map(|s| s.passed);
        match got {
            Some(got) if got == want => {}
            Some(got) => result.wrong_passes.push((rule.clone(), want, got)),
            None => {
                result.error = Some(format!("passes: pack {pack} has no rule `{rule}`"));
                return result;
            }
        }
    }
    let got: BTreeSet<CaseFinding> = evaluation
        .findings
        .iter()
        .filter(|f| f.pack == pack)
        .filter_map(CaseFinding::of)
        .collect();
    let want: BTreeSet<CaseFinding> = case.expect.iter().cloned().collect();
    result.missing = want.difference(&got).cloned().collect();
    result.unexpected = got.difference(&want).cloned().collect();
    result
}

/// The case files of a pack: `<dir>/<pack id>/*.toml`, sorted.
pub fn case_files(dir: &Path, pack: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir.join(pack))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    files
}

/// Runs every case of every pack. Keyed by pack id.
pub fn run_all(dir: &Path, packs: &[Pack]) -> BTreeMap<String, Vec<CaseResult>> {
    packs
        .iter()
        .map(|p| {
            let results = case_files(dir, &p.id)
                .iter()
                .map(|f| run_case(f, packs, &p.id))
                .collect();
            (p.id.clone(), results)
        })
        .collect()
}
