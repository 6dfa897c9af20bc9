//! Generated books through the whole pipeline (simulator → HTTP and gRPC fetch from all five
//! brokers → snapshot → normalize → rules): every planted break is found, nothing else is,
//! and near misses never fire. Since each broker renders the same book in its own wire
//! format, this is also the property that normalize gives back the book exactly: a value,
//! sign, multiplier or expiry read wrong anywhere shows up as a finding nobody planted.

mod common;

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

/// A generated book of 1,000 accounts and its book of record (recon_sim::record) with a
/// planted break of every `books` rule on 5% of the accounts and near misses on as many
/// (a lot split otherwise, a price inside tolerance, cash 1.00 off, symbols spelled as the
/// firm's system spells them, an E*TRADE equity under a former ticker with its CUSIP): the
/// `books` pack finds exactly the planted breaks, read from
/// CSV, from Parquet with other headers, and from a PostgreSQL server.
#[test]
fn a_generated_book_of_record_gives_exactly_its_planted_breaks_from_every_source() {
    use recon::config::BookConfig;
    use std::collections::BTreeMap;
    let spec = GenSpec::new(21, 1000, 4, as_of());
    let (book, core_expected) = generate(&spec);
    assert!(core_expected.is_empty(), "a consistent broker book");
    let record = recon_sim::record::book_of_record(&book, 21, 0.05);
    let planted: BTreeSet<Expected> = record.expected.iter().cloned().collect();
    let kinds: BTreeSet<&str> = planted.iter().map(|e| e.rule.as_str()).collect();
    assert_eq!(kinds.len(), 7, "every kind of break is planted: {kinds:?}");
    let renamed = record
        .positions
        .iter()
        .filter(|l| l.broker == "etrade" && l.symbol.starts_with('X') && l.cusip.is_some())
        .count();
    assert!(
        renamed > 0,
        "an E*TRADE equity is booked under a former ticker"
    );

    let out = tempfile::tempdir().unwrap();
    let dir = out.path().join("record");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("positions.csv"), record.positions_csv()).unwrap();
    std::fs::write(dir.join("cash.csv"), record.cash_csv()).unwrap();
    let books = BTreeMap::from([(
        "oms".to_string(),
        BookConfig::files(dir.join("positions.csv"), Some(dir.join("cash.csv"))),
    )]);
    let result = recon::demo::run_book_with(
        book,
        &DemoOptions {
            out_dir: out.path().to_path_buf(),
            as_of: None,
            fail_on: Severity::Error,
        },
        books,
    )
    .unwrap();
    let books_findings = |findings: &[Finding]| -> BTreeSet<Expected> {
        findings
            .iter()
            .filter(|f| f.pack == "books")
            .map(as_expected)
            .collect()
    };
    let same = |got: BTreeSet<Expected>, source: &str| {
        let missing: Vec<_> = planted.difference(&got).collect();
        let unexpected: Vec<_> = got.difference(&planted).collect();
        assert!(
            missing.is_empty() && unexpected.is_empty(),
            "{source}: missing: {missing:#?}\nunexpected: {unexpected:#?}"
        );
    };
    same(books_findings(&result.run.findings), "csv");

    // The same snapshot checked against the same book held otherwise.
    let snapshot = result.run.output.dir.join("snapshot");
    let check = |config: &str, env: &[(&str, &str)], name: &str| -> BTreeSet<Expected> {
        std::fs::write(dir.join(format!("{name}.toml")), config).unwrap();
        let cfg = dir.join(format!("{name}.toml")).display().to_string();
        let run = common::recon_in(
            &dir,
            &[
                "check",
                "--snapshot",
                snapshot.to_str().unwrap(),
                "--config",
                &cfg,
                "--out",
                name,
            ],
            env,
        );
        assert!(
            run.status.code().is_some_and(|c| c <= 2),
            "{}",
            common::text(&run)
        );
        std::fs::read_to_string(common::latest_run(&dir.join(name)).join("findings.jsonl"))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str::<Finding>(l).unwrap())
            .filter(|f| f.pack == "books")
            .map(|f| as_expected(&f))
            .collect()
    };

    // Parquet, with the firm's own headers mapped in config.
    use polars::prelude::*;
    let show = |d: Option<rust_decimal::Decimal>| d.map(|d| d.to_string()).unwrap_or_default();
    let p = &record.positions;
    let mut df = df!(
        "Custodian" => p.iter().map(|l| l.broker.clone()).collect::<Vec<_>>(),
        "Acct" => p.iter().map(|l| l.account.clone()).collect::<Vec<_>>(),
        "Ticker" => p.iter().map(|l| l.symbol.clone()).collect::<Vec<_>>(),
        "Qty" => p.iter().map(|l| l.quantity.to_string()).collect::<Vec<_>>(),
        "Px" => p.iter().map(|l| show(l.price)).collect::<Vec<_>>(),
        "MV" => p.iter().map(|l| show(l.market_value)).collect::<Vec<_>>(),
        "CUSIP" => p.iter().map(|l| l.cusip.clone()).collect::<Vec<_>>(),
    )
    .unwrap();
    ParquetWriter::new(std::fs::File::create(dir.join("positions.parquet")).unwrap())
        .finish(&mut df)
        .unwrap();
    let parquet = "[books.pms]\npositions = \"positions.parquet\"\ncash = \"cash.csv\"\n\
        [books.pms.columns]\nbroker = \"Custodian\"\naccount = \"Acct\"\nsymbol = \"Ticker\"\n\
        quantity = \"Qty\"\nprice = \"Px\"\nmarket_value = \"MV\"\ncusip = \"CUSIP\"\n";
    same(check(parquet, &[], "parquet"), "parquet");

    // PostgreSQL: a server this test starts, NUMERIC columns.
    let Some(server) = common::Postgres::start() else {
        return;
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let client = server.client().await;
        let quote = |s: &str| format!("'{}'", s.replace('\'', "''"));
        let num =
            |d: Option<rust_decimal::Decimal>| d.map_or("NULL".to_string(), |d| d.to_string());
        let mut sql = String::from(
            "CREATE TABLE positions (broker text, account text, symbol text, quantity numeric, \
               price numeric, market_value numeric, cusip text);\
             CREATE TABLE cash (broker text, account text, currency text, amount numeric);",
        );
        for chunk in record.positions.chunks(500) {
            let rows: Vec<String> = chunk
                .iter()
                .map(|l| {
                    format!(
                        "({}, {}, {}, {}, {}, {}, {})",
                        quote(&l.broker),
                        quote(&l.account),
                        quote(&l.symbol),
                        l.quantity,
                        num(l.price),
                        num(l.market_value),
                        l.cusip.as_deref().map_or("NULL".to_string(), quote)
                    )
                })
                .collect();
            sql.push_str(&format!("INSERT INTO positions VALUES {};", rows.join(",")));
        }
        let rows: Vec<String> = record
            .cash
            .iter()
            .map(|c| {
                format!(
                    "({}, {}, {}, {})",
                    quote(&c.broker),
                    quote(&c.account),
                    quote(&c.currency),
                    c.amount
                )
            })
            .collect();
        sql.push_str(&format!("INSERT INTO cash VALUES {};", rows.join(",")));
        client.batch_execute(&sql).await.unwrap();
    });
    let pg = "[books.ledger]\nsource = \"postgres\"\n\
        positions_query = \"SELECT * FROM positions\"\ncash_query = \"SELECT * FROM cash\"\n";
    let url = server.url();
    same(
        check(pg, &[("RECON_BOOKS__LEDGER__URL", &url)], "postgres"),
        "postgres",
    );
}
