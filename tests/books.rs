//! The brokers against the firm's book of record, end to end: the demo's snapshot, a CSV
//! book written from its own positions with one planted break of each kind and near misses
//! (lots split differently, a price inside tolerance, a symbol spelled another way), and
//! `recon check` under a config naming the book. The `books` pack must find exactly the
//! planted breaks.

mod common;

use common::*;
use polars::prelude::*;
use recon_model::instrument_key::instrument_key;
use recon_normalize::exact::from_units;
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
    let n = recon_normalize::normalize_snapshot(snapshot, None).unwrap();
    let p = &n.frames.positions;
    let rows = (0..p.height())
        .map(|i| Pos {
            broker: text_at(p, "broker", i),
            account: text_at(p, "account_id", i),
            symbol: text_at(p, "symbol", i),
            quantity: dec(p, "quantity", i).unwrap(),
            mark: dec(p, "mark", i),
            market_value: dec(p, "market_value", i),
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

fn csv_row(
    out: &mut String,
    p: &Pos,
    symbol: &str,
    quantity: Decimal,
    price: Option<Decimal>,
    value: Option<Decimal>,
) {
    let show = |d: Option<Decimal>| d.map(|d| d.to_string()).unwrap_or_default();
    let _ = writeln!(
        out,
        "{},{},{},{},{},{}",
        p.broker,
        p.account,
        symbol,
        quantity,
        show(price),
        show(value)
    );
}

#[test]
fn the_books_pack_finds_exactly_the_planted_breaks() {
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

    let mut book = String::from("broker,account,symbol,quantity,price,market_value\n");
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
            _ => csv_row(&mut book, p, &p.symbol, p.quantity, p.mark, p.market_value),
        }
    }
    let (broker, account, _) = plantable[0].clone();
    // Booked, but not at the broker.
    let _ = writeln!(book, "{broker},{account},ZZZQ,7,,");
    expected.insert((
        "broker-position-missing".into(),
        account.clone(),
        "EQ:ZZZQ".into(),
    ));
    // A row that cannot be read.
    let _ = writeln!(book, "{broker},{account},AAPL,seven,,");
    expected.insert((
        "book-row-quarantined".into(),
        account.clone(),
        String::new(),
    ));

    // Cash 10.00 off: a break (the tolerance is 1.00).
    let broker_cash = cash[&(broker.clone(), account.clone())];
    let cash_csv = format!(
        "broker,account,currency,amount\n{broker},{account},USD,{}\n",
        broker_cash + Decimal::new(1000, 2)
    );
    expected.insert(("book-cash-break".into(), account.clone(), String::new()));

    std::fs::write(dir.path().join("book.csv"), &book).unwrap();
    std::fs::write(dir.path().join("cash.csv"), &cash_csv).unwrap();
    std::fs::write(
        dir.path().join("recon.toml"),
        "[books.oms]\npositions = \"book.csv\"\ncash = \"cash.csv\"\n",
    )
    .unwrap();
    let check = recon_in(
        dir.path(),
        &[
            "check",
            "--snapshot",
            snapshot.to_str().unwrap(),
            "--out",
            "out",
        ],
        &[],
    );
    assert!(
        check.status.code().is_some_and(|c| c <= 2),
        "{}",
        text(&check)
    );
    let run_dir = latest_run(&dir.path().join("out"));
    let got: BTreeSet<(String, String, String)> =
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
            .collect();
    assert_eq!(got, expected, "{book}");
    // The core pack still ran beside it.
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run_dir.join("summary.json")).unwrap()).unwrap();
    let packs: Vec<&str> = summary["packs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(packs, ["core", "books"]);

    // A book of another day is refused by name: exit 3, nothing compared.
    std::fs::write(
        dir.path().join("book.csv"),
        format!("broker,account,symbol,quantity,as_of\n{broker},{account},AAPL,1,2026-11-19\n"),
    )
    .unwrap();
    let refused = recon_in(
        dir.path(),
        &[
            "check",
            "--snapshot",
            snapshot.to_str().unwrap(),
            "--out",
            "out2",
        ],
        &[],
    );
    assert_eq!(refused.status.code(), Some(3), "{}", text(&refused));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("book `oms`"));
}
