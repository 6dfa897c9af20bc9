//! `position_recon`'s grouping: each side's lots summed per (broker, account, instrument),
//! by hand.
//!
//! A chunk's broker positions and book rows arrive account by account, and an account holds
//! a hundred or so instruments, so the rows are grouped account first: one small map of
//! instrument keys per account, which stays in cache while that account's rows go by, and
//! the account looked up again only when it changes. polars' stable group-by on the three
//! string keys of the two sides stacked did the same work in 0.7–0.9 s summed over a 10,000-
//! account run's chunks; grouping one hash table over all keys by hand was slower still
//! (session 5: three cache misses a row). The result is the frame the group-by gave,
//! column for column (the test `tests/position_recon_oracle.rs` holds it to that).
//!
//! Sums are checked: a sum past the range of the Decimal columns' units (i128) is null
//! (unknown to a rule), not a wrapped number.
//!
//! Measured on the 10,000-account check with a 919,731-line book: user CPU 8.5–9.2 s →
//! 6.3–6.5 s (docs/performance.md, session 10).

use crate::account_rows::Account;
use polars::prelude::*;
use recon_frames::schema::{money_dtype, money_units, text};

/// The columns of one side (the broker's positions with their keys, or the book's rows):
/// what is summed, in the frames' units, and what the first lot gives.
pub(crate) struct SideColumns<'a> {
    broker: &'a StringChunked,
    account: &'a StringChunked,
    key: &'a StringChunked,
    quantity: Column,
    value: Column,
    /// The first lot's price, symbol and (on the book's side) book.
    price: Column,
    symbol: &'a Column,
    book: Option<&'a Column>,
}

impl<'a> SideColumns<'a> {
    pub fn of(df: &'a DataFrame, price: &str, book: Option<&str>) -> PolarsResult<Self> {
        let money = |name: &str| df.column(name)?.cast(&money_dtype());
        Ok(SideColumns {
            broker: df.column("broker")?.str()?,
            account: df.column("account_id")?.str()?,
            key: df.column("instrument_key")?.str()?,
            quantity: money("quantity")?,
            value: money("market_value")?,
            price: money(price)?,
            symbol: df.column("symbol")?,
            book: book.map(|b| df.column(b)).transpose()?,
        })
    }

    /// Every row's account and instrument key, in frame order, with its row number and
    /// what it sums.
    pub fn each(&self, mut f: impl FnMut(Account<'a>, Option<&'a str>, Lot)) -> PolarsResult<()> {
        let (quantity, value) = (
            self.quantity.decimal()?.physical(),
            self.value.decimal()?.physical(),
        );
        let rows = self
            .broker
            .iter()
            .zip(self.account.iter())
            .zip(self.key.iter())
            .zip(quantity.iter().zip(value.iter()));
        for (row, (((broker, account), key), (quantity, value))) in rows.enumerate() {
            let row = row as IdxSize;
            f(
                (broker, account),
                key,
                Lot {
                    row,
                    quantity,
                    value,
                },
            );
        }
        Ok(())
    }
}

/// One row of either side: its number, and what it adds to the sums.
#[derive(Clone, Copy)]
pub(crate) struct Lot {
    row: IdxSize,
    quantity: Option<i128>,
    value: Option<i128>,
}

/// One side's lots of one instrument in one account.
#[derive(Default)]
struct Side {
    lots: u32,
    /// The first lot's row (meaningful once `lots > 0`).
    first: IdxSize,
    /// Lots whose value is not stated: the side's value is then unknown.
    unvalued: u32,
    /// Sums of the stated quantities and values (`overflowed` once either left i128).
    quantity: i128,
    value: i128,
    quantity_overflowed: bool,
    value_overflowed: bool,
}

impl Side {
    fn add(&mut self, lot: Lot) {
        if self.lots == 0 {
            self.first = lot.row;
        }
        self.lots += 1;
        let plus = |sum: &mut i128, overflowed: &mut bool, v: Option<i128>| {
            if let Some(v) = v {
                match sum.checked_add(v) {
                    Some(total) => *sum = total,
                    None => *overflowed = true,
                }
            }
        };
        plus(
            &mut self.quantity,
            &mut self.quantity_overflowed,
            lot.quantity,
        );
        plus(&mut self.value, &mut self.value_overflowed, lot.value);
        self.unvalued += u32::from(lot.value.is_none());
    }

    /// The side's quantity: 0 when it holds no lot (a count of nothing).
    fn quantity(&self) -> Option<i128> {
        (!self.quantity_overflowed).then_some(self.quantity)
    }

    /// The side's value: unknown when it holds no lot, or when a lot is unvalued (a sum that
    /// skipped it is not the position's value).
    fn value(&self) -> Option<i128> {
        (self.lots > 0 && self.unvalued == 0 && !self.value_overflowed).then_some(self.value)
    }

    fn lots(&self) -> Option<IdxSize> {
        (self.lots > 0).then_some(self.lots as IdxSize)
    }

    fn first(&self) -> Option<IdxSize> {
        (self.lots > 0).then_some(self.first)
    }
}

struct Group<'a> {
    key: Option<&'a str>,
    sides: [Side; 2],
}

pub(crate) const BROKER: usize = 0;
pub(crate) const BOOK: usize = 1;

/// The groups in the order their keys are first met.
pub(crate) struct LotSums<'a> {
    groups: Vec<Group<'a>>,
    numbers: PlHashMap<Account<'a>, u32>,
    /// Per account (by number), its instruments' group numbers.
    instruments: Vec<PlHashMap<Option<&'a str>, u32>>,
    /// The account of the last row, and its number: rows come account by account.
    last: Option<(Account<'a>, u32)>,
}

impl<'a> LotSums<'a> {
    /// `rows`: how many rows both sides have, at most one group each (allocated once: the
    /// groups of a chunk are tens of megabytes, and growing them copies each into fresh
    /// pages).
    pub fn with_capacity(rows: usize) -> Self {
        LotSums {
            groups: Vec::with_capacity(rows),
            numbers: PlHashMap::default(),
            instruments: Vec::new(),
            last: None,
        }
    }

    pub fn add(&mut self, side: usize, account: Account<'a>, key: Option<&'a str>, lot: Lot) {
        let n = match self.last {
            Some((last, n)) if last == account => n,
            _ => {
                let next = self.numbers.len() as u32;
                let n = *self.numbers.entry(account).or_insert(next);
                if n == next {
                    // Sized like the account before it: accounts hold similar numbers of
                    // instruments, and growing a map rehashes it several times.
                    let hint = self.instruments.last().map_or(0, |m| m.len());
                    self.instruments.push(PlHashMap::with_capacity(hint));
                }
                self.last = Some((account, n));
                n
            }
        };
        let next = self.groups.len() as u32;
        let g = *self.instruments[n as usize].entry(key).or_insert(next);
        if g == next {
            self.groups.push(Group {
                key,
                sides: Default::default(),
            });
        }
        self.groups[g as usize].sides[side].add(lot);
    }

    /// The `position_recon` frame (DESIGN.md "Views"): `broker` and `book` are the sides
    /// the lots were read from (the first lot's price and symbol are taken from them).
    pub fn frame(self, broker: &SideColumns, book: &SideColumns) -> PolarsResult<DataFrame> {
        let g = &self.groups;
        let strs =
            |name: &str, f: &dyn Fn(&Group<'a>) -> Option<&'a str>| text(name, g.iter().map(f));
        let units = |name: &str, f: &dyn Fn(&Side, &Side) -> Option<i128>| {
            money_units(name, g.iter().map(|g| f(&g.sides[BROKER], &g.sides[BOOK])))
        };
        let lots = |name: &str, side: usize| {
            IdxCa::from_iter_options(name.into(), g.iter().map(|g| g.sides[side].lots()))
                .into_column()
        };
        // Each side's first lot, by row number (null where the side has no lot).
        let first_rows = [BROKER, BOOK].map(|side| {
            IdxCa::from_iter_options("rows".into(), g.iter().map(|g| g.sides[side].first()))
        });
        // Each group's first lot on the broker's side and on the book's.
        let either = || first_rows[BROKER].iter().zip(first_rows[BOOK].iter());
        // The first lot's value of `column`, on `side`.
        let first = |name: &str, side: usize, column: &Column| -> PolarsResult<Column> {
            let mut taken = column.take(&first_rows[side])?;
            taken.rename(name.into());
            Ok(taken)
        };
        let broker_symbol = first("broker_symbol", BROKER, broker.symbol)?;
        let booked_symbol = first("booked_symbol", BOOK, book.symbol)?;
        // The symbol findings name: the broker's spelling where it states one.
        let symbol = gather_either(
            "symbol",
            (broker.symbol.str()?, book.symbol.str()?),
            either()
                .zip(broker_symbol.str()?.iter())
                .map(|((b, k), stated)| (b.filter(|_| stated.is_some()), k)),
        )?;
        let book_name = match book.book {
            Some(column) => first("book", BOOK, column)?,
            None => Column::full_null("book".into(), g.len(), &DataType::String),
        };
        // A group's broker, account and key are those of its first lot on either side,
        // gathered (`gather_either`) rather than written out group by group.
        let from_sides =
            |name: &str, on: (&StringChunked, &StringChunked)| gather_either(name, on, either());
        let key = from_sides("instrument_key", (broker.key, book.key))?;
        let columns = vec![
            from_sides("broker", (broker.broker, book.broker))?,
            from_sides("account_id", (broker.account, book.account))?,
            key.clone(),
            units("broker_quantity", &|b, _| b.quantity()),
            first("broker_price", BROKER, &broker.price)?,
            units("broker_market_value", &|b, _| b.value()),
            broker_symbol,
            lots("broker_lots", BROKER),
            units("book_quantity", &|_, k| k.quantity()),
            first("book_price", BOOK, &book.price)?,
            units("book_market_value", &|_, k| k.value()),
            booked_symbol,
            book_name,
            lots("book_lots", BOOK),
            strs("instrument_class", &|g| Some(class_of_key(g.key))),
            strs("side", &|g| {
                Some(match (g.sides[BROKER].lots > 0, g.sides[BOOK].lots > 0) {
                    (true, true) => "both",
                    (true, false) => "broker_only",
                    _ => "book_only",
                })
            }),
            units("quantity_diff", &|b, k| {
                b.quantity()?.checked_sub(k.quantity()?)
            }),
            // What findings name: the instrument, and its symbol as either side spells it.
            key.with_name("position_id".into()),
            symbol,
        ];
        DataFrame::new(g.len(), columns)
    }
}

/// Per row, `on.0`'s row where the pair names one, else `on.1`'s (null where neither):
/// gathered from the two columns joined, which joins their views and shares their text.
/// `zip_with` would copy every string longer than the 12 bytes polars keeps inline (most
/// instrument keys and option symbols), and building the column string by string did the
/// same.
pub(crate) fn gather_either(
    name: &str,
    on: (&StringChunked, &StringChunked),
    rows: impl Iterator<Item = (Option<IdxSize>, Option<IdxSize>)>,
) -> PolarsResult<Column> {
    polars_ensure!(
        on.0.len() + on.1.len() <= IdxSize::MAX as usize,
        ComputeError: "`{name}`: {} rows are more than a frame can index", on.0.len() + on.1.len()
    );
    let offset = on.0.len() as IdxSize;
    let mut both = on.0.clone();
    both.append(on.1)?;
    let rows = IdxCa::from_iter_options(
        "rows".into(),
        rows.map(|(first, second)| first.or(second.map(|r| r + offset))),
    );
    Ok(both
        .rechunk()
        .take(&rows)?
        .with_name(name.into())
        .into_column())
}

/// The class tolerances are set per: equity, option, future (futures options included) or
/// other, from the instrument key's prefix.
fn class_of_key(key: Option<&str>) -> &'static str {
    match key {
        Some(k) if k.starts_with("EQ:") => "equity",
        Some(k) if k.starts_with("OPT:") => "option",
        Some(k) if k.starts_with("FUT:") || k.starts_with("FOP:") => "future",
        _ => "other",
    }
}
