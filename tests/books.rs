//! The brokers against the firm's book of record, end to end: the demo's snapshot, a CSV
//! book written from its own positions with one planted break of each kind and near misses
//! (lots split differently, a price inside tolerance, a symbol spelled another way, an
//! E*TRADE equity booked under a former ticker that only its CUSIP matches), and `recon
//! check` under a config naming the book, held three ways: a CSV file with CUSIPs, a
//! Parquet file with other headers and ISINs, and a PostgreSQL server the test starts on
//! 127.0.0.1. The `books` pack must find exactly the planted breaks from each.

mod common;

use common::*;
use polars::prelude::*;
use recon_frames::exact::from_units;
use recon_model::instrument_key::instrument_key;
use rust_decimal::Decimal;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::Path;

#[derive(Debug, Clone)]
struct Pos {
    broker: String,
    account: String,
    symbol: String,
    quantity: Decimal,
    mark: Option<Decimal>,
    market_value: Option<Decimal>,
    cusip: Option<String>,
}

fn dec(df: &DataFrame, column: &str, i: usize) -> Option<Decimal> {
    match df.column(column).unwrap().get(i).unwrap() {
        AnyValue::Decimal(v, _, s) => from_units(v, s),
        _ => None,
    }
}

fn text_at(df: &DataFrame, column: &str, i: usize) -> String {
    df.column(column)
        .unwrap()
        .str()
        .unwrap()
        .get(i)
        .unwrap_or_default()
        .to_string()
}

fn positions(
    snapshot: &Path,
) -> (
    Vec<Pos>,
    BTreeMap<(String, String), Decimal>,
    chrono::NaiveDate,
) {
    let n = recon_frames::normalize_snapshot(snapshot, None).unwrap();
    let p = &n.frames.positions;
    let rows = (0..p.height())
        .map(|i| Pos {
            broker: text_at(p, "broker", i),
            account: text_at(p, "account_id", i),
            symbol: text_at(p, "symbol", i),
            quantity: dec(p, "quantity", i).unwrap(),
            mark: dec(p, "mark", i),
            market_value: dec(p, "market_value", i),
            cusip: Some(text_at(p, "cusip", i)).filter(|c| !c.is_empty()),
        })
        .collect();
    let b = &n.frames.balances;
    let cash = (0..b.height())
        .filter(|&i| text_at(b, "currency", i) == "USD")
        .filter_map(|i| {
            dec(b, "cash", i).map(|c| ((text_at(b, "broker", i), text_at(b, "account_id", i)), c))
        })
        .collect();
    (rows, cash, n.as_of)
}

/// One line of the book of record, whatever holds it (CSV, Parquet, PostgreSQL).
#[derive(Debug, Clone)]
struct BookLine {
    broker: String,
    account: String,
    symbol: String,
    /// Text: the book may hold something that is not a number.
    quantity: String,
    price: Option<Decimal>,
    market_value: Option<Decimal>,
    cusip: Option<String>,
}

fn csv_row(
    out: &mut Vec<BookLine>,
    p: &Pos,
    symbol: &str,
    quantity: Decimal,
    price: Option<Decimal>,
    value: Option<Decimal>,
) {
    out.push(BookLine {
        broker: p.broker.clone(),
        account: p.account.clone(),
        symbol: symbol.to_string(),
        quantity: quantity.to_string(),
        price,
        market_value: value,
        cusip: p.cusip.clone(),
    });
}

/// The demo's snapshot, a book of record of its positions with the planted breaks, its
/// cash line (broker, account, amount), and the findings the books pack must give.
struct Planted {
    dir: tempfile::TempDir,
    snapshot: std::path::PathBuf,
    book: Vec<BookLine>,
    cash: (String, String, Decimal),
    expected: BTreeSet<(String, String, String)>,
}

fn planted() -> Planted {
    let dir = tempfile::tempdir().unwrap();
    let run = recon_in(dir.path(), &["demo", "--out", "demo"], &[]);
    assert_eq!(run.status.code(), Some(1), "{}", text(&run));
    let snapshot = latest_run(&dir.path().join("demo")).join("snapshot");
    let (all, cash, as_of) = positions(&snapshot);

    // Every account goes into the book. The planted changes go on positions that have a
    // quantity, a mark and a value and are one lot in their account (so a change is the
    // only change), spread over the accounts in order.
    let mut by_account: BTreeMap<(String, String), Vec<Pos>> = BTreeMap::new();
    for p in &all {
        by_account
            .entry((p.broker.clone(), p.account.clone()))
            .or_default()
            .push(p.clone());
    }
    let key = |p: &Pos| instrument_key(&p.symbol, as_of);
    let mut plantable: Vec<(String, String, String)> = Vec::new();
    for ((broker, account), lots) in &by_account {
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        for p in lots {
            *counts.entry(key(p)).or_default() += 1;
        }
        for p in lots {
            if !p.quantity.is_zero()
                && p.mark.is_some()
                && p.market_value.is_some()
                && counts[&key(p)] == 1
            {
                plantable.push((broker.clone(), account.clone(), p.symbol.clone()));
            }
        }
    }
    assert!(plantable.len() >= 6, "{plantable:?}");
    let kind_of = |p: &Pos| {
        plantable
            .iter()
            .take(6)
            .position(|(b, a, s)| *b == p.broker && *a == p.account && *s == p.symbol)
    };

    // The near miss only a CUSIP resolves: an E*TRADE equity (the broker that states
    // CUSIPs) booked under a former ticker.
    let renamed = all
        .iter()
        .find(|p| p.cusip.is_some() && kind_of(p).is_none() && !p.quantity.is_zero())
        .map(|p| (p.account.clone(), p.symbol.clone()))
        .expect("the demo's E*TRADE equities state their CUSIPs");

    let mut book: Vec<BookLine> = Vec::new();
    let mut expected: BTreeSet<(String, String, String)> = BTreeSet::new();
    for p in &all {
        let mut expect = |rule: &str| {
            expected.insert((rule.to_string(), p.account.clone(), key(p)));
        };
        match kind_of(p) {
            // The broker holds it, the books do not.
            Some(0) => expect("book-position-missing"),
            // One more in the books (same side).
            Some(1) => {
                let one = if p.quantity.is_sign_negative() {
                    -Decimal::ONE
                } else {
                    Decimal::ONE
                };
                csv_row(
                    &mut book,
                    p,
                    &p.symbol,
                    p.quantity + one,
                    p.mark,
                    p.market_value,
                );
                expect("book-quantity-break");
            }
            // Long on one side, short on the other.
            Some(2) => {
                csv_row(&mut book, p, &p.symbol, -p.quantity, p.mark, p.market_value);
                expect("book-sign-break");
            }
            // A price off by a whole unit: beyond every class's tolerance.
            Some(3) => {
                csv_row(
                    &mut book,
                    p,
                    &p.symbol,
                    p.quantity,
                    p.mark.map(|m| m + Decimal::ONE),
                    p.market_value,
                );
                expect("book-price-break");
            }
            // A value off beyond max(5.00, 0.001 × value) whatever its size.
            Some(4) => {
                let value = p
                    .market_value
                    .map(|v| v + v.abs() / Decimal::TEN + Decimal::from(1000));
                csv_row(&mut book, p, &p.symbol, p.quantity, p.mark, value);
                expect("book-value-break");
            }
            // Near misses: the lot split in two rows, a price inside the tolerance, and the
            // symbol spelled in lower case.
            Some(5) => {
                let half = (p.quantity / Decimal::TWO).trunc();
                let rest = p.quantity - half;
                let price = p.mark.map(|m| m + Decimal::new(5, 3));
                csv_row(&mut book, p, &p.symbol.to_lowercase(), half, price, None);
                csv_row(&mut book, p, &p.symbol, rest, price, None);
            }
            _ if (&p.account, &p.symbol) == (&renamed.0, &renamed.1) => {
                let former = format!("X{}", p.symbol);
                csv_row(&mut book, p, &former, p.quantity, p.mark, p.market_value);
            }
            _ => csv_row(&mut book, p, &p.symbol, p.quantity, p.mark, p.market_value),
        }
    }
    let (broker, account, _) = plantable[0].clone();
    // Booked, but not at the broker.
    let line = |symbol: &str, quantity: &str| BookLine {
        broker: broker.clone(),
        account: account.clone(),
        symbol: symbol.into(),
        quantity: quantity.into(),
        price: None,
        market_value: None,
        cusip: None,
    };
    book.push(line("ZZZQ", "7"));
    expected.insert((
        "broker-position-missing".into(),
        account.clone(),
        "EQ:ZZZQ".into(),
    ));
    // A row that cannot be read.
    book.push(line("AAPL", "seven"));
    expected.insert((
        "book-row-quarantined".into(),
        account.clone(),
        String::new(),
    ));

    // Cash 10.00 off: a break (the tolerance is 1.00).
    let broker_cash = cash[&(broker.clone(), account.clone())];
    expected.insert(("book-cash-break".into(), account.clone(), String::new()));
    Planted {
        dir,
        snapshot,
        book,
        cash: (broker, account, broker_cash + Decimal::new(1000, 2)),
        expected,
    }
}

/// `recon check` of the planted snapshot under `config` (and `env`): the books findings.
fn check_with(
    p: &Planted,
    config: &str,
    env: &[(&str, &str)],
) -> BTreeSet<(String, String, String)> {
    std::fs::write(p.dir.path().join("recon.toml"), config).unwrap();
    let out = format!("out-{}", uuid_like());
    let check = recon_in(
        p.dir.path(),
        &[
            "check",
            "--snapshot",
            p.snapshot.to_str().unwrap(),
            "--out",
            &out,
        ],
        env,
    );
    assert!(
        check.status.code().is_some_and(|c| c <= 2),
        "{}",
        text(&check)
    );
    let run_dir = latest_run(&p.dir.path().join(&out));
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run_dir.join("summary.json")).unwrap()).unwrap();
    let packs: Vec<&str> = summary["packs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        packs,
        ["core", "books"],
        "the core pack still runs beside it"
    );
    std::fs::read_to_string(run_dir.join("findings.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|f| f["pack"] == "books")
        .map(|f| {
            (
                f["rule"].as_str().unwrap().to_string(),
                f["account"].as_str().unwrap_or_default().to_string(),
                f["position"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

fn uuid_like() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed).to_string()
}

fn show(d: Option<Decimal>) -> String {
    d.map(|d| d.to_string()).unwrap_or_default()
}

fn write_csv(p: &Planted) {
    let mut csv = String::from("broker,account,symbol,quantity,price,market_value,cusip\n");
    for l in &p.book {
        let _ = writeln!(
            csv,
            "{},{},{},{},{},{},{}",
            l.broker,
            l.account,
            l.symbol,
            l.quantity,
            show(l.price),
            show(l.market_value),
            l.cusip.as_deref().unwrap_or_default()
        );
    }
    std::fs::write(p.dir.path().join("book.csv"), csv).unwrap();
    let (b, a, amount) = &p.cash;
    std::fs::write(
        p.dir.path().join("cash.csv"),
        format!("broker,account,currency,amount\n{b},{a},USD,{amount}\n"),
    )
    .unwrap();
}

#[test]
fn the_books_pack_finds_exactly_the_planted_breaks_in_a_csv_book() {
    let p = planted();
    write_csv(&p);
    let got = check_with(
        &p,
        "[books.oms]\npositions = \"book.csv\"\ncash = \"cash.csv\"\n",
        &[],
    );
    assert_eq!(got, p.expected);

    // A book of another day is refused by name: exit 3, nothing compared.
    let (b, a, _) = &p.cash;
    std::fs::write(
        p.dir.path().join("book.csv"),
        format!("broker,account,symbol,quantity,as_of\n{b},{a},AAPL,1,2026-11-19\n"),
    )
    .unwrap();
    let refused = recon_in(
        p.dir.path(),
        &[
            "check",
            "--snapshot",
            p.snapshot.to_str().unwrap(),
            "--out",
            "refused",
        ],
        &[],
    );
    assert_eq!(refused.status.code(), Some(3), "{}", text(&refused));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("book `oms`"));

    // So is the export for Spark, before it writes anything.
    let export = recon_in(
        p.dir.path(),
        &[
            "export",
            "--snapshot",
            p.snapshot.to_str().unwrap(),
            "--out",
            "frames",
        ],
        &[],
    );
    assert_eq!(export.status.code(), Some(3), "{}", text(&export));
    assert!(String::from_utf8_lossy(&export.stderr).contains("book `oms`"));
    assert!(!p.dir.path().join("frames").exists());
    assert!(!p.dir.path().join(".frames.partial").exists());
}

#[test]
fn the_books_pack_finds_exactly_the_planted_breaks_in_a_parquet_book_with_other_headers() {
    let p = planted();
    let col = |f: &dyn Fn(&BookLine) -> String| -> Vec<String> { p.book.iter().map(f).collect() };
    let mut df = df!(
        "Custodian" => col(&|l| l.broker.clone()),
        "Acct" => col(&|l| l.account.clone()),
        "Ticker" => col(&|l| l.symbol.clone()),
        "Qty" => col(&|l| l.quantity.clone()),
        "Px" => col(&|l| show(l.price)),
        "MV" => col(&|l| show(l.market_value)),
        // The ISIN of a US security: "US", its CUSIP, and a check digit.
        "ISIN" => col(&|l| l
            .cusip
            .as_deref()
            .map(|c| isin::build_from_parts("US", c).unwrap().to_string())
            .unwrap_or_default()),
    )
    .unwrap();
    let path = p.dir.path().join("book.parquet");
    ParquetWriter::new(std::fs::File::create(&path).unwrap())
        .finish(&mut df)
        .unwrap();
    let (b, a, amount) = &p.cash;
    std::fs::write(
        p.dir.path().join("cash.csv"),
        format!("broker,account,currency,amount\n{b},{a},USD,{amount}\n"),
    )
    .unwrap();
    let config = "[books.pms]\npositions = \"book.parquet\"\ncash = \"cash.csv\"\n\
                  [books.pms.columns]\nbroker = \"Custodian\"\naccount = \"Acct\"\nsymbol = \"Ticker\"\n\
                  quantity = \"Qty\"\nprice = \"Px\"\nmarket_value = \"MV\"\nisin = \"ISIN\"\n";
    assert_eq!(check_with(&p, config, &[]), p.expected);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_books_pack_finds_exactly_the_planted_breaks_in_a_postgresql_book() {
    let Some(server) = tokio::task::spawn_blocking(Postgres::start).await.unwrap() else {
        return;
    };
    let p = tokio::task::spawn_blocking(planted).await.unwrap();
    let client = server.client().await;
    client
        .batch_execute(
            "CREATE TABLE positions (broker text, account text, symbol text, quantity text, \
               price numeric(38, 8), market_value numeric(38, 8), as_of date, cusip text);\
             CREATE TABLE cash (broker text, account text, currency text, amount numeric(38, 8), as_of date);",
        )
        .await
        .unwrap();
    let as_of = chrono::NaiveDate::from_ymd_opt(2026, 11, 20).unwrap();
    for l in &p.book {
        client
            .execute(
                "INSERT INTO positions VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                &[
                    &l.broker,
                    &l.account,
                    &l.symbol,
                    &l.quantity,
                    &l.price,
                    &l.market_value,
                    &as_of,
                    &l.cusip,
                ],
            )
            .await
            .unwrap();
    }
    // A row of another day is not selected: the query takes the business date.
    client
        .execute(
            "INSERT INTO positions VALUES ('tradezero', 'TZ10000001', 'NVDA', '5', 1, 1, '2026-11-19', NULL)",
            &[],
        )
        .await
        .unwrap();
    let (b, a, amount) = &p.cash;
    client
        .execute(
            "INSERT INTO cash VALUES ($1, $2, 'USD', $3, $4)",
            &[b, a, amount, &as_of],
        )
        .await
        .unwrap();
    let config = "[books.ledger]\nsource = \"postgres\"\n\
        positions_query = \"SELECT broker, account, symbol, quantity, price, market_value, cusip FROM positions WHERE as_of = $1\"\n\
        cash_query = \"SELECT broker, account, currency, amount FROM cash WHERE as_of = $1\"\n";
    let url = server.url();
    let got = tokio::task::spawn_blocking({
        let config = config.to_string();
        move || {
            let got = check_with(&p, &config, &[("RECON_BOOKS__LEDGER__URL", &url)]);
            (got, p)
        }
    })
    .await
    .unwrap();
    assert_eq!(got.0, got.1.expected);

    // Without the connection string: refused, naming the variable, exit 3.
    let p = got.1;
    std::fs::write(p.dir.path().join("recon.toml"), config).unwrap();
    let missing = recon_in(
        p.dir.path(),
        &[
            "check",
            "--snapshot",
            p.snapshot.to_str().unwrap(),
            "--out",
            "nourl",
        ],
        &[],
    );
    assert_eq!(missing.status.code(), Some(3), "{}", text(&missing));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("RECON_BOOKS__LEDGER__URL"));
}
