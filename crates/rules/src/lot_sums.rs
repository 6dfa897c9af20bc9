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
//! Sums are checked: a sum past the Decimal column's range is null (unknown to a rule), not a
//! wrapped number.

use polars::prelude::*;
use recon_frames::schema::{money_units, text};

/// One side's lots of one instrument in one account.
#[derive(Default)]
struct Side<'a> {
    lots: u32,
    /// Sum of the stated quantities; `None` once it overflowed.
    quantity: Option<i128>,
    /// Sum of the stated values; `None` once it overflowed.
    value: Option<i128>,
    /// Lots whose value is not stated: the side's value is then unknown.
    unvalued: u32,
    /// The first lot's price, symbol and book.
    price: Option<i128>,
    symbol: Option<&'a str>,
    book: Option<&'a str>,
}

impl<'a> Side<'a> {
    fn add(&mut self, lot: Lot<'a>) {
        if self.lots == 0 {
            (self.quantity, self.value) = (Some(0), Some(0));
            (self.price, self.symbol, self.book) = (lot.price, lot.symbol, lot.book);
        }
        self.lots += 1;
        let plus = |sum: Option<i128>, v: Option<i128>| match v {
            Some(v) => sum.and_then(|s| s.checked_add(v)),
            None => sum,
        };
        self.quantity = plus(self.quantity, lot.quantity);
        self.value = plus(self.value, lot.value);
        self.unvalued += u32::from(lot.value.is_none());
    }

    /// The side's quantity: 0 when it holds no lot (a count of nothing).
    fn quantity(&self) -> Option<i128> {
        if self.lots == 0 {
            Some(0)
        } else {
            self.quantity
        }
    }

    /// The side's value: unknown when it holds no lot, or when a lot is unvalued (a sum that
    /// skipped it is not the position's value).
    fn value(&self) -> Option<i128> {
        (self.lots > 0 && self.unvalued == 0)
            .then_some(self.value)
            .flatten()
    }

    fn lots(&self) -> Option<IdxSize> {
        (self.lots > 0).then_some(self.lots as IdxSize)
    }
}

/// One row of either side.
#[derive(Clone, Copy)]
pub(crate) struct Lot<'a> {
    pub quantity: Option<i128>,
    pub price: Option<i128>,
    pub value: Option<i128>,
    pub symbol: Option<&'a str>,
    pub book: Option<&'a str>,
}

struct Group<'a> {
    broker: Option<&'a str>,
    account: Option<&'a str>,
    key: Option<&'a str>,
    sides: [Side<'a>; 2],
}

pub(crate) const BROKER: usize = 0;
pub(crate) const BOOK: usize = 1;

type Account<'a> = (Option<&'a str>, Option<&'a str>);

/// The groups in the order their keys are first met.
#[derive(Default)]
pub(crate) struct LotSums<'a> {
    groups: Vec<Group<'a>>,
    /// Per account, its instruments' group numbers.
    accounts: PlHashMap<Account<'a>, usize>,
    instruments: Vec<PlHashMap<Option<&'a str>, usize>>,
    /// The account of the last row, and its number: rows come account by account.
    last: Option<(Account<'a>, usize)>,
}

impl<'a> LotSums<'a> {
    pub fn add(&mut self, side: usize, account: Account<'a>, key: Option<&'a str>, lot: Lot<'a>) {
        let n = match self.last {
            Some((last, n)) if last == account => n,
            _ => {
                let next = self.instruments.len();
                let n = *self.accounts.entry(account).or_insert(next);
                if n == next {
                    self.instruments.push(PlHashMap::default());
                }
                self.last = Some((account, n));
                n
            }
        };
        let next = self.groups.len();
        let g = *self.instruments[n].entry(key).or_insert(next);
        if g == next {
            self.groups.push(Group {
                broker: account.0,
                account: account.1,
                key,
                sides: Default::default(),
            });
        }
        self.groups[g].sides[side].add(lot);
    }

    /// The `position_recon` frame (DESIGN.md "Views").
    pub fn frame(self) -> PolarsResult<DataFrame> {
        let g = &self.groups;
        let strs = |name: &str, f: fn(&Group<'a>) -> Option<&'a str>| text(name, g.iter().map(f));
        let units =
            |name: &str, f: &dyn Fn(&Group<'a>) -> Option<i128>| money_units(name, g.iter().map(f));
        let lots = |name: &str, side: usize| {
            IdxCa::from_iter_options(name.into(), g.iter().map(|g| g.sides[side].lots()))
                .into_column()
        };
        let [broker, book] = [BROKER, BOOK];
        let columns = vec![
            strs("broker", |g| g.broker),
            strs("account_id", |g| g.account),
            strs("instrument_key", |g| g.key),
            units("broker_quantity", &|g| g.sides[broker].quantity()),
            units("broker_price", &|g| g.sides[broker].price),
            units("broker_market_value", &|g| g.sides[broker].value()),
            strs("broker_symbol", |g| g.sides[BROKER].symbol),
            lots("broker_lots", broker),
            units("book_quantity", &|g| g.sides[book].quantity()),
            units("book_price", &|g| g.sides[book].price),
            units("book_market_value", &|g| g.sides[book].value()),
            strs("booked_symbol", |g| g.sides[BOOK].symbol),
            strs("book", |g| g.sides[BOOK].book),
            lots("book_lots", book),
            strs("instrument_class", |g| Some(class_of_key(g.key))),
            strs("side", |g| {
                Some(match (g.sides[BROKER].lots > 0, g.sides[BOOK].lots > 0) {
                    (true, true) => "both",
                    (true, false) => "broker_only",
                    _ => "book_only",
                })
            }),
            units("quantity_diff", &|g| {
                g.sides[broker]
                    .quantity()?
                    .checked_sub(g.sides[book].quantity()?)
            }),
            // What findings name: the instrument, and its symbol as either side spells it.
            strs("position_id", |g| g.key),
            strs("symbol", |g| {
                g.sides[BROKER].symbol.or(g.sides[BOOK].symbol)
            }),
        ];
        DataFrame::new(g.len(), columns)
    }
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
