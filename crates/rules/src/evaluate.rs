//! Evaluating every compiled rule in one batch: two lazy plans per rule (the status counts
//! and the failing rows) handed to polars' `collect_all` together, so polars runs them on its
//! own thread pool. If the batch fails, each rule runs alone so that one broken rule becomes
//! an `error` finding of that rule instead of stopping the run.
//!
//! A row is out of scope when `where` is false (a null `where` keeps it in scope: missing
//! data never hides a row), passes when `check` is true, fails when false, and is `unknown`
//! when `check` is null.

use crate::compile::{CompiledRule, MessagePart};
use crate::finding::{Finding, FindingStatus, Severity};
use crate::views::Views;
use polars::prelude::*;
use recon_frames::exact::from_units;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

const PASS: &str = "pass";
const FAIL: &str = "fail";
const UNKNOWN: &str = "unknown";
const OUT_OF_SCOPE: &str = "out_of_scope";
/// A row's statuses; each one's place here is its code in `__status` (`status_code`).
const STATUSES: [&str; 4] = [PASS, FAIL, UNKNOWN, OUT_OF_SCOPE];

/// What one rule saw: nothing is skipped unseen.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleStats {
    pub pack: String,
    pub rule: String,
    /// The rule's title, for readers who do not know the ids (the email, the report).
    #[serde(default)]
    pub title: String,
    pub view: String,
    pub in_scope: u64,
    pub passed: u64,
    pub failed: u64,
    pub unknown: u64,
    pub out_of_scope: u64,
    /// Why the rule could not be evaluated, if it could not.
    pub error: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct Evaluation {
    pub findings: Vec<Finding>,
    pub stats: Vec<RuleStats>,
}

/// A row's status as a small number while a view's rows are counted and filtered (a column
/// of text, hashed and compared per row, cost more than the check itself on the large
/// views); the result frames name it in words (`status_words`), as every engine does.
fn status_code(status: &str) -> Expr {
    // Its place in `STATUSES`; a word not there is out of scope (the last).
    let code = STATUSES
        .iter()
        .position(|s| *s == status)
        .unwrap_or(STATUSES.len() - 1) as u8;
    lit(code)
}

fn status_expr(rule: &CompiledRule) -> Expr {
    let scope = rule.scope.clone().unwrap_or(lit(true));
    when(scope.eq(lit(false)))
        .then(status_code(OUT_OF_SCOPE))
        .when(rule.check.clone().is_null())
        .then(status_code(UNKNOWN))
        .when(rule.check.clone())
        .then(status_code(PASS))
        .otherwise(status_code(FAIL))
}

/// `__status`'s code back as its word.
fn status_words() -> Expr {
    STATUSES
        .iter()
        .rev()
        .skip(1)
        .fold(lit(OUT_OF_SCOPE), |otherwise, status| {
            when(col("__status").eq(status_code(status)))
                .then(lit(*status))
                .otherwise(otherwise)
        })
        .alias("__status")
}

fn severity_expr(rule: &CompiledRule) -> Expr {
    // Built from the last condition to the first, so the first that holds wins.
    rule.severity_when.iter().rev().fold(
        lit(rule.severity.as_str()),
        |otherwise, (cond, severity)| {
            when(cond.clone().eq(lit(true)))
                .then(lit(severity.as_str()))
                .otherwise(otherwise)
        },
    )
}

/// The two plans of one rule: status counts, and the failing or unknown rows.
fn plans(rule: &CompiledRule, views: &Views) -> PolarsResult<(LazyFrame, LazyFrame)> {
    let base = match &rule.query {
        // Every row a query returns is a failure.
        Some(query) => query
            .clone()
            .with_column(status_code(FAIL).alias("__status")),
        None => views
            .get(&rule.view)
            .ok_or_else(|| polars_err!(ComputeError: "view `{}` is missing", rule.view))?
            .clone()
            .lazy()
            .with_columns(rule.param_columns.clone())
            .with_column(status_expr(rule).alias("__status")),
    };
    // One sum per status rather than a group-by on `__status`: a pass over a column of
    // small numbers, with no hash table (`counts_by_status` gives it the usual shape).
    let counts = base.clone().select(STATUSES.map(|status| {
        col("__status")
            .eq(status_code(status))
            .sum()
            .cast(DataType::UInt64)
            .alias(status)
    }));
    let mut select: Vec<Expr> = vec![status_words(), severity_expr(rule).alias("__severity")];
    for key in &rule.keys {
        select.push(
            col(*key)
                .cast(DataType::String)
                .alias(format!("__key_{key}")),
        );
    }
    for name in &rule.message_columns {
        select.push(col(name.as_str()).alias(format!("__col_{name}")));
    }
    for (name, expr) in &rule.evidence {
        select.push(expr.clone().alias(format!("__ev_{name}")));
    }
    let rows = base
        .filter(
            col("__status")
                .eq(status_code(FAIL))
                .or(col("__status").eq(status_code(UNKNOWN))),
        )
        .select(select);
    Ok((counts, rows))
}

/// Evaluates every rule. Never fails as a whole.
impl Evaluation {
    /// Another chunk's evaluation of the same rules: its findings after these, its counts
    /// added to each rule's. A rule that could not be evaluated is said once, with the
    /// first chunk's reason.
    pub fn add(&mut self, other: Evaluation) {
        let failed_before: std::collections::HashSet<(String, String)> = self
            .stats
            .iter()
            .filter(|s| s.error.is_some())
            .map(|s| (s.pack.clone(), s.rule.clone()))
            .collect();
        for stats in other.stats {
            match self
                .stats
                .iter_mut()
                .find(|s| s.pack == stats.pack && s.rule == stats.rule)
            {
                Some(s) => {
                    s.in_scope += stats.in_scope;
                    s.passed += stats.passed;
                    s.failed += stats.failed;
                    s.unknown += stats.unknown;
                    s.out_of_scope += stats.out_of_scope;
                    if s.error.is_none() {
                        s.error = stats.error;
                    }
                }
                None => self.stats.push(stats),
            }
        }
        self.findings.extend(other.findings.into_iter().filter(|f| {
            !(f.is_rule_error() && failed_before.contains(&(f.pack.clone(), f.rule.clone())))
        }));
    }

    /// Findings and counts in one order whatever the chunks were: rule by rule in the
    /// packs' order (`order`: (pack, rule) → place), then by broker, account, position,
    /// symbol and message. A replay of the same snapshot gives the same files.
    pub fn sort(&mut self, order: &std::collections::HashMap<(String, String), usize>) {
        let place = |pack: &str, rule: &str| {
            order
                .get(&(pack.to_string(), rule.to_string()))
                .copied()
                .unwrap_or(usize::MAX)
        };
        self.stats.sort_by_key(|s| place(&s.pack, &s.rule));
        // Each finding's place looked up once, not in every comparison.
        let mut placed: Vec<(usize, Finding)> = std::mem::take(&mut self.findings)
            .into_iter()
            .map(|f| (place(&f.pack, &f.rule), f))
            .collect();
        placed.sort_by(|(pa, a), (pb, b)| {
            (
                pa,
                &a.broker,
                &a.account,
                &a.position,
                &a.symbol,
                &a.message,
            )
                .cmp(&(
                    pb,
                    &b.broker,
                    &b.account,
                    &b.position,
                    &b.symbol,
                    &b.message,
                ))
        });
        self.findings = placed.into_iter().map(|(_, f)| f).collect();
    }
}

/// Each rule's place in `packs`, in the order they are given: (pack, rule) → place.
pub fn rule_order(packs: &[crate::Pack]) -> std::collections::HashMap<(String, String), usize> {
    packs
        .iter()
        .flat_map(|p| p.rules.iter().map(move |r| (p.id.clone(), r.id.clone())))
        .enumerate()
        .map(|(i, key)| (key, i))
        .collect()
}

pub fn evaluate(rules: &[CompiledRule], views: &Views) -> Evaluation {
    let mut planned = Vec::with_capacity(rules.len());
    let mut failed_to_plan = Vec::new();
    for rule in rules {
        match plans(rule, views) {
            Ok(p) => planned.push((rule, p)),
            Err(e) => failed_to_plan.push((rule, e.to_string())),
        }
    }
    let all: Vec<DslPlan> = planned
        .iter()
        .flat_map(|(_, (c, r))| [c.logical_plan.clone(), r.logical_plan.clone()])
        .collect();
    let results: Vec<(&CompiledRule, Outcome)> =
        match LazyFrame::collect_all_with_engine(all, Engine::Auto, OptFlags::default()) {
            Ok(frames) => {
                let mut it = frames.into_iter();
                planned
                    .iter()
                    .map(|(rule, _)| {
                        let counts = counts_by_status(it.next().unwrap_or_default());
                        let rows = it.next().unwrap_or_default();
                        (*rule, counts.map(|counts| (counts, rows)))
                    })
                    .collect()
            }
            // Some rule broke the batch: run each alone to find which.
            Err(_) => planned
                .into_iter()
                .map(|(rule, (c, r))| {
                    let result = c
                        .collect()
                        .map_err(|e| e.to_string())
                        .and_then(counts_by_status)
                        .and_then(|c| r.collect().map(|r| (c, r)).map_err(|e| e.to_string()));
                    (rule, result)
                })
                .collect(),
        };
    assemble(results, failed_to_plan)
}

/// The counts plan's one row (a column per status) as every engine gives counts: a row
/// per status met, `__status` and `__n`.
fn counts_by_status(sums: DataFrame) -> Result<DataFrame, String> {
    let mut statuses = Vec::new();
    let mut counts = Vec::new();
    for status in STATUSES {
        let n = sums
            .column(status)
            .and_then(|c| c.u64().map(|c| c.get(0).unwrap_or(0)))
            .map_err(|e| e.to_string())?;
        if n > 0 {
            statuses.push(status);
            counts.push(n);
        }
    }
    DataFrame::new(
        statuses.len(),
        vec![
            Column::new("__status".into(), statuses),
            Column::new("__n".into(), counts),
        ],
    )
    .map_err(|e| e.to_string())
}

/// One rule's result frames as any engine returns them: the counts (`__status`, `__n`)
/// and the failing or unknown rows (`__status`, `__severity`, `__key_*`, `__col_*`,
/// `__ev_*`), or why the rule could not run.
pub type Outcome = Result<(DataFrame, DataFrame), String>;

/// Every rule's findings and counts from its result frames; a rule that could not run
/// becomes an `error` finding of that rule.
pub fn assemble<'a>(
    results: Vec<(&'a CompiledRule, Outcome)>,
    mut failed_to_plan: Vec<(&'a CompiledRule, String)>,
) -> Evaluation {
    let mut eval = Evaluation::default();
    for (rule, result) in results {
        match result.and_then(|(counts, rows)| Ok((tally(rule, &counts)?, findings(rule, &rows)?)))
        {
            Ok((stats, findings)) => {
                eval.stats.push(stats);
                eval.findings.extend(findings);
            }
            Err(e) => failed_to_plan.push((rule, e)),
        }
    }
    for (rule, error) in failed_to_plan {
        eval.findings.push(Finding {
            rule: rule.id.clone(),
            pack: rule.pack.clone(),
            severity: Severity::Error,
            status: FindingStatus::Unknown,
            broker: None,
            account: None,
            position: None,
            symbol: None,
            message: format!("rule `{}` could not be evaluated: {error}", rule.id),
            evidence: BTreeMap::from([("error".to_string(), error.clone())]),
            first_seen: None,
        });
        eval.stats.push(RuleStats {
            pack: rule.pack.clone(),
            rule: rule.id.clone(),
            title: rule.title.clone(),
            view: rule.view.clone(),
            error: Some(error),
            ..RuleStats::default()
        });
    }
    eval
}

fn tally(rule: &CompiledRule, counts: &DataFrame) -> Result<RuleStats, String> {
    let mut stats = RuleStats {
        pack: rule.pack.clone(),
        rule: rule.id.clone(),
        title: rule.title.clone(),
        view: rule.view.clone(),
        ..RuleStats::default()
    };
    let status = counts.column("__status").map_err(|e| e.to_string())?;
    let n = counts.column("__n").map_err(|e| e.to_string())?;
    for i in 0..counts.height() {
        let s = status.get(i).map_err(|e| e.to_string())?;
        let k = n
            .get(i)
            .map_err(|e| e.to_string())?
            .extract::<u64>()
            .unwrap_or(0);
        match s.get_str() {
            Some(PASS) => stats.passed = k,
            Some(FAIL) => stats.failed = k,
            Some(UNKNOWN) => stats.unknown = k,
            Some(OUT_OF_SCOPE) => stats.out_of_scope = k,
            other => return Err(format!("unexpected status {other:?}")),
        }
    }
    stats.in_scope = stats.passed + stats.failed + stats.unknown;
    Ok(stats)
}

/// Renders a value for messages and evidence: decimals exact, at least 2 decimals.
pub fn render(value: &AnyValue) -> Option<String> {
    match value {
        AnyValue::Null => None,
        AnyValue::Decimal(units, _, scale) => Some(match from_units(*units, *scale) {
            Some(d) => {
                let mut d = d.normalize();
                if d.scale() < 2 {
                    d.rescale(2);
                }
                d.to_string()
            }
            None => format!("{units}e-{scale}"),
        }),
        AnyValue::String(s) => Some(s.to_string()),
        AnyValue::StringOwned(s) => Some(s.to_string()),
        other => Some(other.to_string()),
    }
}

fn findings(rule: &CompiledRule, rows: &DataFrame) -> Result<Vec<Finding>, String> {
    let get = |name: &str, i: usize| -> Result<Option<String>, String> {
        let column = rows.column(name).map_err(|e| e.to_string())?;
        Ok(render(&column.get(i).map_err(|e| e.to_string())?))
    };
    let mut out = Vec::with_capacity(rows.height());
    for i in 0..rows.height() {
        let status = match get("__status", i)?.as_deref() {
            Some(UNKNOWN) => FindingStatus::Unknown,
            _ => FindingStatus::New,
        };
        let severity = get("__severity", i)?
            .and_then(|s| s.parse().ok())
            .unwrap_or(rule.severity);
        let key = |k: &str| -> Result<Option<String>, String> {
            if rule.keys.contains(&k) {
                get(&format!("__key_{k}"), i)
            } else {
                Ok(None)
            }
        };
        let mut evidence = BTreeMap::new();
        for (name, _) in &rule.evidence {
            let value = get(&format!("__ev_{name}"), i)?.unwrap_or_else(|| "null".into());
            evidence.insert(name.clone(), value);
        }
        let mut message = String::new();
        for part in &rule.message {
            match part {
                MessagePart::Text(t) => message.push_str(t),
                MessagePart::Value(name) => {
                    let value = match evidence.get(name) {
                        Some(v) => Some(v.clone()),
                        None => get(&format!("__col_{name}"), i)?,
                    };
                    message.push_str(
                        value
                            .as_deref()
                            .filter(|v| *v != "null")
                            .unwrap_or("unknown"),
                    );
                }
            }
        }
        out.push(Finding {
            rule: rule.id.clone(),
            pack: rule.pack.clone(),
            severity,
            status,
            broker: key("broker")?,
            account: key("account_id")?,
            position: key("position_id")?,
            symbol: key("symbol")?,
            message,
            evidence,
            first_seen: None,
        });
    }
    Ok(out)
}
