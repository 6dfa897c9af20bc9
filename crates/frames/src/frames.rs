//! Canonical rows → the five canonical frames, with the names and types of DESIGN.md. The
//! rows stay in the parts they were read in (a book per account); columns are built from
//! typed values, never through AnyValue: the positions' row by row into their builders,
//! beside the other frames.

use crate::schema::{
    DateColumn, FlagColumn, MoneyColumn, TextColumn, TimestampColumn, date, flag, money, text,
    timestamp,
};
use polars::prelude::*;
use recon_model::manifest::FetchErrorRecord;
use recon_model::{AccountRow, BalanceRow, Book, PnlRow, PositionRow, QuarantineRow};
use std::collections::BTreeSet;

/// The canonical frames of one snapshot.
#[derive(Debug, Clone)]
pub struct Frames {
    pub accounts: DataFrame,
    pub balances: DataFrame,
    pub positions: DataFrame,
    pub pnl: DataFrame,
    pub quarantine: DataFrame,
    /// What the manifest says could not be fetched: broker, account_id, endpoint, error.
    pub fetch_errors: DataFrame,
}

/// The frames' names, in the order `Frames::named` gives them.
pub const FRAME_NAMES: [&str; 6] = [
    "accounts",
    "balances",
    "positions",
    "pnl",
    "quarantine",
    "fetch_errors",
];

impl Frames {
    /// Frames by name, for views and rules written against them.
    pub fn named(&self) -> [(&'static str, &DataFrame); 6] {
        let [accounts, balances, positions, pnl, quarantine, fetch_errors] = FRAME_NAMES;
        [
            (accounts, &self.accounts),
            (balances, &self.balances),
            (positions, &self.positions),
            (pnl, &self.pnl),
            (quarantine, &self.quarantine),
            (fetch_errors, &self.fetch_errors),
        ]
    }
}

/// Builds every frame. `incomplete` names the (broker, account) pairs whose data could not
/// all be read; their `data_complete` is false so no check treats partial data as whole.
pub fn build_frames(
    book: &Book,
    incomplete: &BTreeSet<(String, String)>,
    fetch_errors: &[(String, FetchErrorRecord)],
) -> PolarsResult<Frames> {
    build_frames_of_parts(std::slice::from_ref(book), incomplete, fetch_errors)
}

/// `build_frames` of rows kept in `parts` (a chunk's accounts, each read into a book of its
/// own), one frame's rows being each part's, in order.
pub fn build_frames_of_parts(
    parts: &[Book],
    incomplete: &BTreeSet<(String, String)>,
    fetch_errors: &[(String, FetchErrorRecord)],
) -> PolarsResult<Frames> {
    // The positions frame is most of the work: built beside all the others.
    let (positions, others) = rayon::join(
        || positions(Rows::new(parts, |b| &b.positions)),
        || -> PolarsResult<_> {
            Ok((
                accounts(Rows::new(parts, |b| &b.accounts), incomplete)?,
                balances(Rows::new(parts, |b| &b.balances))?,
                pnl(Rows::new(parts, |b| &b.pnl))?,
                quarantine(Rows::new(parts, |b| &b.quarantine))?,
                fetch_error_frame(fetch_errors)?,
            ))
        },
    );
    let (accounts, balances, pnl, quarantine, fetch_errors) = others?;
    Ok(Frames {
        accounts,
        balances,
        positions: positions?,
        pnl,
        quarantine,
        fetch_errors,
    })
}

/// One kind of row across the parts, in order, with its exact count: the column builders
/// size their buffers from it once.
struct Rows<'a, T> {
    parts: &'a [Book],
    pick: fn(&Book) -> &Vec<T>,
    len: usize,
}

impl<T> Clone for Rows<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Rows<'_, T> {}

impl<'a, T> Rows<'a, T> {
    fn new(parts: &'a [Book], pick: fn(&Book) -> &Vec<T>) -> Self {
        let len = parts.iter().map(|p| pick(p).len()).sum();
        Rows { parts, pick, len }
    }

    fn len(&self) -> usize {
        self.len
    }

    fn iter(&self) -> RowIter<'a, T> {
        RowIter {
            parts: self.parts.iter(),
            pick: self.pick,
            current: [].iter(),
            left: self.len,
        }
    }
}

/// The iterator of [`Rows`].
struct RowIter<'a, T> {
    parts: std::slice::Iter<'a, Book>,
    pick: fn(&Book) -> &Vec<T>,
    current: std::slice::Iter<'a, T>,
    left: usize,
}

impl<'a, T> Iterator for RowIter<'a, T> {
    type Item = &'a T;

    fn next(&mut self) -> Option<&'a T> {
        loop {
            if let Some(row) = self.current.next() {
                self.left -= 1;
                return Some(row);
            }
            self.current = (self.pick)(self.parts.next()?).iter();
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }

    // Part by part, each a plain slice loop, for consumers that fold (`for_each` does).
    fn fold<B, F: FnMut(B, &'a T) -> B>(self, init: B, mut f: F) -> B {
        let pick = self.pick;
        let acc = self.current.fold(init, &mut f);
        self.parts
            .fold(acc, |acc, part| pick(part).iter().fold(acc, &mut f))
    }
}

impl<T> ExactSizeIterator for RowIter<'_, T> {}

fn accounts(
    rows: Rows<AccountRow>,
    incomplete: &BTreeSet<(String, String)>,
) -> PolarsResult<DataFrame> {
    DataFrame::new(
        rows.len(),
        vec![
            text("broker", rows.iter().map(|r| Some(r.broker.as_str()))),
            text(
                "account_id",
                rows.iter().map(|r| Some(r.account_id.as_str())),
            ),
            text(
                "account_name",
                rows.iter().map(|r| r.account_name.as_deref()),
            ),
            text(
                "account_kind",
                rows.iter().map(|r| Some(r.account_kind.as_str())),
            ),
            text("status", rows.iter().map(|r| Some(r.status.as_str()))),
            text(
                "options_level",
                rows.iter().map(|r| r.options_level.as_deref()),
            ),
            flag("is_paper", rows.iter().map(|r| Some(r.is_paper))),
            date("as_of", rows.iter().map(|r| Some(r.as_of))),
            flag(
                "data_complete",
                rows.iter().map(|r| {
                    Some(!incomplete.contains(&(r.broker.to_string(), r.account_id.clone())))
                }),
            ),
        ],
    )
}

fn balances(rows: Rows<BalanceRow>) -> PolarsResult<DataFrame> {
    DataFrame::new(
        rows.len(),
        vec![
            text("broker", rows.iter().map(|r| Some(r.broker.as_str()))),
            text(
                "account_id",
                rows.iter().map(|r| Some(r.account_id.as_str())),
            ),
            text("currency", rows.iter().map(|r| Some(r.currency.as_str()))),
            money("cash", rows.iter().map(|r| r.cash)),
            money("net_liq", rows.iter().map(|r| r.net_liq)),
            money("buying_power", rows.iter().map(|r| r.buying_power)),
            money(
                "maintenance_requirement",
                rows.iter().map(|r| r.maintenance_requirement),
            ),
            money("margin_excess", rows.iter().map(|r| r.margin_excess)),
            money(
                "withdrawable_cash",
                rows.iter().map(|r| r.withdrawable_cash),
            ),
            money(
                "long_market_value",
                rows.iter().map(|r| r.long_market_value),
            ),
            money(
                "short_market_value",
                rows.iter().map(|r| r.short_market_value),
            ),
            money(
                "reported_exposure",
                rows.iter().map(|r| r.reported_exposure),
            ),
            money("unrealized_pnl", rows.iter().map(|r| r.unrealized_pnl)),
            money("day_pnl", rows.iter().map(|r| r.day_pnl)),
            money("used_leverage", rows.iter().map(|r| r.used_leverage)),
            money("allowed_leverage", rows.iter().map(|r| r.allowed_leverage)),
            timestamp("updated_at", rows.iter().map(|r| r.updated_at)),
        ],
    )
}

fn positions(rows: Rows<PositionRow>) -> PolarsResult<DataFrame> {
    // 22 columns of up to millions of rows, written row by row: the rows (a few hundred
    // bytes each) are read once, where a pass per column was bound by reading memory.
    let mut columns = PositionColumns::new(rows.len());
    rows.iter().for_each(|row| columns.push(row));
    DataFrame::new(rows.len(), columns.finish())
}

/// A struct of column builders filled a row at a time, from one list of the frame's
/// columns in order: each column's name (the field's), its builder and its value in a row.
macro_rules! row_columns {
    ($columns:ident for $row:ty { $($name:ident: $kind:ident = |$r:ident| $value:expr),+ $(,)? }) => {
        struct $columns {
            $($name: $kind),+
        }

        impl $columns {
            fn new(rows: usize) -> Self {
                $columns { $($name: $kind::new(stringify!($name), rows)),+ }
            }

            fn push(&mut self, row: &$row) {
                $({
                    let $r = row;
                    self.$name.push($value);
                })+
            }

            fn finish(self) -> Vec<Column> {
                vec![$(self.$name.finish()),+]
            }
        }
    };
}

// The positions frame's columns, in DESIGN.md's order.
row_columns!(PositionColumns for PositionRow {
    broker: TextColumn = |r| Some(r.broker.as_str()),
    account_id: TextColumn = |r| Some(r.account_id.as_str()),
    position_id: TextColumn = |r| Some(r.position_id.as_str()),
    symbol: TextColumn = |r| Some(r.symbol.as_str()),
    underlying: TextColumn = |r| Some(r.underlying.as_str()),
    instrument: TextColumn = |r| Some(r.instrument.as_str()),
    put_call: TextColumn = |r| r.put_call.map(|p| p.as_str()),
    strike: MoneyColumn = |r| r.strike,
    expires_at: DateColumn = |r| r.expires_at,
    quantity: MoneyColumn = |r| Some(r.quantity),
    side: TextColumn = |r| r.side.map(|s| s.as_str()),
    multiplier: MoneyColumn = |r| Some(r.multiplier),
    avg_price: MoneyColumn = |r| r.avg_price,
    mark: MoneyColumn = |r| r.mark,
    close_price: MoneyColumn = |r| r.close_price,
    market_value: MoneyColumn = |r| r.market_value,
    net_liq_value: MoneyColumn = |r| r.net_liq_value,
    cost_basis: MoneyColumn = |r| r.cost_basis,
    unrealized_pnl: MoneyColumn = |r| r.unrealized_pnl,
    pnl_expected: FlagColumn = |r| Some(r.pnl_expected),
    updated_at: TimestampColumn = |r| r.updated_at,
    cusip: TextColumn = |r| r.cusip.as_deref(),
});

fn pnl(rows: Rows<PnlRow>) -> PolarsResult<DataFrame> {
    DataFrame::new(
        rows.len(),
        vec![
            text("broker", rows.iter().map(|r| Some(r.broker.as_str()))),
            text(
                "account_id",
                rows.iter().map(|r| Some(r.account_id.as_str())),
            ),
            text("position_id", rows.iter().map(|r| r.position_id.as_deref())),
            text("symbol", rows.iter().map(|r| Some(r.symbol.as_str()))),
            money("exposure", rows.iter().map(|r| r.exposure)),
            money("realized_pnl", rows.iter().map(|r| r.realized_pnl)),
            money("unrealized_pnl", rows.iter().map(|r| r.unrealized_pnl)),
            money("day_realized_pnl", rows.iter().map(|r| r.day_realized_pnl)),
            money(
                "day_unrealized_pnl",
                rows.iter().map(|r| r.day_unrealized_pnl),
            ),
        ],
    )
}

fn quarantine(rows: Rows<QuarantineRow>) -> PolarsResult<DataFrame> {
    DataFrame::new(
        rows.len(),
        vec![
            text("broker", rows.iter().map(|r| Some(r.broker.as_str()))),
            text("account_id", rows.iter().map(|r| r.account_id.as_deref())),
            text("source", rows.iter().map(|r| Some(r.source.as_str()))),
            text("pointer", rows.iter().map(|r| Some(r.pointer.as_str()))),
            text("reason", rows.iter().map(|r| Some(r.reason.as_str()))),
        ],
    )
}

fn fetch_error_frame(rows: &[(String, FetchErrorRecord)]) -> PolarsResult<DataFrame> {
    DataFrame::new(
        rows.len(),
        vec![
            text("broker", rows.iter().map(|(b, _)| Some(b.as_str()))),
            text("account_id", rows.iter().map(|(_, e)| e.account.as_deref())),
            text(
                "endpoint",
                rows.iter().map(|(_, e)| Some(e.endpoint.as_str())),
            ),
            text("error", rows.iter().map(|(_, e)| Some(e.error.as_str()))),
        ],
    )
}
