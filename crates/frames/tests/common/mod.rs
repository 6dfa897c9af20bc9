//! Helpers the normalize tests share: reading single cells of a frame.
#![allow(dead_code)]

use polars::prelude::*;
use recon_frames::exact::from_units;
use rust_decimal::Decimal;
use std::path::{Path, PathBuf};

pub fn dec_at(df: &DataFrame, column: &str, row: usize) -> Option<Decimal> {
    match df.column(column).unwrap().get(row).unwrap() {
        AnyValue::Decimal(v, _, s) => from_units(v, s),
        AnyValue::Null => None,
        other => panic!("{column}: {other:?}"),
    }
}

pub fn str_at(df: &DataFrame, column: &str, row: usize) -> Option<String> {
    match df.column(column).unwrap().get(row).unwrap() {
        AnyValue::String(s) => Some(s.to_string()),
        AnyValue::StringOwned(s) => Some(s.to_string()),
        AnyValue::Null => None,
        other => panic!("{column}: {other:?}"),
    }
}

pub fn row_of(df: &DataFrame, column: &str, value: &str) -> usize {
    (0..df.height())
        .find(|&i| str_at(df, column, i).as_deref() == Some(value))
        .unwrap_or_else(|| panic!("no row with {column} = {value}"))
}

/// A fixture folder under the repository's `fixtures/`.
pub fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures")
        .join(rel)
}

/// Every quarantine reason, with its source and pointer.
pub fn quarantine(df: &DataFrame) -> Vec<(String, String, String)> {
    (0..df.height())
        .map(|i| {
            (
                str_at(df, "source", i).unwrap_or_default(),
                str_at(df, "pointer", i).unwrap_or_default(),
                str_at(df, "reason", i).unwrap_or_default(),
            )
        })
        .collect()
}
