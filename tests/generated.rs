//! Generated books through the whole pipeline (simulator → HTTP and gRPC fetch from all five
//! brokers → snapshot → normalize → rules): every planted break is found, nothing else is,
//! and near misses never fire. Since each broker renders the same book in its own wire
//! format, this is also the property that normalize gives back the book exactly: a value,
//! sign, multiplier or expiry read wrong anywhere shows up as a finding nobody planted.

use chrono::NaiveDate;
use proptest::prelude::*;
use recon::demo::{DemoOptions, run_book};
use recon_rules::{Finding, Severity};
use recon_sim::generate::{Expected, GenSpec, generate};
use std::collections::BTreeSet;

fn as_of() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 20).unwrap()
}

fn as_expected(f: &Finding) -> Expected {
    Expected {
        rule: f.rule.clone(),
        broker: f.broker.clone().unwrap_or_default(),
        account: f.account.clone().unwrap_or_default(),
        position: f.position.clone(),
        status: f.status.as_str().to_string(),
        severity: f.severity.as_str().to_string(),
    }
}

fn run(spec: &GenSpec) -> (BTreeSet<Expected>, BTreeSet<Expected>) {
    let (book, expected) = generate(spec);
    let out = tempfile::tempdir().unwrap();
    let result = run_book(
        book,
        &DemoOptions {
            out_dir: out.path().to_path_buf(),
            as_of: None,
            fail_on: Severity::Error,
        },
    )
    .unwrap();
    // Every broker of the spec was served, fetched whole and read.
    for broker in &spec.brokers {
        let entry = &result.manifest.brokers[broker.as_str()];
        assert_eq!(
            entry.status,
            recon_model::manifest::FetchStatus::Complete,
            "{broker}: {:?}",
            entry.errors
        );
    }
    assert_eq!(result.manifest.brokers.len(), spec.brokers.len());
    let got: BTreeSet<Expected> = result.run.findings.iter().map(as_expected).collect();
    assert_eq!(got.len(), result.run.findings.len(), "duplicate findings");
    (got, expected.into_iter().collect())
}

#[test]
fn a_consistent_book_has_no_findings() {
    let (got, expected) = run(&GenSpec::new(3, 60, 12, as_of()));
    assert!(expected.is_empty());
    assert!(got.is_empty(), "{got:#?}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    #[test]
    fn planted_breaks_are_found_exactly(seed in any::<u64>()) {
        let spec = GenSpec { break_rate: 0.3, ..GenSpec::new(seed, 40, 6, as_of()) };
        let (got, expected) = run(&spec);
        let missed: Vec<_> = expected.difference(&got).collect();
        let extra: Vec<_> = got.difference(&expected).collect();
        prop_assert!(missed.is_empty() && extra.is_empty(), "seed {seed}: missed {missed:#?}, extra {extra:#?}");
    }
}
