//! A check streams the snapshot by chunks of accounts (DESIGN.md "Scale"): however the
//! accounts are split, every pack gives the same findings, in the same order, with the same
//! counts per rule. A generated book with planted breaks at the brokers and in the book of
//! record (plus a booked account no broker has, which only the book's last chunk sees) is
//! checked with a chunk of 1 account, of 7, and of all of them.

mod common;

use chrono::NaiveDate;
use recon::demo::DemoOptions;
use recon_rules::Severity;
use recon_sim::generate::{GenSpec, generate};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

/// findings.jsonl without the run id, and summary.json's rule counts.
fn outcome(run_dir: &Path) -> (Vec<String>, Value, Value) {
    common::run_outcome(run_dir)
}

#[test]
fn every_chunk_size_gives_the_same_findings_in_the_same_order() {
    let as_of = NaiveDate::from_ymd_opt(2026, 11, 20).unwrap();
    let spec = GenSpec {
        break_rate: 0.3,
        ..GenSpec::new(7, 40, 5, as_of)
    };
    let (book, planted) = generate(&spec);
    assert!(!planted.is_empty(), "breaks are planted at the brokers");
    let record = recon_sim::record::book_of_record(&book, 7, 0.2);
    assert!(
        !record.expected.is_empty(),
        "breaks are planted in the book"
    );

    let out = tempfile::tempdir().unwrap();
    let result = recon::demo::run_book_with(
        book,
        &DemoOptions {
            out_dir: out.path().to_path_buf(),
            as_of: None,
            fail_on: Severity::Error,
        },
        BTreeMap::new(),
    )
    .unwrap();
    let snapshot = result.run.output.dir.join("snapshot");

    let dir = out.path().join("record");
    std::fs::create_dir_all(&dir).unwrap();
    // The book spells E*TRADE accounts by their `accountId`, as people do, not by the
    // `accountIdKey` the snapshot's folders are named after: each chunk claims them by name.
    let list: Value = serde_json::from_str(
        &std::fs::read_to_string(snapshot.join("etrade/accounts.json")).unwrap(),
    )
    .unwrap();
    let mut positions = record.positions_csv();
    let mut renamed = 0;
    for account in list["AccountListResponse"]["Accounts"]["Account"]
        .as_array()
        .unwrap()
    {
        let (key, id) = (
            account["accountIdKey"].as_str().unwrap(),
            account["accountId"].as_str().unwrap(),
        );
        let spelled = positions.replace(&format!("etrade,{key},"), &format!("etrade,{id},"));
        renamed += usize::from(spelled != positions);
        positions = spelled;
    }
    assert!(renamed > 0, "the book has E*TRADE accounts");
    // A booked account no broker has: its positions are found only by the last chunk.
    positions.push_str("tradezero,TZ99999999,AAPL,10,100,1000\n");
    std::fs::write(dir.join("positions.csv"), positions).unwrap();
    std::fs::write(dir.join("cash.csv"), record.cash_csv()).unwrap();
    std::fs::write(
        dir.join("books.toml"),
        "[books.oms]\npositions = \"positions.csv\"\ncash = \"cash.csv\"\n",
    )
    .unwrap();

    let check = |chunk: &str| {
        let name = format!("chunk-{chunk}");
        let run = common::recon_in(
            &dir,
            &[
                "check",
                "--snapshot",
                snapshot.to_str().unwrap(),
                "--config",
                "books.toml",
                "--pack",
                "core",
                "--pack",
                "risk",
                "--pack",
                "data-quality",
                "--pack",
                "books",
                "--out",
                &name,
                "--chunk-accounts",
                chunk,
            ],
            &[],
        );
        assert_eq!(run.status.code(), Some(1), "{}", common::text(&run));
        outcome(&common::latest_run(&dir.join(&name)))
    };
    let whole = check("100000");
    let (findings, rules, accounts) = &whole;
    assert_eq!(accounts, &Value::from(40));
    // The generator plants no data-quality break: that pack is compared by its counts.
    let data_quality_rows: u64 = rules
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["pack"] == "data-quality")
        .map(|r| r["in_scope"].as_u64().unwrap())
        .sum();
    assert!(data_quality_rows > 0, "{rules}");
    for pack in ["core", "risk", "books"] {
        assert!(
            findings
                .iter()
                .any(|f| f.contains(&format!("\"pack\":\"{pack}\""))),
            "no finding of {pack}: the comparison would prove little"
        );
    }
    assert!(
        findings
            .iter()
            .any(|f| f.contains("broker-position-missing") && f.contains("TZ99999999")),
        "the booked account no broker has is reported"
    );
    // Spelled by name, the E*TRADE accounts were still matched: the books pack finds
    // exactly the planted breaks and the account no broker has.
    let books_found: std::collections::BTreeSet<(String, String, String)> = findings
        .iter()
        .map(|f| serde_json::from_str::<Value>(f).unwrap())
        .filter(|f| f["pack"] == "books")
        .map(|f| {
            let s = |k: &str| f[k].as_str().unwrap_or_default().to_string();
            (s("rule"), s("broker"), s("account"))
        })
        .collect();
    let mut planted_in_book: std::collections::BTreeSet<(String, String, String)> = record
        .expected
        .iter()
        .map(|e| (e.rule.clone(), e.broker.clone(), e.account.clone()))
        .collect();
    planted_in_book.insert((
        "broker-position-missing".into(),
        "tradezero".into(),
        "TZ99999999".into(),
    ));
    assert_eq!(books_found, planted_in_book);
    for chunk in ["1", "7"] {
        let chunked = check(chunk);
        assert_eq!(chunked.0, whole.0, "findings with chunks of {chunk}");
        assert_eq!(chunked.1, whole.1, "rule counts with chunks of {chunk}");
        assert_eq!(chunked.2, whole.2, "accounts with chunks of {chunk}");
    }
}

/// A generated snapshot with planted breaks (no book of record), in `out`.
fn generated_snapshot(out: &Path) -> std::path::PathBuf {
    common::generated_snapshot(out, 11, 30, 4)
}

#[test]
fn the_memory_budget_comes_from_the_flag_or_the_config_and_a_bad_one_is_refused() {
    let out = tempfile::tempdir().unwrap();
    let snapshot = generated_snapshot(out.path());
    let snap = snapshot.to_str().unwrap();
    let check = |name: &str, extra: &[&str]| {
        let mut args = vec!["check", "--snapshot", snap, "--out", name, "-v"];
        args.extend_from_slice(extra);
        common::recon_in(out.path(), &args, &[])
    };
    // The default budget takes this small book whole; a budget below what the run holds
    // anyway is said, and the check goes on in the smallest chunks (32 MiB, which this book
    // fits: `--chunk-accounts` is what cuts a small book, in the test above).
    let whole = check("whole", &[]);
    assert_eq!(whole.status.code(), Some(1), "{}", common::text(&whole));
    assert!(
        common::text(&whole).contains("chunks=1 "),
        "{}",
        common::text(&whole)
    );
    assert!(!common::text(&whole).contains("little room"));
    let small = check("small", &["--memory-budget", "1KiB"]);
    assert_eq!(small.status.code(), Some(1), "{}", common::text(&small));
    let log = common::text(&small);
    assert!(log.contains("little room"), "{log}");
    let run = |name: &str| outcome(&common::latest_run(&out.path().join(name)));
    assert_eq!(run("small"), run("whole"));

    std::fs::write(out.path().join("budget.toml"), "memory_budget = \"1KiB\"\n").unwrap();
    let from_config = check("config", &["--config", "budget.toml"]);
    assert!(
        common::text(&from_config).contains("little room"),
        "{}",
        common::text(&from_config)
    );
    assert_eq!(run("config"), run("whole"));

    std::fs::write(out.path().join("bad.toml"), "memory_budget = \"lots\"\n").unwrap();
    let bad = check("bad", &["--config", "bad.toml"]);
    assert_eq!(bad.status.code(), Some(3), "{}", common::text(&bad));
    assert!(
        common::text(&bad).contains("memory_budget"),
        "{}",
        common::text(&bad)
    );
    let bad_flag = check("bad", &["--memory-budget", "lots"]);
    assert_eq!(
        bad_flag.status.code(),
        Some(3),
        "{}",
        common::text(&bad_flag)
    );
}

#[test]
fn a_rule_that_reads_across_accounts_makes_the_run_read_the_book_whole() {
    let out = tempfile::tempdir().unwrap();
    let snapshot = generated_snapshot(out.path());
    std::fs::write(
        out.path().join("desk.toml"),
        r#"[pack]
id = "desk"
version = "1"

[[rule]]
id = "symbol-held-by-many"
title = "A symbol held in more than two accounts"
severity = "info"
query = """
SELECT p.broker, p.account_id, p.symbol, h.holders
FROM positions p
JOIN (SELECT symbol, COUNT(*) AS holders FROM positions GROUP BY symbol) h ON p.symbol = h.symbol
WHERE h.holders > 2
"""
message = "{symbol} is held in {holders} positions of the book"
"#,
    )
    .unwrap();
    let run = common::recon_in(
        out.path(),
        &[
            "check",
            "--snapshot",
            snapshot.to_str().unwrap(),
            "--pack",
            "desk.toml",
            "--chunk-accounts",
            "1",
            "--out",
            "desk",
        ],
        &[],
    );
    let log = common::text(&run);
    assert!(run.status.code().is_some_and(|c| c <= 2), "{log}");
    assert!(
        log.contains("symbol-held-by-many") && log.contains("the whole book is read at once"),
        "{log}"
    );
    // Read whole, the group-by sees every account: some symbol is held more than twice.
    let (findings, _, _) = outcome(&common::latest_run(&out.path().join("desk")));
    assert!(
        findings.iter().any(|f| f.contains("symbol-held-by-many")),
        "{findings:?}"
    );
}
