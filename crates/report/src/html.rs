//! `report.html`: one self-contained page (no network fetch): the verdict, counts, inline
//! SVG charts (findings by broker and severity; net liq against cash + positions for the
//! accounts with the largest gaps), what was incomplete, what was resolved, and every finding
//! in a table that pages in the browser, so 50,000 findings do not freeze it.
//!
//! Amounts stay exact strings; floats appear only as bar widths.

use crate::summary::Summary;
use minijinja::value::Serde;
use minijinja::{Environment, Value};
use recon_rules::{Finding, Severity};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde::Serialize;
use std::collections::BTreeMap;

const TEMPLATE: &str = include_str!("report.html.j2");
/// Accounts drawn in the net liq chart.
const CHART_ACCOUNTS: usize = 30;
/// Width of the longest bar, in SVG units (the charts are 760 wide).
const BAR: f64 = 560.0;
/// The account chart leaves room after its bars for a label.
const ACCOUNT_BAR: f64 = 470.0;
/// The rule whose findings colour an account's gap.
const IDENTITY_RULE: &str = "account-value-identity";

fn color(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "#8e24aa",
        Severity::Error => "#c62828",
        Severity::Warning => "#f0a202",
        Severity::Info => "#1565c0",
    }
}

#[derive(Serialize)]
struct Segment {
    severity: &'static str,
    count: u64,
    x: f64,
    width: f64,
    color: &'static str,
}

#[derive(Serialize)]
struct BrokerBar {
    broker: String,
    total: u64,
    /// The counts behind the segments, for the table under the chart.
    by_severity: BTreeMap<&'static str, u64>,
    y: usize,
    width: f64,
    segments: Vec<Segment>,
}

#[derive(Serialize)]
struct AccountBar {
    /// Broker and account in full (the bar's tooltip).
    account: String,
    /// The same, cut to fit left of the bars (UUIDs and E*TRADE keys are long).
    label: String,
    y: usize,
    net_liq: String,
    expected: Option<String>,
    gap: String,
    net_liq_w: f64,
    expected_w: Option<f64>,
    label_x: f64,
    off: bool,
}

/// A finding as the page's table needs it.
#[derive(Serialize)]
struct Row<'a> {
    #[serde(flatten)]
    finding: &'a Finding,
    age_days: Option<i64>,
}

fn broker_bars(findings: &[Finding]) -> Vec<BrokerBar> {
    let mut counts: BTreeMap<String, BTreeMap<Severity, u64>> = BTreeMap::new();
    for f in findings {
        *counts
            .entry(f.broker.clone().unwrap_or_else(|| "-".into()))
            .or_default()
            .entry(f.severity)
            .or_default() += 1;
    }
    let max = counts
        .values()
        .map(|c| c.values().sum::<u64>())
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    counts
        .into_iter()
        .enumerate()
        .map(|(i, (broker, by))| {
            let mut x = 0.0;
            let mut segments = Vec::new();
            for s in Severity::ALL.iter().rev() {
                let count = by.get(s).copied().unwrap_or(0);
                if count == 0 {
                    continue;
                }
                let width = count as f64 / max * BAR;
                segments.push(Segment {
                    severity: s.as_str(),
                    count,
                    x,
                    width,
                    color: color(*s),
                });
                x += width;
            }
            BrokerBar {
                broker,
                total: by.values().sum(),
                by_severity: by.iter().map(|(s, n)| (s.as_str(), *n)).collect(),
                y: i * 28 + 6,
                width: x,
                segments,
            }
        })
        .collect()
}

fn money(d: Decimal) -> String {
    let mut d = d.normalize();
    if d.scale() < 2 {
        d.rescale(2);
    }
    d.to_string()
}

/// Characters of a label that fit left of the account chart's bars.
const LABEL_CHARS: usize = 24;

/// `label` cut to [`LABEL_CHARS`] with an ellipsis where it is longer.
fn fit_label(label: &str) -> String {
    if label.chars().count() <= LABEL_CHARS {
        label.to_string()
    } else {
        let mut cut: String = label.chars().take(LABEL_CHARS - 1).collect();
        cut.push('…');
        cut
    }
}

fn account_bars(summary: &Summary, findings: &[Finding]) -> (Vec<AccountBar>, usize) {
    // Red only where the identity check reported the account (failed or undecidable): a
    // gap within tolerance is no alarm.
    let flagged: std::collections::BTreeSet<(Option<&str>, Option<&str>)> = findings
        .iter()
        .filter(|f| f.rule == IDENTITY_RULE)
        .map(|f| (f.broker.as_deref(), f.account.as_deref()))
        .collect();
    let mut rows: Vec<(Decimal, &recon_rules::views::AccountFigure)> = summary
        .accounts
        .iter()
        .filter(|a| a.net_liq.is_some())
        .map(|a| {
            let gap = match (a.net_liq, a.cash, a.position_value) {
                (Some(n), Some(c), Some(p)) => (n - (c + p)).abs(),
                // Undecidable accounts first: they need looking at.
                _ => Decimal::MAX,
            };
            (gap, a)
        })
        .collect();
    let total = rows.len();
    rows.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.account.cmp(&b.1.account)));
    rows.truncate(CHART_ACCOUNTS);
    let expected = |a: &recon_rules::views::AccountFigure| match (a.cash, a.position_value) {
        (Some(c), Some(p)) => Some(c + p),
        _ => None,
    };
    let max = rows
        .iter()
        .flat_map(|(_, a)| [a.net_liq, expected(a)])
        .flatten()
        .map(|d| d.abs().to_f64().unwrap_or(0.0))
        .fold(1.0_f64, f64::max);
    let width = |d: Decimal| d.abs().to_f64().unwrap_or(0.0) / max * ACCOUNT_BAR;
    let bars = rows
        .iter()
        .enumerate()
        .map(|(i, (gap, a))| {
            let net_liq = a.net_liq.unwrap_or_default();
            let exp = expected(a);
            let net_liq_w = width(net_liq);
            let expected_w = exp.map(width);
            let account = format!("{} {}", a.broker, a.account);
            AccountBar {
                label: fit_label(&account),
                account,
                y: i * 34 + 4,
                net_liq: money(net_liq),
                expected: exp.map(money),
                gap: if *gap == Decimal::MAX {
                    "unknown".into()
                } else {
                    money(net_liq - exp.unwrap_or_default())
                },
                net_liq_w,
                expected_w,
                label_x: net_liq_w.max(expected_w.unwrap_or(0.0)),
                off: flagged.contains(&(Some(a.broker.as_str()), Some(a.account.as_str()))),
            }
        })
        .collect();
    (bars, total)
}

/// The page. `findings` carry their first-seen dates (after the run-over-run diff).
pub fn render(summary: &Summary, findings: &[Finding]) -> Result<String, String> {
    let mut env = Environment::new();
    env.add_template("report.html", TEMPLATE)
        .map_err(|e| e.to_string())?;
    let verdict = match summary.exit_code {
        0 => ("clean", "#2e7d32"),
        1 => ("findings", "#c62828"),
        2 => ("INCOMPLETE", "#6a1b9a"),
        4 => ("delivery failed", "#c62828"),
        _ => ("see summary.json", "#455a64"),
    };
    let rows: Vec<Row> = findings
        .iter()
        .map(|f| Row {
            finding: f,
            age_days: f.first_seen.map(|d| (summary.as_of - d).num_days()),
        })
        .collect();
    let findings_json = script_safe_json(&serde_json::to_string(&rows).map_err(|e| e.to_string())?);
    let by_severity: Vec<(&str, u64)> = Severity::ALL
        .iter()
        .rev()
        .map(|s| {
            (
                s.as_str(),
                summary
                    .counts
                    .by_severity
                    .get(s.as_str())
                    .copied()
                    .unwrap_or(0),
            )
        })
        .collect();
    let (account_bars, account_total) = account_bars(summary, findings);
    // Breaks against the book of record, per account (the `books` pack's findings).
    let mut book_breaks: BTreeMap<(String, String), Vec<&Finding>> = BTreeMap::new();
    for f in findings.iter().filter(|f| f.pack == "books") {
        book_breaks
            .entry((
                f.broker.clone().unwrap_or_else(|| "-".into()),
                f.account.clone().unwrap_or_else(|| "-".into()),
            ))
            .or_default()
            .push(f);
    }
    // Drawn in the page, so bounded: the most accounts and breaks a person reads here;
    // every one of them is in the findings table below and in the files.
    const BREAK_ROWS: usize = 100;
    let break_total: usize = book_breaks.values().map(Vec::len).sum();
    let mut shown = 0;
    let book_breaks: Vec<serde_json::Value> = book_breaks
        .into_iter()
        .take_while(|(_, fs)| {
            shown += fs.len();
            shown - fs.len() < BREAK_ROWS
        })
        .map(|((broker, account), fs)| {
            serde_json::json!({
                "broker": broker,
                "account": account,
                "breaks": fs.iter().map(|f| serde_json::json!({
                    "severity": f.severity.as_str(),
                    "rule": f.rule,
                    "instrument": f.symbol.clone().or(f.position.clone()).unwrap_or_default(),
                    "message": f.message,
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    let ctx = minijinja::context! {
        s => Value::from(Serde(summary)),
        verdict => verdict.0,
        verdict_color => verdict.1,
        by_severity => Value::from(Serde(by_severity)),
        broker_bars => Value::from(Serde(broker_bars(findings))),
        severity_legend => Value::from(Serde(
            Severity::ALL
                .iter()
                .rev()
                .map(|s| BTreeMap::from([("name", s.as_str()), ("color", color(*s))]))
                .collect::<Vec<_>>()
        )),
        account_bars => Value::from(Serde(&account_bars)),
        account_bars_more => (account_total > account_bars.len()).then_some(account_total),
        findings_json => findings_json,
        book_breaks => Value::from(Serde(&book_breaks)),
        book_breaks_more => break_total.saturating_sub(shown.min(break_total)),
    };
    env.get_template("report.html")
        .and_then(|t| t.render(ctx))
        .map_err(|e| e.to_string())
}

/// JSON that can sit inside a `<script>` element whatever the broker's strings hold: every
/// `<`, `>` and `&` becomes its `\u` escape (still the same JSON value), so neither `</script>`
/// nor `<!--<script` (which puts the HTML parser in "script data double escaped" state and
/// swallows the rest of the page) can appear; U+2028/U+2029 too, which old engines read as
/// line ends.
pub fn script_safe_json(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::summary::{Counts, Summary};
    use recon_rules::FindingStatus;
    use recon_rules::views::AccountFigure;
    use std::str::FromStr;

    fn summary(findings: &[Finding]) -> Summary {
        Summary {
            run_id: "r1".into(),
            as_of: chrono::NaiveDate::from_ymd_opt(2026, 11, 20).unwrap(),
            started_at: chrono::Utc::now(),
            timings_ms: Default::default(),
            peak_rss_kib: None,
            packs: vec![],
            brokers: vec!["tradezero".into()],
            accounts_checked: 2,
            positions_checked: 3,
            complete: true,
            incomplete: vec![],
            counts: Counts::of(findings),
            rules: vec![],
            previous_run: None,
            resolved: vec![],
            not_rechecked: vec![],
            email: None,
            config_sha256: None,
            exit_code: 1,
            accounts: vec![
                AccountFigure {
                    broker: "tradezero".into(),
                    account: "TZ1".into(),
                    net_liq: Decimal::from_str("49859.00").ok(),
                    cash: Decimal::from_str("18250.00").ok(),
                    position_value: Decimal::from_str("32859.00").ok(),
                },
                AccountFigure {
                    broker: "tradezero".into(),
                    account: "TZ2".into(),
                    net_liq: Decimal::from_str("100").ok(),
                    cash: Decimal::from_str("100").ok(),
                    position_value: None,
                },
            ],
        }
    }

    fn finding(message: &str) -> Finding {
        Finding {
            rule: "account-value-identity".into(),
            pack: "core".into(),
            severity: Severity::Error,
            status: FindingStatus::New,
            broker: Some("tradezero".into()),
            account: Some("TZ1".into()),
            position: None,
            symbol: None,
            message: message.into(),
            evidence: Default::default(),
            first_seen: chrono::NaiveDate::from_ymd_opt(2026, 11, 18),
        }
    }

    #[test]
    fn long_account_labels_are_cut_to_fit_left_of_the_bars() {
        assert_eq!(fit_label("tradezero TZ10000002"), "tradezero TZ10000002");
        let uuid = "architect 0b7e6c2a-5f4d-4e3a-9c1b-7a2d8e9f0a11";
        let cut = fit_label(uuid);
        assert_eq!(cut.chars().count(), LABEL_CHARS);
        assert!(cut.ends_with('…') && uuid.starts_with(cut.trim_end_matches('…')));
    }

    #[test]
    fn the_page_is_self_contained_and_carries_every_finding() {
        let findings = vec![
            finding("off by -1250.00"),
            finding("</script><script>alert(1)</script>"),
            finding("<!--<script> & \u{2028}"),
        ];
        let page = render(&summary(&findings), &findings).unwrap();
        assert!(page.starts_with("<!doctype html>"));
        for attr in [
            "src=\"http",
            "href=\"http",
            "src='http",
            "@import",
            "url(http",
        ] {
            assert!(!page.contains(attr), "fetches something: {attr}");
        }
        // The hostile message cannot close the data element.
        assert_eq!(
            page.matches("</script>").count(),
            2,
            "one per script element"
        );
        let start = page.find("id=\"findings\">").unwrap() + "id=\"findings\">".len();
        let end = start + page[start..].find("</script>").unwrap();
        let data: serde_json::Value = serde_json::from_str(&page[start..end]).unwrap();
        assert_eq!(data.as_array().unwrap().len(), 3);
        assert_eq!(data[2]["message"], "<!--<script> & \u{2028}");
        assert_eq!(data[1]["message"], "</script><script>alert(1)</script>");
        assert!(
            !page[start..end].contains('<'),
            "no raw < in the data element"
        );
        assert_eq!(data[0]["age_days"], 2);
        // Both charts: the broker bar and the account gap (TZ1 off by -1250.00; TZ2 unknown).
        assert!(page.contains("tradezero: 3 error"), "broker chart");
        assert!(
            page.contains("gap -1250.00") && page.contains("gap unknown"),
            "account chart"
        );
    }
}
