//! Waivers (DESIGN.md "Rule packs"): a known finding, accepted by an owner for a reason until
//! a date. A waived finding is still reported, with status `waived`, and does not fail the
//! run. An expired waiver waives nothing and is itself reported (`waiver-expired`), so
//! nothing stays accepted by accident.
//!
//! ```toml
//! [[waiver]]
//! rule = "pnl-coverage"
//! broker = "tradezero"
//! account = "TZP20000004"
//! symbol = "IWM261231C00250000"     # optional: one position only
//! reason = "paper option lots have no quotes"
//! owner = "ops@example.com"
//! expires = "2026-12-31"            # inclusive
//! ```

use crate::finding::{Finding, FindingStatus, Severity};
use crate::pack::{Pack, nearest};
use chrono::NaiveDate;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

/// The rule id of the finding an expired waiver becomes.
pub const WAIVER_EXPIRED: &str = "waiver-expired";

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Waiver {
    pub rule: String,
    pub broker: String,
    pub account: String,
    #[serde(default)]
    pub symbol: Option<String>,
    pub reason: String,
    pub owner: String,
    pub expires: NaiveDate,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WaiverFile {
    #[serde(default, rename = "waiver")]
    waivers: Vec<Waiver>,
}

/// Reads a waivers file, refusing unknown keys, empty reasons or owners, and rule ids no
/// pack defines (with the nearest one suggested).
pub fn load(path: &Path, packs: &[Pack]) -> Result<Vec<Waiver>, String> {
    let file = path.display();
    let text = std::fs::read_to_string(path).map_err(|e| format!("{file}: cannot read: {e}"))?;
    let parsed: WaiverFile =
        toml::from_str(&text).map_err(|e| format!("{file}: not a valid waivers file: {e}"))?;
    let rules: Vec<&str> = packs
        .iter()
        .flat_map(|p| p.rules.iter().map(|r| r.id.as_str()))
        .collect();
    for (i, w) in parsed.waivers.iter().enumerate() {
        let at = format!(
            "{file}: waiver {} ({} on {} {})",
            i + 1,
            w.rule,
            w.broker,
            w.account
        );
        if !rules.contains(&w.rule.as_str()) {
            let hint = nearest(&w.rule, rules.iter().copied())
                .map(|n| format!(" (did you mean `{n}`?)"))
                .unwrap_or_default();
            return Err(format!("{at}: no rule `{}`{hint}", w.rule));
        }
        if w.reason.trim().is_empty() || w.owner.trim().is_empty() {
            return Err(format!("{at}: a waiver needs a reason and an owner"));
        }
    }
    Ok(parsed.waivers)
}

impl Waiver {
    fn covers(&self, f: &Finding) -> bool {
        f.rule == self.rule
            && f.broker.as_deref() == Some(self.broker.as_str())
            && f.account
                .as_deref()
                .is_some_and(|a| a.eq_ignore_ascii_case(&self.account))
            && self
                .symbol
                .as_deref()
                .is_none_or(|s| f.symbol.as_deref() == Some(s))
    }
}

/// Marks waived findings and reports expired waivers as findings of their own.
pub fn apply(findings: &mut Vec<Finding>, waivers: &[Waiver], as_of: NaiveDate) {
    for f in findings.iter_mut() {
        if let Some(w) = waivers.iter().find(|w| w.expires >= as_of && w.covers(f)) {
            f.status = FindingStatus::Waived;
            f.evidence.insert("waived_by".into(), w.owner.clone());
            f.evidence.insert("waiver_reason".into(), w.reason.clone());
            f.evidence
                .insert("waiver_expires".into(), w.expires.to_string());
        }
    }
    for w in waivers.iter().filter(|w| w.expires < as_of) {
        findings.push(Finding {
            rule: WAIVER_EXPIRED.into(),
            pack: "waivers".into(),
            severity: Severity::Warning,
            status: FindingStatus::New,
            broker: Some(w.broker.clone()),
            account: Some(w.account.clone()),
            position: None,
            symbol: w.symbol.clone(),
            message: format!(
                "the waiver of {} by {} expired {}: \"{}\"; its findings count again",
                w.rule, w.owner, w.expires, w.reason
            ),
            evidence: BTreeMap::from([
                ("waived_rule".to_string(), w.rule.clone()),
                ("owner".to_string(), w.owner.clone()),
                ("expired".to_string(), w.expires.to_string()),
            ]),
            first_seen: None,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pack::{CORE_PACK, CORE_PACK_FILE, parse_pack};

    fn finding(rule: &str, account: &str, symbol: Option<&str>) -> Finding {
        Finding {
            rule: rule.into(),
            pack: "core".into(),
            severity: Severity::Error,
            status: FindingStatus::New,
            broker: Some("tradezero".into()),
            account: Some(account.into()),
            position: None,
            symbol: symbol.map(str::to_string),
            message: String::new(),
            evidence: BTreeMap::new(),
            first_seen: None,
        }
    }

    fn waiver(account: &str, symbol: Option<&str>, expires: &str) -> Waiver {
        Waiver {
            rule: "pnl-coverage".into(),
            broker: "tradezero".into(),
            account: account.into(),
            symbol: symbol.map(str::to_string),
            reason: "no quotes on paper".into(),
            owner: "ops".into(),
            expires: expires.parse().unwrap(),
        }
    }

    #[test]
    fn active_waivers_waive_and_expired_ones_are_reported() {
        let as_of: NaiveDate = "2026-11-20".parse().unwrap();
        let mut findings = vec![
            finding("pnl-coverage", "A", Some("IWM")),
            finding("pnl-coverage", "A", Some("SPY")),
            finding("pnl-coverage", "B", None),
        ];
        let waivers = vec![
            // Expires on as_of: still active (inclusive).
            waiver("a", Some("IWM"), "2026-11-20"),
            waiver("B", None, "2026-11-19"),
        ];
        apply(&mut findings, &waivers, as_of);
        assert_eq!(findings[0].status, FindingStatus::Waived);
        assert_eq!(findings[0].evidence["waived_by"], "ops");
        assert_eq!(findings[1].status, FindingStatus::New, "another symbol");
        assert_eq!(findings[2].status, FindingStatus::New, "expired");
        assert_eq!(findings.len(), 4);
        assert_eq!(findings[3].rule, WAIVER_EXPIRED);
        assert_eq!(findings[3].account.as_deref(), Some("B"));
    }

    #[test]
    fn a_waiver_for_an_unknown_rule_is_refused_with_a_suggestion() {
        let dir = std::env::temp_dir().join(format!("recon-waivers-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("w.toml");
        std::fs::write(
            &path,
            "[[waiver]]\nrule = \"pnl-coverag\"\nbroker = \"tradezero\"\naccount = \"A\"\nreason = \"r\"\nowner = \"o\"\nexpires = \"2026-12-31\"\n",
        )
        .unwrap();
        let packs = [parse_pack(CORE_PACK, CORE_PACK_FILE).unwrap()];
        let err = load(&path, &packs).unwrap_err();
        assert!(
            err.contains("w.toml") && err.contains("waiver 1") && err.contains("`pnl-coverage`"),
            "{err}"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }
}
