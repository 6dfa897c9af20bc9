//! The short summary a person reads at the end of a run on a terminal.

use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{Cell, ContentArrangement, Table};
use recon_report::Summary;
use recon_rules::{Finding, FindingStatus, Severity};

/// Wide enough for a message column on a normal terminal.
const TABLE_WIDTH: u16 = 140;

/// `text` in the severity's color, when writing to a terminal.
pub fn paint(severity: Severity, text: &str, color: bool) -> String {
    if !color {
        return text.to_string();
    }
    let code = match severity {
        Severity::Critical => "35",
        Severity::Error => "31",
        Severity::Warning => "33",
        Severity::Info => "34",
    };
    format!("\x1b[{code}m{text}\x1b[0m")
}

/// The findings table, worst first.
pub fn findings_table(findings: &[Finding]) -> String {
    let mut rows: Vec<&Finding> = findings.iter().collect();
    rows.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then_with(|| a.rule.cmp(&b.rule))
            .then_with(|| a.account.cmp(&b.account))
    });
    let mut table = Table::new();
    table
        .load_preset(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_width(TABLE_WIDTH)
        .set_header(["severity", "status", "rule", "broker", "account", "message"]);
    for f in rows {
        table.add_row(vec![
            Cell::new(f.severity.as_str()),
            Cell::new(f.status.as_str()),
            Cell::new(&f.rule),
            Cell::new(f.broker.as_deref().unwrap_or("-")),
            Cell::new(f.account.as_deref().unwrap_or("-")),
            Cell::new(&f.message),
        ]);
    }
    table.to_string()
}

/// One line of counts: `2 errors, 1 warning, 2 unknown`.
pub fn counts_line(findings: &[Finding]) -> String {
    let mut parts = Vec::new();
    for s in Severity::ALL.iter().rev() {
        let n = findings
            .iter()
            .filter(|f| f.severity == *s && f.status != FindingStatus::Unknown)
            .count();
        if n > 0 {
            let word = match (s, n) {
                (Severity::Critical, _) => "critical".to_string(),
                (_, 1) => s.as_str().to_string(),
                (_, _) => format!("{}s", s.as_str()),
            };
            parts.push(format!("{n} {word}"));
        }
    }
    let unknown = findings
        .iter()
        .filter(|f| f.status == FindingStatus::Unknown)
        .count();
    if unknown > 0 {
        parts.push(format!("{unknown} unknown"));
    }
    if parts.is_empty() {
        "no findings".into()
    } else {
        parts.join(", ")
    }
}

/// Accounts, positions and completeness in one line.
pub fn scope_line(summary: &Summary) -> String {
    format!(
        "{} accounts, {} positions checked; {}",
        summary.accounts_checked,
        summary.positions_checked,
        if summary.complete {
            "complete".to_string()
        } else {
            format!(
                "INCOMPLETE ({} items could not be fetched or read)",
                summary.incomplete.len()
            )
        }
    )
}
