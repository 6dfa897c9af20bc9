//! What a rule reports: one finding per failing (or undecidable) row.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Warning,
    Error,
    Critical,
}

impl Severity {
    pub const ALL: [Severity; 4] = [
        Severity::Info,
        Severity::Warning,
        Severity::Error,
        Severity::Critical,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
            Severity::Critical => "critical",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Severity {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Severity::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| format!("`{s}` is not a severity (info, warning, error, critical)"))
    }
}

/// `new` and `ongoing` are failures (the report tells them apart run over run); `unknown`
/// means the check could not be decided (missing data): never a silent pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingStatus {
    New,
    Ongoing,
    Waived,
    Unknown,
}

impl FindingStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            FindingStatus::New => "new",
            FindingStatus::Ongoing => "ongoing",
            FindingStatus::Waived => "waived",
            FindingStatus::Unknown => "unknown",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    pub rule: String,
    pub pack: String,
    pub severity: Severity,
    pub status: FindingStatus,
    pub broker: Option<String>,
    pub account: Option<String>,
    pub position: Option<String>,
    pub symbol: Option<String>,
    pub message: String,
    /// Evidence values, rendered as exact decimal strings.
    pub evidence: BTreeMap<String, String>,
    /// The business date of the first run that reported this finding (set by the report's
    /// run-over-run diff; `None` until then).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_seen: Option<chrono::NaiveDate>,
}

impl Finding {
    /// The finding a rule leaves when it could not be evaluated at all (`evaluate`).
    pub fn is_rule_error(&self) -> bool {
        self.broker.is_none()
            && self.status == FindingStatus::Unknown
            && self.evidence.contains_key("error")
            && self
                .message
                .starts_with(&format!("rule `{}` could not be evaluated", self.rule))
    }
}

impl Finding {
    /// The identity of a finding across runs: (rule, broker, account, position).
    pub fn key(&self) -> (String, Option<String>, Option<String>, Option<String>) {
        (
            self.rule.clone(),
            self.broker.clone(),
            self.account.clone(),
            self.position.clone(),
        )
    }
}
