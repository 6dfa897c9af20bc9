//! The column types of every canonical frame. Amounts, prices, quantities and multipliers are
//! `Decimal(38, 8)`: exact, and rounded half-even only past 8 decimals. Timestamps are UTC
//! microseconds; dates are calendar days.

use crate::exact::{PRECISION, SCALE, to_units};
use chrono::{DateTime, NaiveDate, Utc};
use polars::prelude::*;
use rust_decimal::Decimal;

/// The dtype of every money, price, quantity and multiplier column.
pub fn money_dtype() -> DataType {
    DataType::Decimal(PRECISION, SCALE as usize)
}

pub fn text<'a>(name: &str, values: impl Iterator<Item = Option<&'a str>>) -> Column {
    StringChunked::from_iter_options(name.into(), values).into_column()
}

pub fn flag(name: &str, values: impl Iterator<Item = Option<bool>>) -> Column {
    BooleanChunked::from_iter_options(name.into(), values).into_column()
}

pub fn money(name: &str, values: impl Iterator<Item = Option<Decimal>>) -> Column {
    money_units(name, values.map(|v| v.map(to_units)))
}

/// A money column from values already in the frame's units (`exact::to_units`).
pub fn money_units(name: &str, units: impl IntoIterator<Item = Option<i128>>) -> Column {
    Int128Chunked::from_iter_options(name.into(), units.into_iter())
        .into_decimal_unchecked(PRECISION, SCALE as usize)
        .into_column()
}

pub fn date(name: &str, values: impl Iterator<Item = Option<NaiveDate>>) -> Column {
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid date");
    Int32Chunked::from_iter_options(
        name.into(),
        values.map(|v| v.map(|d| (d - epoch).num_days() as i32)),
    )
    .into_date()
    .into_column()
}

pub fn timestamp(name: &str, values: impl Iterator<Item = Option<DateTime<Utc>>>) -> Column {
    Int64Chunked::from_iter_options(name.into(), values.map(|v| v.map(|t| t.timestamp_micros())))
        .into_datetime(TimeUnit::Microseconds, None)
        .into_column()
}
