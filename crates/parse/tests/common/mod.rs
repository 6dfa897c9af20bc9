//! Helpers the parser tests share: a snapshot read into canonical rows, each kind of row
//! as a table of named cells (the field names are the frame column names, DESIGN.md), so a
//! broker's recorded bytes are asserted cell by cell without building polars frames (this
//! crate has no polars, on purpose: see Cargo.toml).
#![allow(dead_code)]

use recon_parse::snapshot::{SnapshotError, read_snapshot};
use rust_decimal::Decimal;
use serde_json::{Map, Value};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// Rows of one kind, each a map from column name to cell.
#[derive(Debug)]
pub struct Table(Vec<Map<String, Value>>);

impl Table {
    fn of<T: serde::Serialize>(rows: &[T]) -> Table {
        Table(
            rows.iter()
                .map(|r| match serde_json::to_value(r).unwrap() {
                    Value::Object(m) => m,
                    other => panic!("a row is an object: {other}"),
                })
                .collect(),
        )
    }

    pub fn height(&self) -> usize {
        self.0.len()
    }

    fn cell(&self, column: &str, row: usize) -> &Value {
        let r = &self.0[row];
        r.get(column)
            .unwrap_or_else(|| panic!("no column {column} in {:?}", r.keys().collect::<Vec<_>>()))
    }
}

impl std::fmt::Display for Table {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for row in &self.0 {
            writeln!(f, "{}", Value::Object(row.clone()))?;
        }
        Ok(())
    }
}

/// Every kind of row a snapshot gives, as tables.
#[derive(Debug)]
pub struct Rows {
    pub accounts: Table,
    pub balances: Table,
    pub positions: Table,
    pub pnl: Table,
    pub quarantine: Table,
    pub fetch_errors: Table,
}

/// A snapshot read: its rows, and what was incomplete.
#[derive(Debug)]
pub struct Read {
    pub rows: Rows,
    pub as_of: chrono::NaiveDate,
    pub incomplete: BTreeSet<(String, String)>,
    pub fetch_errors: Vec<(String, recon_model::manifest::FetchErrorRecord)>,
}

/// `recon_parse::snapshot::read_snapshot`, its rows as tables.
pub fn read_rows(dir: &Path, as_of: Option<chrono::NaiveDate>) -> Result<Read, SnapshotError> {
    let read = read_snapshot(dir, as_of)?;
    let book = &read.book();
    let fetch_errors = Table(
        read.fetch_errors
            .iter()
            .map(|(broker, e)| {
                let mut m = Map::new();
                m.insert("broker".into(), broker.clone().into());
                m.insert("account_id".into(), e.account.clone().into());
                m.insert("endpoint".into(), e.endpoint.clone().into());
                m.insert("error".into(), e.error.clone().into());
                m
            })
            .collect(),
    );
    Ok(Read {
        rows: Rows {
            accounts: Table::of(&book.accounts),
            balances: Table::of(&book.balances),
            positions: Table::of(&book.positions),
            pnl: Table::of(&book.pnl),
            quarantine: Table::of(&book.quarantine),
            fetch_errors,
        },
        as_of: read.as_of,
        incomplete: read.incomplete,
        fetch_errors: read.fetch_errors,
    })
}

pub fn dec_at(t: &Table, column: &str, row: usize) -> Option<Decimal> {
    match t.cell(column, row) {
        Value::Null => None,
        Value::String(s) => Some(Decimal::from_str(s).unwrap()),
        other => panic!("{column} is not a decimal: {other}"),
    }
}

pub fn str_at(t: &Table, column: &str, row: usize) -> Option<String> {
    match t.cell(column, row) {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => panic!("{column} is not text: {other}"),
    }
}

pub fn bool_at(t: &Table, column: &str, row: usize) -> Option<bool> {
    t.cell(column, row).as_bool()
}

pub fn row_of(t: &Table, column: &str, value: &str) -> usize {
    (0..t.height())
        .find(|&i| str_at(t, column, i).as_deref() == Some(value))
        .unwrap_or_else(|| panic!("no row with {column} = {value}"))
}

/// A fixture folder under the repository's `fixtures/`.
pub fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures")
        .join(rel)
}

/// Every quarantine reason, with its source and pointer.
pub fn quarantine(t: &Table) -> Vec<(String, String, String)> {
    (0..t.height())
        .map(|i| {
            (
                str_at(t, "source", i).unwrap_or_default(),
                str_at(t, "pointer", i).unwrap_or_default(),
                str_at(t, "reason", i).unwrap_or_default(),
            )
        })
        .collect()
}
