//! Renderers: the findings as a polars frame (written as CSV and Parquet for analysts'
//! tools), JUnit XML for CI (one testsuite per pack, one testcase per rule), and Markdown for
//! people.

use crate::summary::Summary;
use polars::prelude::*;
use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
use recon_rules::{Finding, FindingStatus, RuleStats, Severity};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// How many findings a Markdown report or a JUnit failure lists before it points to the CSV.
pub const LISTED: usize = 200;

/// The findings frame: one row per finding, evidence as a JSON object in a string column.
pub fn findings_frame(findings: &[Finding], run_id: &str, as_of: &str) -> PolarsResult<DataFrame> {
    let text = |name: &str, f: &dyn Fn(&Finding) -> Option<String>| {
        StringChunked::from_iter_options(name.into(), findings.iter().map(f)).into_column()
    };
    DataFrame::new(
        findings.len(),
        vec![
            text("run_id", &|_| Some(run_id.to_string())),
            text("as_of", &|_| Some(as_of.to_string())),
            text("rule", &|f| Some(f.rule.clone())),
            text("pack", &|f| Some(f.pack.clone())),
            text("severity", &|f| Some(f.severity.to_string())),
            text("status", &|f| Some(f.status.as_str().to_string())),
            text("broker", &|f| f.broker.clone()),
            text("account", &|f| f.account.clone()),
            text("position", &|f| f.position.clone()),
            text("symbol", &|f| f.symbol.clone()),
            text("message", &|f| Some(f.message.clone())),
            text("evidence", &|f| serde_json::to_string(&f.evidence).ok()),
        ],
    )
}

pub fn csv(frame: &mut DataFrame) -> PolarsResult<Vec<u8>> {
    let mut out = Vec::new();
    CsvWriter::new(&mut out)
        .include_header(true)
        .finish(frame)?;
    Ok(out)
}

pub fn parquet(frame: &mut DataFrame) -> PolarsResult<Vec<u8>> {
    let mut out = Vec::new();
    ParquetWriter::new(&mut out).finish(frame)?;
    Ok(out)
}

fn line(f: &Finding) -> String {
    format!(
        "[{}/{}] {} {} {}: {}",
        f.severity,
        f.status.as_str(),
        f.broker.as_deref().unwrap_or("-"),
        f.account.as_deref().unwrap_or("-"),
        f.position.as_deref().unwrap_or(""),
        f.message
    )
}

/// JUnit XML: a rule with findings fails (with its findings as the failure text); a rule
/// with none passes; a rule that could not be evaluated is an error.
pub fn junit(summary: &Summary, findings: &[Finding]) -> Result<String, String> {
    let mut by_rule: BTreeMap<&str, Vec<&Finding>> = BTreeMap::new();
    for f in findings {
        by_rule.entry(f.rule.as_str()).or_default().push(f);
    }
    let mut report = Report::new(format!("recon {}", summary.as_of));
    let mut suites: BTreeMap<&str, TestSuite> = BTreeMap::new();
    for stats in &summary.rules {
        let suite = suites
            .entry(stats.pack.as_str())
            .or_insert_with(|| TestSuite::new(format!("recon.{}", stats.pack)));
        suite.add_test_case(test_case(stats, by_rule.get(stats.rule.as_str())));
    }
    report.add_test_suites(suites.into_values());
    report.to_string().map_err(|e| e.to_string())
}

fn test_case(stats: &RuleStats, found: Option<&Vec<&Finding>>) -> TestCase {
    let found = found.map(Vec::as_slice).unwrap_or_default();
    let status = if let Some(error) = &stats.error {
        let mut s = TestCaseStatus::non_success(NonSuccessKind::Error);
        s.set_message(format!("could not be evaluated: {error}"));
        s
    } else if found.is_empty() {
        TestCaseStatus::success()
    } else {
        let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
        let worst = found
            .iter()
            .map(|f| f.severity)
            .max()
            .unwrap_or(Severity::Info);
        s.set_message(format!("{} findings ({worst} at worst)", found.len()));
        s.set_type(worst.as_str());
        let mut text: Vec<String> = found.iter().take(LISTED).map(|f| line(f)).collect();
        if found.len() > LISTED {
            text.push(format!(
                "… and {} more in findings.csv",
                found.len() - LISTED
            ));
        }
        s.set_description(text.join("\n"));
        s
    };
    let mut case = TestCase::new(stats.rule.clone(), status);
    case.set_classname(format!("recon.{}", stats.pack));
    case.set_system_out(format!(
        "in scope {}, passed {}, failed {}, unknown {}, out of scope {}",
        stats.in_scope, stats.passed, stats.failed, stats.unknown, stats.out_of_scope
    ));
    case
}

/// Markdown for people: the verdict, counts, what was incomplete, and the worst findings.
pub fn markdown(summary: &Summary, findings: &[Finding]) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "# recon — {} (run {})\n", summary.as_of, summary.run_id);
    let verdict = match summary.exit_code {
        0 => "clean",
        1 => "findings at or above the failure threshold",
        2 => "INCOMPLETE: some accounts could not be fetched or read",
        _ => "see summary.json",
    };
    let _ = writeln!(
        md,
        "**{verdict}** — {} accounts and {} positions checked, {} findings.\n",
        summary.accounts_checked, summary.positions_checked, summary.counts.total
    );
    if !summary.incomplete.is_empty() {
        let _ = writeln!(md, "## Incomplete\n");
        for i in &summary.incomplete {
            let _ = writeln!(
                md,
                "- {} {}: {}",
                i.broker,
                i.account.as_deref().unwrap_or("(all accounts)"),
                i.reason
            );
        }
        md.push('\n');
    }
    let _ = writeln!(
        md,
        "## Rules\n\n| rule | in scope | passed | failed | unknown | out of scope |\n|---|---:|---:|---:|---:|---:|"
    );
    for r in &summary.rules {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} |",
            r.rule, r.in_scope, r.passed, r.failed, r.unknown, r.out_of_scope
        );
    }
    if !findings.is_empty() {
        let mut sorted: Vec<&Finding> = findings.iter().collect();
        sorted.sort_by(|a, b| {
            b.severity
                .cmp(&a.severity)
                .then(
                    (a.status == FindingStatus::Unknown).cmp(&(b.status == FindingStatus::Unknown)),
                )
                .then_with(|| a.account.cmp(&b.account))
        });
        let _ = writeln!(
            md,
            "\n## Findings\n\n| severity | status | rule | broker | account | message |\n|---|---|---|---|---|---|"
        );
        for f in sorted.iter().take(LISTED) {
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} | {} |",
                f.severity,
                f.status.as_str(),
                f.rule,
                f.broker.as_deref().unwrap_or("-"),
                f.account.as_deref().unwrap_or("-"),
                f.message.replace('|', "\\|")
            );
        }
        if findings.len() > LISTED {
            let _ = writeln!(
                md,
                "\n… and {} more in `findings.csv`.",
                findings.len() - LISTED
            );
        }
    }
    md
}
