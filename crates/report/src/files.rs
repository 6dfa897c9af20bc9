//! The run-output folder: `<out_dir>/<as_of>/<run_id>/` with `findings.jsonl`,
//! `findings.csv`, `findings.parquet`, `junit.xml`, `report.md`, `report.html` and
//! `summary.json` (last, so
//! a summary means the rest is there), and `<out_dir>/latest.json` naming the newest run.
//! Every file is written atomically.

use crate::diff;
use crate::html;
use crate::render;
use crate::summary::{RunFacts, Summary};
use chrono::NaiveDate;
use recon_model::files::{create_private_dir, write_atomic};
use recon_rules::Finding;
use recon_rules::RuleStats;
use serde::Serialize;
use std::io;
use std::path::{Path, PathBuf};

/// Where a run's outputs go.
pub fn run_dir(out_dir: &Path, as_of: NaiveDate, run_id: &str) -> PathBuf {
    out_dir.join(as_of.to_string()).join(run_id)
}

/// One line of `findings.jsonl`: the run's identity, then the finding, then its age in days
/// (0 the day it is first seen).
#[derive(Serialize)]
struct Line<'a> {
    run_id: &'a str,
    as_of: NaiveDate,
    #[serde(flatten)]
    finding: &'a Finding,
    age_days: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct RunOutput {
    pub dir: PathBuf,
    pub summary: Summary,
}

/// Compares `findings` with the previous run in `out_dir` (marking those seen before
/// `ongoing`), writes every output file into `dir`, then points `latest.json` at it.
pub fn write_run(
    out_dir: &Path,
    dir: &Path,
    facts: &RunFacts,
    findings: &mut [Finding],
    stats: &[RuleStats],
) -> io::Result<RunOutput> {
    let previous = diff::previous(out_dir);
    let (resolved, not_rechecked) =
        diff::apply(findings, previous.as_ref(), facts.as_of, &facts.checked());
    let findings: &[Finding] = findings;
    create_private_dir(dir)?;
    let mut jsonl = Vec::with_capacity(findings.len() * 256);
    for finding in findings {
        serde_json::to_writer(
            &mut jsonl,
            &Line {
                run_id: &facts.run_id,
                as_of: facts.as_of,
                finding,
                age_days: finding.first_seen.map(|f| (facts.as_of - f).num_days()),
            },
        )
        .map_err(io::Error::other)?;
        jsonl.push(b'\n');
    }
    write_atomic(&dir.join("findings.jsonl"), &jsonl)?;

    let mut summary = Summary::new(facts, findings, stats);
    summary.previous_run = previous.map(|p| p.run_id);
    summary.resolved = resolved;
    summary.not_rechecked = not_rechecked;
    let as_of = facts.as_of.to_string();
    let mut frame = render::csv_frame(findings, &facts.run_id, &as_of).map_err(io::Error::other)?;
    write_atomic(
        &dir.join("findings.csv"),
        &render::csv(&mut frame).map_err(io::Error::other)?,
    )?;
    let mut frame =
        render::findings_frame(findings, &facts.run_id, &as_of).map_err(io::Error::other)?;
    write_atomic(
        &dir.join("findings.parquet"),
        &render::parquet(&mut frame).map_err(io::Error::other)?,
    )?;
    write_atomic(
        &dir.join("junit.xml"),
        render::junit(&summary, findings)
            .map_err(io::Error::other)?
            .as_bytes(),
    )?;
    write_atomic(
        &dir.join("report.md"),
        render::markdown(&summary, findings).as_bytes(),
    )?;
    write_atomic(
        &dir.join("report.html"),
        html::render(&summary, findings)
            .map_err(io::Error::other)?
            .as_bytes(),
    )?;
    write_json(&dir.join("summary.json"), &summary)?;

    #[derive(Serialize)]
    struct Latest<'a> {
        run_id: &'a str,
        as_of: NaiveDate,
        dir: String,
    }
    let relative = dir.strip_prefix(out_dir).unwrap_or(dir);
    write_json(
        &out_dir.join("latest.json"),
        &Latest {
            run_id: &facts.run_id,
            as_of: facts.as_of,
            dir: relative.display().to_string(),
        },
    )?;
    Ok(RunOutput {
        dir: dir.to_path_buf(),
        summary,
    })
}

/// Rewrites `summary.json` (after delivery changed the exit code).
pub fn rewrite_summary(dir: &Path, summary: &Summary) -> io::Result<()> {
    write_json(&dir.join("summary.json"), summary)
}

fn write_json<T: Serialize>(path: &Path, value: &T) -> io::Result<()> {
    let mut bytes = serde_json::to_vec_pretty(value).map_err(io::Error::other)?;
    bytes.push(b'\n');
    write_atomic(path, &bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::summary::PackInfo;
    use recon_rules::{FindingStatus, Severity};
    use std::collections::BTreeMap;

    #[test]
    fn writes_one_json_line_per_finding_and_a_summary() {
        let out = tempfile::tempdir().unwrap();
        let as_of = NaiveDate::from_ymd_opt(2026, 11, 20).unwrap();
        let dir = run_dir(out.path(), as_of, "r1");
        let finding = Finding {
            rule: "account-value-identity".into(),
            pack: "core".into(),
            severity: Severity::Error,
            status: FindingStatus::New,
            broker: Some("tradezero".into()),
            account: Some("TZ1".into()),
            position: None,
            symbol: None,
            message: "off".into(),
            evidence: BTreeMap::from([("difference".into(), "-1250.00".into())]),
            first_seen: None,
        };
        let facts = RunFacts {
            run_id: "r1".into(),
            as_of,
            started_at: chrono::Utc::now(),
            timings_ms: vec![("rules".into(), 3)],
            packs: vec![PackInfo {
                id: "core".into(),
                version: "1".into(),
                file: "rules/core.toml".into(),
                sha256: "ab".into(),
            }],
            brokers: vec!["tradezero".into()],
            accounts_checked: 1,
            positions_checked: 0,
            incomplete: vec![],
            exit_code: 1,
            config_sha256: None,
            peak_rss_kib: None,
            accounts: vec![],
        };
        let stats = recon_rules::RuleStats {
            pack: "core".into(),
            rule: "account-value-identity".into(),
            view: "account_view".into(),
            in_scope: 3,
            passed: 1,
            failed: 2,
            ..Default::default()
        };
        let written = write_run(
            out.path(),
            &dir,
            &facts,
            &mut [finding.clone(), finding],
            &[stats],
        )
        .unwrap();
        let text = std::fs::read_to_string(dir.join("findings.jsonl")).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["run_id"], "r1");
        assert_eq!(lines[0]["as_of"], "2026-11-20");
        assert_eq!(lines[0]["evidence"]["difference"], "-1250.00");
        assert_eq!(lines[0]["status"], "new");
        let summary: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join("summary.json")).unwrap()).unwrap();
        assert_eq!(summary["counts"]["by_severity"]["error"], 2);
        assert_eq!(summary["exit_code"], 1);
        assert_eq!(summary["complete"], true);
        assert_eq!(written.summary.counts.total, 2);
        let latest: serde_json::Value =
            serde_json::from_slice(&std::fs::read(out.path().join("latest.json")).unwrap())
                .unwrap();
        assert_eq!(latest["dir"], "2026-11-20/r1");

        let csv = std::fs::read_to_string(dir.join("findings.csv")).unwrap();
        let mut lines = csv.lines();
        assert!(
            lines
                .next()
                .unwrap()
                .starts_with("run_id,as_of,rule,pack,severity")
        );
        assert_eq!(lines.count(), 2);
        let parquet = std::fs::File::open(dir.join("findings.parquet")).unwrap();
        use polars::prelude::SerReader;
        let back = polars::prelude::ParquetReader::new(parquet)
            .finish()
            .unwrap();
        assert_eq!(back.height(), 2);
        assert_eq!(
            back.column("evidence").unwrap().str().unwrap().get(0),
            Some(r#"{"difference":"-1250.00"}"#)
        );
        let junit = std::fs::read_to_string(dir.join("junit.xml")).unwrap();
        assert!(junit.contains("<testsuite name=\"recon.core\""), "{junit}");
        let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
        assert!(
            md.contains("| error | new | account-value-identity | tradezero | TZ1 | off |"),
            "{md}"
        );
    }
}
