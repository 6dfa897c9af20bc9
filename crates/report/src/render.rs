//! Renderers: the findings as a polars frame (written as CSV and Parquet for analysts'
//! tools), JUnit XML for CI (one testsuite per pack, one testcase per rule), and Markdown for
//! people.

use crate::summary::Summary;
use polars::prelude::*;
use recon_rules::{Finding, FindingStatus, RuleStats, Severity};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// How many findings a Markdown report or a JUnit failure lists before it points to the CSV.
pub const LISTED: usize = 200;

/// The findings frame: one row per finding, evidence as a JSON object in a string column.
pub fn findings_frame(findings: &[Finding], run_id: &str, as_of: &str) -> PolarsResult<DataFrame> {
    frame_of(findings, run_id, as_of, |s| s)
}

/// The findings as `findings.csv` holds them: every cell spreadsheet-safe (see
/// [`spreadsheet_safe`]); the Parquet file keeps the raw values.
pub fn csv_frame(findings: &[Finding], run_id: &str, as_of: &str) -> PolarsResult<DataFrame> {
    frame_of(findings, run_id, as_of, spreadsheet_safe)
}

/// A cell a spreadsheet would run as a formula (OWASP "CSV injection": it starts with `=`,
/// `+`, `-`, `@`, a tab or a carriage return) gets a leading `'`, which spreadsheets show
/// as text. Broker strings (symbols, messages) reach these cells.
pub fn spreadsheet_safe(cell: String) -> String {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{cell}")
    } else {
        cell
    }
}

fn frame_of(
    findings: &[Finding],
    run_id: &str,
    as_of: &str,
    cell: fn(String) -> String,
) -> PolarsResult<DataFrame> {
    let text = |name: &str, f: &dyn Fn(&Finding) -> Option<String>| {
        StringChunked::from_iter_options(name.into(), findings.iter().map(|x| f(x).map(cell)))
            .into_column()
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

/// JUnit XML: one `<testsuite>` per pack, one `<testcase>` per rule. A rule with findings
/// fails (its findings are the failure text); a rule with none passes; a rule that could not
/// be evaluated is an error.
///
/// Written with quick-xml rather than quick-junit: quick-junit always puts `skipped` on
/// `<testsuites>`, which the schema Jenkins-style consumers validate against (junit-10.xsd;
/// tested in tests/report_consumers.rs) does not allow.
pub fn junit(summary: &Summary, findings: &[Finding]) -> Result<String, String> {
    use quick_xml::Writer;
    use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, Event};

    let packs = outcomes_by_pack(summary, findings);
    let count = |rules: &[(&RuleStats, Outcome)]| {
        let failures = rules
            .iter()
            .filter(|(_, o)| matches!(o, Outcome::Failed(_)))
            .count();
        let errors = rules
            .iter()
            .filter(|(_, o)| matches!(o, Outcome::Error(_)))
            .count();
        (rules.len(), failures, errors)
    };
    let (tests, failures, errors) = packs
        .values()
        .map(|r| count(r))
        .fold((0, 0, 0), |(t, f, e), (t2, f2, e2)| {
            (t + t2, f + f2, e + e2)
        });

    let xml_err = |e: std::io::Error| e.to_string();
    let mut w = Writer::new_with_indent(Vec::new(), b' ', 2);
    w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))
        .map_err(xml_err)?;
    let name = xml_text(&format!("recon {}", summary.as_of));
    let mut root = BytesStart::new("testsuites");
    root.push_attribute(("name", name.as_str()));
    root.push_attribute(("tests", tests.to_string().as_str()));
    root.push_attribute(("failures", failures.to_string().as_str()));
    root.push_attribute(("errors", errors.to_string().as_str()));
    w.write_event(Event::Start(root)).map_err(xml_err)?;
    for (pack, rules) in &packs {
        let (tests, failures, errors) = count(rules);
        let suite_name = xml_text(&format!("recon.{pack}"));
        let mut suite = BytesStart::new("testsuite");
        suite.push_attribute(("name", suite_name.as_str()));
        suite.push_attribute(("tests", tests.to_string().as_str()));
        suite.push_attribute(("failures", failures.to_string().as_str()));
        suite.push_attribute(("errors", errors.to_string().as_str()));
        suite.push_attribute(("skipped", "0"));
        w.write_event(Event::Start(suite)).map_err(xml_err)?;
        for (stats, outcome) in rules {
            write_testcase(&mut w, &suite_name, stats, outcome)?;
        }
        w.write_event(Event::End(BytesEnd::new("testsuite")))
            .map_err(xml_err)?;
    }
    w.write_event(Event::End(BytesEnd::new("testsuites")))
        .map_err(xml_err)?;
    let mut out = String::from_utf8(w.into_inner()).map_err(|e| e.to_string())?;
    out.push('\n');
    Ok(out)
}

/// Each rule's outcome, once, grouped by pack.
fn outcomes_by_pack<'a>(
    summary: &'a Summary,
    findings: &'a [Finding],
) -> BTreeMap<&'a str, Vec<(&'a RuleStats, Outcome<'a>)>> {
    let mut by_rule: BTreeMap<&str, Vec<&Finding>> = BTreeMap::new();
    for f in findings {
        by_rule.entry(f.rule.as_str()).or_default().push(f);
    }
    let mut packs: BTreeMap<&str, Vec<(&RuleStats, Outcome)>> = BTreeMap::new();
    for stats in &summary.rules {
        let found = by_rule.remove(stats.rule.as_str()).unwrap_or_default();
        let outcome = match &stats.error {
            Some(error) => Outcome::Error(format!("could not be evaluated: {error}")),
            None if found.is_empty() => Outcome::Passed,
            None => Outcome::Failed(found),
        };
        packs
            .entry(stats.pack.as_str())
            .or_default()
            .push((stats, outcome));
    }
    packs
}

/// One rule as a `<testcase>`: a failure listing its findings, an error saying why it could
/// not be evaluated, and its counts as `system-out`.
fn write_testcase(
    w: &mut quick_xml::Writer<Vec<u8>>,
    suite_name: &str,
    stats: &RuleStats,
    outcome: &Outcome,
) -> Result<(), String> {
    use quick_xml::events::{BytesEnd, BytesStart, BytesText, Event};
    let xml_err = |e: std::io::Error| e.to_string();
    let rule = xml_text(&stats.rule);
    let mut case = BytesStart::new("testcase");
    case.push_attribute(("name", rule.as_str()));
    case.push_attribute(("classname", suite_name));
    w.write_event(Event::Start(case)).map_err(xml_err)?;
    let (tag, message, kind, text) = match outcome {
        Outcome::Passed => ("", String::new(), String::new(), String::new()),
        Outcome::Error(message) => ("error", message.clone(), "error".to_string(), String::new()),
        Outcome::Failed(found) => {
            let worst = found
                .iter()
                .map(|f| f.severity)
                .max()
                .unwrap_or(Severity::Info);
            let mut text: Vec<String> = found.iter().take(LISTED).map(|f| line(f)).collect();
            if found.len() > LISTED {
                text.push(format!(
                    "… and {} more in findings.csv",
                    found.len() - LISTED
                ));
            }
            (
                "failure",
                format!("{} findings ({worst} at worst)", found.len()),
                worst.as_str().to_string(),
                text.join("\n"),
            )
        }
    };
    if !tag.is_empty() {
        let message = xml_text(&message);
        let mut outcome = BytesStart::new(tag);
        outcome.push_attribute(("message", message.as_str()));
        outcome.push_attribute(("type", kind.as_str()));
        w.write_event(Event::Start(outcome)).map_err(xml_err)?;
        w.write_event(Event::Text(BytesText::new(&xml_text(&text))))
            .map_err(xml_err)?;
        w.write_event(Event::End(BytesEnd::new(tag)))
            .map_err(xml_err)?;
    }
    let counts = format!(
        "in scope {}, passed {}, failed {}, unknown {}, out of scope {}",
        stats.in_scope, stats.passed, stats.failed, stats.unknown, stats.out_of_scope
    );
    w.create_element("system-out")
        .write_text_content(BytesText::new(&counts))
        .map_err(xml_err)?;
    w.write_event(Event::End(BytesEnd::new("testcase")))
        .map_err(xml_err)?;
    Ok(())
}

enum Outcome<'a> {
    Passed,
    Failed(Vec<&'a Finding>),
    Error(String),
}

/// XML 1.0 cannot carry most control characters even escaped (a broker's bytes quoted in a
/// quarantine reason may hold some): each becomes U+FFFD.
fn xml_text(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '\t' | '\n' | '\r' => c,
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => '\u{FFFD}',
            c => c,
        })
        .collect()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_cells_cannot_run_as_formulas_and_parquet_keeps_raw_values() {
        assert_eq!(spreadsheet_safe("=1+1".into()), "'=1+1");
        for hostile in ["+1", "-2", "@A1", "\tx", "\rx"] {
            assert!(
                spreadsheet_safe(hostile.into()).starts_with('\''),
                "{hostile:?}"
            );
        }
        assert_eq!(spreadsheet_safe("AAPL".into()), "AAPL");
        assert_eq!(spreadsheet_safe(r#"{"a":"-1"}"#.into()), r#"{"a":"-1"}"#);

        let f = Finding {
            rule: "r".into(),
            pack: "core".into(),
            severity: recon_rules::Severity::Error,
            status: recon_rules::FindingStatus::New,
            broker: Some("tradezero".into()),
            account: Some("TZ1".into()),
            position: None,
            symbol: Some("=cmd|' /C calc'!A0".into()),
            message: "@SUM(1)".into(),
            evidence: Default::default(),
            first_seen: None,
        };
        let mut frame = csv_frame(std::slice::from_ref(&f), "run", "2026-11-20").unwrap();
        let text = String::from_utf8(csv(&mut frame).unwrap()).unwrap();
        assert!(
            text.contains("'=cmd") && text.contains("'@SUM(1)"),
            "{text}"
        );
        let raw = findings_frame(&[f], "run", "2026-11-20").unwrap();
        let symbol = raw.column("symbol").unwrap().str().unwrap().get(0);
        assert_eq!(symbol, Some("=cmd|' /C calc'!A0"));
    }
}
