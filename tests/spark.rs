//! The same packs on Apache Spark (issue "Beyond one machine"): a generated book with
//! planted breaks is checked locally, exported (`recon export`), and checked on a real
//! Spark Connect server (PyPI's pyspark, local[2], started by the test on 127.0.0.1): the
//! findings (without run ids) and every rule's counts must be the same, every pack.
//!
//! `.ci/run` installs pyspark into ~/.cache/recon-pyspark when missing, so CI always runs
//! this; elsewhere, without pyspark or java, it prints one `!!! NOT CHECKED` line.

mod common;

use serde_json::Value;
use std::path::Path;

/// findings.jsonl sorted, without run ids; summary.json's rule counts; accounts checked.
fn outcome(run_dir: &Path) -> (Vec<String>, Value, Value) {
    let (mut findings, rules, accounts) = common::run_outcome(run_dir);
    findings.sort();
    (findings, rules, accounts)
}

/// A pack whose rule lands exactly on its tolerance, a product with 15 decimals. With the
/// frames' `DECIMAL(38, 8)` and 38-digit literals, Spark's default decimal arithmetic rounds
/// such a product to 6 decimals (`DECIMAL(38, 6)`) and the rule fails; exact arithmetic
/// (polars with `literals::decimal_literal`, Spark as recon sets it up) passes it. Tried:
/// with recon's narrow literal types, `DECIMAL(28, 8)` money and `allowPrecisionLoss=false`
/// all undone, this test fails; the types alone already keep Spark exact.
const EXACT_PACK: &str = r#"[pack]
id = "exact"
version = "1"

[params]
drift = "0.9999999"
tol_rel = "0.0000001"

[[rule]]
id = "tolerance-to-the-last-digit"
title = "A difference exactly at a tolerance with 15 decimals passes"
severity = "error"
on = "account_view"
where = "net_liq IS NOT NULL AND net_liq <> 0"
check = "abs(net_liq - net_liq * :drift) <= abs(net_liq) * :tol_rel"
evidence = { difference = "abs(net_liq - net_liq * :drift)", tolerance = "abs(net_liq) * :tol_rel" }
message = "off by {difference}, tolerance {tolerance}"
"#;

/// A book of record (the `books` pack runs with it), and overrides for one broker and for
/// one account, its key spelled in lower case (config keys match account ids ignoring ASCII
/// case; environment variables arrive lower-cased).
const OVERRIDES: &str = r#"[books.oms]
positions = "book.csv"
cash = "cash.csv"

[rules.params.architect]
value_tol_abs = "1000000000.00"

[rules.params.tastytrade.5w000035]
value_tol_rel = "0.01"
"#;

#[test]
fn spark_gives_the_local_findings_for_every_pack() {
    let Some(spark) = common::SparkConnect::start() else {
        return;
    };
    let out = tempfile::tempdir().unwrap();
    let snapshot = common::generated_snapshot(out.path(), 23, 40, 5);
    let snap = snapshot.to_str().unwrap();
    std::fs::write(out.path().join("exact.toml"), EXACT_PACK).unwrap();
    let packs = [
        "--pack",
        "core",
        "--pack",
        "risk",
        "--pack",
        "data-quality",
        "--pack",
        "exact.toml",
    ];

    // Parameters overridden per broker and per account (a key in another case than the
    // account id): polars gives each row its value in a column, Spark in a CASE.
    std::fs::write(out.path().join("overrides.toml"), OVERRIDES).unwrap();
    let planted_book_breaks = common::generated_book_of_record(out.path(), 23, 40, 5);
    assert!(planted_book_breaks > 0);
    let mut args = vec!["check", "--snapshot", snap, "--out", "plain"];
    args.extend_from_slice(&packs);
    let plain = common::recon_in(out.path(), &args, &[]);
    assert_eq!(plain.status.code(), Some(1), "{}", common::text(&plain));
    let mut args = vec![
        "check",
        "--snapshot",
        snap,
        "--out",
        "local",
        "--config",
        "overrides.toml",
    ];
    args.extend_from_slice(&packs);
    let local = common::recon_in(out.path(), &args, &[]);
    assert_eq!(local.status.code(), Some(1), "{}", common::text(&local));

    // Exported in chunks of 7 accounts: the partitions a cluster reads in parallel.
    let export = common::recon_in(
        out.path(),
        &[
            "export",
            "--snapshot",
            snap,
            "--out",
            "frames",
            "--chunk-accounts",
            "7",
            "--config",
            "overrides.toml",
        ],
        &[],
    );
    assert_eq!(export.status.code(), Some(0), "{}", common::text(&export));
    let frames = out.path().join("frames");
    assert!(frames.join("manifest.json").is_file());
    assert!(
        frames
            .join("positions/broker=tradezero/chunk=0/part-0.parquet")
            .is_file(),
        "partitioned by broker and chunk"
    );
    let again = common::recon_in(
        out.path(),
        &["export", "--snapshot", snap, "--out", "frames"],
        &[],
    );
    assert_eq!(
        again.status.code(),
        Some(3),
        "an export is never overwritten"
    );

    let remote = spark.remote();
    let mut args = vec![
        "check",
        "--engine",
        "spark",
        "--spark-remote",
        &remote,
        "--frames",
        "frames",
        "--out",
        "spark",
        "--config",
        "overrides.toml",
    ];
    args.extend_from_slice(&packs);
    let on_spark = common::recon_in(out.path(), &args, &[]);
    assert_eq!(
        on_spark.status.code(),
        Some(1),
        "{}\n--- server log ---\n{}",
        common::text(&on_spark),
        spark.log()
    );

    let local = outcome(&common::latest_run(&out.path().join("local")));
    let remote_run = outcome(&common::latest_run(&out.path().join("spark")));
    let plain = outcome(&common::latest_run(&out.path().join("plain")));
    // The overrides must change the findings, or the comparison proves nothing about them.
    let value_findings = |findings: &[String], broker: &str| -> Vec<String> {
        findings
            .iter()
            .filter(|f| {
                f.contains("\"rule\":\"account-value-identity\"")
                    && f.contains(&format!("\"broker\":\"{broker}\""))
            })
            .cloned()
            .collect()
    };
    for (broker, overridden) in [("architect", "per broker"), ("tastytrade", "per account")] {
        let without = value_findings(&plain.0, broker);
        assert!(
            value_findings(&local.0, broker).len() < without.len(),
            "the override {overridden} ({broker}) does not change the findings: {without:#?}"
        );
    }
    for pack in ["core", "risk", "books"] {
        assert!(
            local
                .0
                .iter()
                .any(|f| f.contains(&format!("\"pack\":\"{pack}\""))),
            "no finding of {pack}: the comparison would prove little"
        );
    }
    let exact = local
        .1
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["rule"] == "tolerance-to-the-last-digit")
        .unwrap();
    assert!(exact["in_scope"].as_u64().unwrap() > 0, "{exact}");
    assert_eq!(exact["failed"], 0, "{exact}");
    assert_eq!(remote_run.0, local.0, "findings");
    assert_eq!(remote_run.1, local.1, "rule counts");
    assert_eq!(remote_run.2, local.2, "accounts checked");
}

#[test]
fn an_unreachable_spark_is_an_incomplete_run_and_a_token_in_the_address_is_refused() {
    let out = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(out.path().join("frames")).unwrap();
    // A port nothing listens on: nothing was checked, so the run is incomplete (2), never
    // clean, and no report claims otherwise.
    let port = common::free_port();
    let remote = format!("sc://127.0.0.1:{port}");
    let run = common::recon_in(
        out.path(),
        &[
            "check",
            "--engine",
            "spark",
            "--spark-remote",
            &remote,
            "--frames",
            "frames",
            "--out",
            "runs",
        ],
        &[],
    );
    let text = common::text(&run);
    assert_eq!(run.status.code(), Some(2), "{text}");
    assert!(text.contains("cannot reach Spark Connect"), "{text}");
    assert!(
        !out.path().join("runs").exists(),
        "no report of a run that checked nothing"
    );

    // A bearer token belongs in RECON_SPARK_TOKEN, not in an address that lands in shell
    // history and logs: refused (3) without echoing it.
    let run = common::recon_in(
        out.path(),
        &[
            "check",
            "--engine",
            "spark",
            "--spark-remote",
            "sc://spark.example:443/;token=s3cr3t-value",
            "--frames",
            "frames",
        ],
        &[],
    );
    let text = common::text(&run);
    assert_eq!(run.status.code(), Some(3), "{text}");
    assert!(text.contains("RECON_SPARK_TOKEN"), "{text}");
    assert!(!text.contains("s3cr3t-value"), "{text}");

    // The local engine still needs its snapshot.
    let run = common::recon_in(out.path(), &["check", "--frames", "frames"], &[]);
    assert_eq!(run.status.code(), Some(3), "{}", common::text(&run));
}
