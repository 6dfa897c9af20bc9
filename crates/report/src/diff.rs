//! Run over run: each finding is compared with the previous run (the one `latest.json`
//! named) by (rule, broker, account, position). One seen before is `ongoing` and keeps the
//! date it was first seen; one gone since is `resolved`, listed in the summary.

use chrono::NaiveDate;
use recon_rules::{Finding, FindingStatus};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

type Key = (String, Option<String>, Option<String>, Option<String>);

/// A finding of the previous run that this run no longer reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resolved {
    pub rule: String,
    pub broker: Option<String>,
    pub account: Option<String>,
    pub position: Option<String>,
    pub first_seen: NaiveDate,
    pub message: String,
}

/// What the previous run reported, keyed for the diff.
pub struct Previous {
    pub run_id: String,
    pub dir: PathBuf,
    findings: BTreeMap<Key, (NaiveDate, String)>,
}

#[derive(Deserialize)]
struct Line {
    as_of: NaiveDate,
    rule: String,
    broker: Option<String>,
    account: Option<String>,
    position: Option<String>,
    message: String,
    first_seen: Option<NaiveDate>,
}

/// The run `<out_dir>/latest.json` names, if there is one that can be read. A previous run
/// that cannot be read is a warning, not a failure: every finding is then `new`.
pub fn previous(out_dir: &Path) -> Option<Previous> {
    #[derive(Deserialize)]
    struct Latest {
        run_id: String,
        dir: String,
    }
    let latest: Latest = serde_json::from_slice(&std::fs::read(out_dir.join("latest.json")).ok()?)
        .map_err(
            |e| tracing::warn!(error = %e, "latest.json unreadable; every finding counts as new"),
        )
        .ok()?;
    let dir = out_dir.join(&latest.dir);
    let text = std::fs::read_to_string(dir.join("findings.jsonl"))
        .map_err(|e| tracing::warn!(dir = %dir.display(), error = %e, "previous run unreadable; every finding counts as new"))
        .ok()?;
    let mut findings = BTreeMap::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        match serde_json::from_str::<Line>(line) {
            Ok(l) => {
                let first = l.first_seen.unwrap_or(l.as_of);
                findings.insert(
                    (l.rule, l.broker, l.account, l.position),
                    (first, l.message),
                );
            }
            Err(e) => {
                tracing::warn!(error = %e, "a line of the previous findings.jsonl is unreadable")
            }
        }
    }
    Some(Previous {
        run_id: latest.run_id,
        dir,
        findings,
    })
}

/// What this run looked at, for telling "resolved" from "not looked at": the accounts it
/// read completely, and the brokers it read with no broker-wide gap.
#[derive(Debug, Default)]
pub struct Checked {
    pub accounts: std::collections::BTreeSet<(String, String)>,
    pub brokers: std::collections::BTreeSet<String>,
}

impl Checked {
    /// Whether a finding of (`broker`, `account`) could have been seen again this run.
    fn covers(&self, broker: Option<&str>, account: Option<&str>) -> bool {
        match (broker, account) {
            (Some(b), Some(a)) => self.accounts.contains(&(b.to_string(), a.to_string())),
            (Some(b), None) => self.brokers.contains(b),
            // A finding tied to no broker: this run checked whatever it was about.
            (None, _) => true,
        }
    }
}

/// Marks findings seen before as `ongoing` (keeping their first date). Answers the ones
/// the previous run had that are gone: resolved when this run checked their account again,
/// and "not rechecked" when it did not (an account not fetched or not fully read this run
/// proves nothing either way).
pub fn apply(
    findings: &mut [Finding],
    previous: Option<&Previous>,
    as_of: NaiveDate,
    checked: &Checked,
) -> (Vec<Resolved>, Vec<Resolved>) {
    let Some(previous) = previous else {
        for f in findings.iter_mut() {
            f.first_seen = Some(as_of);
        }
        return (Vec::new(), Vec::new());
    };
    let mut gone = previous.findings.clone();
    for f in findings.iter_mut() {
        match gone.remove(&f.key()) {
            Some((first, _)) => {
                f.first_seen = Some(first);
                if f.status == FindingStatus::New {
                    f.status = FindingStatus::Ongoing;
                }
            }
            None => f.first_seen = Some(as_of),
        }
    }
    gone.into_iter()
        .map(
            |((rule, broker, account, position), (first_seen, message))| Resolved {
                rule,
                broker,
                account,
                position,
                first_seen,
                message,
            },
        )
        .partition(|r| checked.covers(r.broker.as_deref(), r.account.as_deref()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::files::{run_dir, write_run};
    use crate::summary::RunFacts;
    use recon_rules::Severity;
    use recon_rules::views::AccountFigure;

    fn finding(rule: &str, account: &str) -> Finding {
        Finding {
            rule: rule.into(),
            pack: "core".into(),
            severity: Severity::Error,
            status: FindingStatus::New,
            broker: Some("tradezero".into()),
            account: Some(account.into()),
            position: None,
            symbol: None,
            message: format!("{rule} on {account}"),
            evidence: Default::default(),
            first_seen: None,
        }
    }

    fn facts(run_id: &str, as_of: NaiveDate) -> RunFacts {
        RunFacts {
            run_id: run_id.into(),
            as_of,
            started_at: chrono::Utc::now(),
            timings_ms: vec![],
            packs: vec![],
            brokers: vec![],
            accounts_checked: 0,
            positions_checked: 0,
            incomplete: vec![],
            exit_code: 1,
            config_sha256: None,
            peak_rss_kib: None,
            accounts: ["X", "Y", "Z"]
                .map(|a| AccountFigure {
                    broker: "tradezero".into(),
                    account: a.into(),
                    net_liq: None,
                    cash: None,
                    position_value: None,
                })
                .to_vec(),
        }
    }

    #[test]
    fn a_finding_of_an_account_not_read_this_run_is_not_resolved() {
        let out = tempfile::tempdir().unwrap();
        let day1 = NaiveDate::from_ymd_opt(2026, 11, 19).unwrap();
        let day2 = NaiveDate::from_ymd_opt(2026, 11, 20).unwrap();
        let mut first = vec![finding("a", "X"), finding("b", "Y"), finding("c", "Z")];
        write_run(
            out.path(),
            &run_dir(out.path(), day1, "r1"),
            &facts("r1", day1),
            &mut first,
            &[],
        )
        .unwrap();
        // Day 2: Y was not fetched at all, Z was fetched but could not all be read.
        let mut day2_facts = facts("r2", day2);
        day2_facts.accounts.retain(|f| f.account != "Y");
        day2_facts.incomplete.push(crate::summary::IncompleteItem {
            broker: "tradezero".into(),
            account: Some("Z".into()),
            reason: "positions: HTTP 500".into(),
        });
        let mut second = vec![];
        let written = write_run(
            out.path(),
            &run_dir(out.path(), day2, "r2"),
            &day2_facts,
            &mut second,
            &[],
        )
        .unwrap();
        let resolved: Vec<&str> = written
            .summary
            .resolved
            .iter()
            .map(|r| r.rule.as_str())
            .collect();
        assert_eq!(resolved, ["a"]);
        let unchecked: Vec<&str> = written
            .summary
            .not_rechecked
            .iter()
            .map(|r| r.rule.as_str())
            .collect();
        assert_eq!(unchecked, ["b", "c"]);
    }

    #[test]
    fn ongoing_new_and_resolved_across_days() {
        let out = tempfile::tempdir().unwrap();
        let day1 = NaiveDate::from_ymd_opt(2026, 11, 19).unwrap();
        let day2 = NaiveDate::from_ymd_opt(2026, 11, 20).unwrap();
        let mut first = vec![finding("a", "X"), finding("b", "Y")];
        write_run(
            out.path(),
            &run_dir(out.path(), day1, "r1"),
            &facts("r1", day1),
            &mut first,
            &[],
        )
        .unwrap();
        assert!(
            first
                .iter()
                .all(|f| f.status == FindingStatus::New && f.first_seen == Some(day1))
        );

        let mut second = vec![finding("a", "X"), finding("c", "Z")];
        let dir = run_dir(out.path(), day2, "r2");
        let written = write_run(out.path(), &dir, &facts("r2", day2), &mut second, &[]).unwrap();
        assert_eq!(second[0].status, FindingStatus::Ongoing);
        assert_eq!(second[0].first_seen, Some(day1));
        assert_eq!(second[1].status, FindingStatus::New);
        assert_eq!(written.summary.previous_run.as_deref(), Some("r1"));
        assert_eq!(written.summary.resolved.len(), 1);
        assert_eq!(written.summary.resolved[0].rule, "b");
        assert_eq!(written.summary.resolved[0].first_seen, day1);
        let line: serde_json::Value = serde_json::from_str(
            std::fs::read_to_string(dir.join("findings.jsonl"))
                .unwrap()
                .lines()
                .next()
                .unwrap(),
        )
        .unwrap();
        assert_eq!(line["status"], "ongoing");
        assert_eq!(line["age_days"], 1);
        assert_eq!(line["first_seen"], "2026-11-19");
    }
}
