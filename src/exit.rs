//! Exit codes (DESIGN.md "Exit codes"). Where several hold, the first in the order
//! 3, 2, 4, 1 wins.

use recon_rules::{Finding, FindingStatus, Severity};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ExitStatus {
    /// Complete, and nothing at or above `fail_on`.
    Clean = 0,
    /// Findings at or above `fail_on`.
    Findings = 1,
    /// Some broker or account could not be fetched or read.
    Incomplete = 2,
    /// Usage or configuration error: nothing ran.
    Usage = 3,
    /// The report was written but delivery failed.
    DeliveryFailed = 4,
}

impl ExitStatus {
    pub fn code(self) -> i32 {
        self as i32
    }

    /// The status of a run that got as far as findings.
    pub fn of_run(
        findings: &[Finding],
        fail_on: Severity,
        incomplete: bool,
        delivery_failed: bool,
    ) -> ExitStatus {
        if incomplete {
            ExitStatus::Incomplete
        } else if delivery_failed {
            ExitStatus::DeliveryFailed
        } else if findings
            .iter()
            .any(|f| f.status != FindingStatus::Waived && f.severity >= fail_on)
        {
            ExitStatus::Findings
        } else {
            ExitStatus::Clean
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn finding(severity: Severity, status: FindingStatus) -> Finding {
        Finding {
            rule: "r".into(),
            pack: "p".into(),
            severity,
            status,
            broker: None,
            account: None,
            position: None,
            symbol: None,
            message: String::new(),
            evidence: BTreeMap::new(),
            first_seen: None,
        }
    }

    #[test]
    fn precedence_and_threshold() {
        let warn = [finding(Severity::Warning, FindingStatus::New)];
        let err = [finding(Severity::Error, FindingStatus::Unknown)];
        let waived = [finding(Severity::Critical, FindingStatus::Waived)];
        assert_eq!(
            ExitStatus::of_run(&warn, Severity::Error, false, false),
            ExitStatus::Clean
        );
        assert_eq!(
            ExitStatus::of_run(&warn, Severity::Warning, false, false),
            ExitStatus::Findings
        );
        assert_eq!(
            ExitStatus::of_run(&err, Severity::Error, false, false),
            ExitStatus::Findings
        );
        assert_eq!(
            ExitStatus::of_run(&waived, Severity::Info, false, false),
            ExitStatus::Clean
        );
        assert_eq!(
            ExitStatus::of_run(&err, Severity::Error, true, true),
            ExitStatus::Incomplete
        );
        assert_eq!(
            ExitStatus::of_run(&err, Severity::Error, false, true),
            ExitStatus::DeliveryFailed
        );
    }
}
