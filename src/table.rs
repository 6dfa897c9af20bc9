//! The short summary a person reads at the end of a run on a terminal.

use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{Cell, ContentArrangement, Table};
use recon_report::Summary;
use recon_rules::{Finding, FindingStatus, Severity};

/// The width used when stdout is not a terminal (a cron log, a pipe).
pub const PIPE_WIDTH: u16 = 100;
/// How many findings the terminal summary lists; `--json` and the files keep everything.
pub const TOP: usize = 20;

/// The width to fit: the terminal's (`COLUMNS` first, as shells set it), else 100.
pub fn output_width(is_terminal: bool) -> u16 {
    if !is_terminal {
        return PIPE_WIDTH;
    }
    if let Some(cols) = std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.parse::<u16>().ok())
    {
        return cols.max(40);
    }
    #[cfg(unix)]
    {
        let mut size = libc::winsize {
            ws_row: 0,
            ws_col: 0,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCGWINSZ writes one `winsize` into the struct we own; fd 1 is stdout.
        let ok = unsafe { libc::ioctl(1, libc::TIOCGWINSZ, &mut size) } == 0;
        if ok && size.ws_col > 0 {
            return size.ws_col.max(40);
        }
    }
    PIPE_WIDTH
}

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

/// The `TOP` most severe findings as a table fitted to `width`, and a line naming the rest
/// (`… 480 more in report.html`) when there are more.
pub fn findings_table(findings: &[Finding], width: u16) -> String {
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
        .set_width(width)
        .set_header(["severity", "rule", "broker", "account", "message"]);
    for f in rows.iter().take(TOP) {
        table.add_row(vec![
            Cell::new(f.severity.as_str()),
            Cell::new(&f.rule),
            Cell::new(f.broker.as_deref().unwrap_or("-")),
            Cell::new(f.account.as_deref().unwrap_or("-")),
            Cell::new(&f.message),
        ]);
    }
    let mut out = table.to_string();
    if rows.len() > TOP {
        out.push_str(&format!("\n… {} more in report.html", rows.len() - TOP));
    }
    out
}

/// What was incomplete, one line each (at most `TOP`, then how many more), each cut to
/// `width`.
pub fn incomplete_lines(summary: &Summary, width: u16) -> Vec<String> {
    let cut = |s: String| -> String {
        if s.chars().count() <= width as usize {
            s
        } else {
            let mut t: String = s.chars().take(width as usize - 1).collect();
            t.push('…');
            t
        }
    };
    let mut lines: Vec<String> = summary
        .incomplete
        .iter()
        .take(TOP)
        .map(|i| {
            cut(format!(
                "  INCOMPLETE {} {}: {}",
                i.broker,
                i.account.as_deref().unwrap_or("(all accounts)"),
                i.reason
            ))
        })
        .collect();
    if summary.incomplete.len() > TOP {
        lines.push(format!(
            "  … {} more incomplete items in summary.json",
            summary.incomplete.len() - TOP
        ));
    }
    lines
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

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(i: usize) -> Finding {
        let severity = Severity::ALL[i % Severity::ALL.len()];
        Finding {
            rule: format!("rule-{}", i % 7),
            pack: "core".into(),
            severity,
            status: FindingStatus::New,
            broker: Some("architect".into()),
            account: Some(format!("0b7e6c2a-5f4d-4e3a-9c1b-7a2d8e9f{i:04}")),
            position: None,
            symbol: None,
            message: format!(
                "net liq {i}.00 vs cash + positions: off by a long way, see architect/0b7e6c2a-5f4d-4e3a-9c1b-7a2d8e9f{i:04}/summary.json"
            ),
            evidence: Default::default(),
            first_seen: None,
        }
    }

    #[test]
    fn five_hundred_findings_print_twenty_rows_and_the_rest_counted_within_the_width() {
        let findings: Vec<Finding> = (0..500).map(finding).collect();
        for width in [60u16, 80, 100, 160] {
            let text = findings_table(&findings, width);
            let rows = text
                .lines()
                .filter(|l| {
                    ["critical", "error", "warning", "info"]
                        .iter()
                        .any(|s| l.starts_with(&format!("│ {s} ")))
                })
                .count();
            assert_eq!(rows, TOP, "{text}");
            assert!(text.contains("… 480 more in report.html"), "{text}");
            for line in text.lines() {
                assert!(
                    line.chars().count() <= width as usize,
                    "wider than {width}: {line}"
                );
            }
            // Most severe first: no critical finding is left out while a lesser one shows.
            assert!(!text.contains("│ info "), "{text}");
        }
        assert_eq!(output_width(false), PIPE_WIDTH);
    }
}
