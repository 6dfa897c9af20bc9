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

// Each column built by its row builder below, so that each type's conversion is written once.

pub fn text<'a>(name: &str, values: impl Iterator<Item = Option<&'a str>>) -> Column {
    let mut column = TextColumn::new(name, values.size_hint().0);
    values.for_each(|v| column.push(v));
    column.finish()
}

pub fn flag(name: &str, values: impl Iterator<Item = Option<bool>>) -> Column {
    let mut column = FlagColumn::new(name, values.size_hint().0);
    values.for_each(|v| column.push(v));
    column.finish()
}

pub fn money(name: &str, values: impl Iterator<Item = Option<Decimal>>) -> Column {
    money_units(name, values.map(|v| v.map(to_units)))
}

/// A money column from values already in the frame's units (`exact::to_units`).
pub fn money_units(name: &str, units: impl IntoIterator<Item = Option<i128>>) -> Column {
    let units = units.into_iter();
    let mut column = MoneyColumn::new(name, units.size_hint().0);
    units.for_each(|u| column.push_units(u));
    column.finish()
}

pub fn date(name: &str, values: impl Iterator<Item = Option<NaiveDate>>) -> Column {
    let mut column = DateColumn::new(name, values.size_hint().0);
    values.for_each(|v| column.push(v));
    column.finish()
}

pub fn timestamp(name: &str, values: impl Iterator<Item = Option<DateTime<Utc>>>) -> Column {
    let mut column = TimestampColumn::new(name, values.size_hint().0);
    values.for_each(|v| column.push(v));
    column.finish()
}

fn epoch_days(d: NaiveDate) -> i32 {
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid date");
    (d - epoch).num_days() as i32
}

/// Columns written a row at a time, each with its frame type: a frame whose rows are wide
/// structs is built in one pass over them, each row read from memory once (a pass per
/// column read every row again for each column).
pub struct TextColumn(StringChunkedBuilder);

impl TextColumn {
    pub fn new(name: &str, rows: usize) -> Self {
        TextColumn(StringChunkedBuilder::new(name.into(), rows))
    }

    pub fn push(&mut self, value: Option<&str>) {
        self.0.append_option(value)
    }

    pub fn finish(self) -> Column {
        self.0.finish().into_column()
    }
}

/// A money column written a row at a time (see [`TextColumn`]).
pub struct MoneyColumn(PrimitiveChunkedBuilder<Int128Type>);

impl MoneyColumn {
    pub fn new(name: &str, rows: usize) -> Self {
        MoneyColumn(PrimitiveChunkedBuilder::new(name.into(), rows))
    }

    pub fn push(&mut self, value: Option<Decimal>) {
        self.push_units(value.map(to_units))
    }

    /// A value already in the frame's units (`exact::to_units`).
    pub fn push_units(&mut self, units: Option<i128>) {
        self.0.append_option(units)
    }

    pub fn finish(self) -> Column {
        self.0
            .finish()
            .into_decimal_unchecked(PRECISION, SCALE as usize)
            .into_column()
    }
}

/// A date column written a row at a time (see [`TextColumn`]).
pub struct DateColumn(PrimitiveChunkedBuilder<Int32Type>);

impl DateColumn {
    pub fn new(name: &str, rows: usize) -> Self {
        DateColumn(PrimitiveChunkedBuilder::new(name.into(), rows))
    }

    pub fn push(&mut self, value: Option<NaiveDate>) {
        self.0.append_option(value.map(epoch_days))
    }

    pub fn finish(self) -> Column {
        self.0.finish().into_date().into_column()
    }
}

/// A timestamp column written a row at a time (see [`TextColumn`]).
pub struct TimestampColumn(PrimitiveChunkedBuilder<Int64Type>);

impl TimestampColumn {
    pub fn new(name: &str, rows: usize) -> Self {
        TimestampColumn(PrimitiveChunkedBuilder::new(name.into(), rows))
    }

    pub fn push(&mut self, value: Option<DateTime<Utc>>) {
        self.0.append_option(value.map(|t| t.timestamp_micros()))
    }

    pub fn finish(self) -> Column {
        self.0
            .finish()
            .into_datetime(TimeUnit::Microseconds, None)
            .into_column()
    }
}

/// A flag column written a row at a time (see [`TextColumn`]).
pub struct FlagColumn(BooleanChunkedBuilder);

impl FlagColumn {
    pub fn new(name: &str, rows: usize) -> Self {
        FlagColumn(BooleanChunkedBuilder::new(name.into(), rows))
    }

    pub fn push(&mut self, value: Option<bool>) {
        self.0.append_option(value)
    }

    pub fn finish(self) -> Column {
        self.0.finish().into_column()
    }
}
