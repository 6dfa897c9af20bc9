//! The views rules run on (DESIGN.md "Views"), built once per run from the frames:
//!
//! - `account_view`: one row per account: accounts ⋈ balances (USD) plus position and P&L
//!   aggregates. `position_value` is null when any position is unvalued or the account's data
//!   is incomplete: polars' `sum` skips nulls and would count an unpriced position as 0.
//! - `position_view`: positions plus their P&L match (`recon_model::pnl_match`, the same
//!   function normalize valued positions with), account kind, paper flag and days to expiry.
//! - `pnl_view`: every P&L row with `matched` (true when a position took it, false when none
//!   did, null when the account's data is incomplete and so nothing can be proved).
//! - `pnl_orphans`: the P&L rows with non-zero exposure that no position matched.
//!
//! The frames themselves (`accounts`, `balances`, `positions`, `pnl`, `quarantine`,
//! `fetch_errors`) can be named by rules too.

use crate::account_rows::{AccountNumbers, account_runs};
use chrono::NaiveDate;
use polars::prelude::*;
use recon_frames::Frames;
use recon_frames::books::BookFrames;
use recon_frames::exact::from_units;
use recon_frames::schema::money_dtype;
use recon_model::pnl_match::{PnlKeys, PositionKeys, match_pnl};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The base currency balances row an account is checked in.
pub const BASE_CURRENCY: &str = "USD";

/// Every frame and view a rule may name, collected once.
#[derive(Debug, Clone)]
pub struct Views {
    frames: BTreeMap<&'static str, DataFrame>,
}

impl Views {
    pub fn build(frames: &Frames, as_of: NaiveDate) -> PolarsResult<Views> {
        let mut all: BTreeMap<&'static str, DataFrame> = frames
            .named()
            .into_iter()
            .map(|(name, df)| (name, df.clone()))
            .collect();
        let matches = match_rows(&frames.positions, &frames.pnl)?;
        let numbers = AccountNumbers::of(frames, ACCOUNT_ROW)?;
        let numbers = numbers.as_ref();
        all.insert(
            "position_view",
            position_view(frames, &matches, numbers.map(|n| &n.positions), as_of)?,
        );
        let pnl_view = pnl_view(frames, &matches, numbers.map(|n| &n.pnl))?;
        all.insert("pnl_orphans", pnl_orphans(&pnl_view)?);
        all.insert("pnl_view", pnl_view);
        all.insert("account_view", account_view(frames, numbers, as_of)?);
        let mut views = Views { frames: all };
        // The book views exist, empty, when no book is configured: a pack naming them still
        // compiles, and its rules find nothing in scope.
        views.add_books(&BookFrames::empty()?, as_of)?;
        Ok(views)
    }

    /// The views of a chunk that has a book of record: the book's views (`book_frames`) are
    /// built beside the others, since both only read the frames, so that the book's serial
    /// part (summing lots) runs while polars builds the rest on the other core. Also gives
    /// the time each side took.
    pub fn build_with_books(
        frames: &Frames,
        books: &BookFrames,
        as_of: NaiveDate,
    ) -> PolarsResult<(Views, [std::time::Duration; 2])> {
        let (views, added) = rayon::join(
            || timed(|| Views::build(frames, as_of)),
            || {
                timed(|| {
                    book_frames(
                        &frames.accounts,
                        &frames.positions,
                        &frames.balances,
                        books,
                        as_of,
                    )
                })
            },
        );
        let ((mut views, built), (added, booked)) = (views?, added?);
        views.frames.extend(added);
        Ok((views, [built, booked]))
    }

    /// Puts the firm's book of record in: `book_positions`, `book_cash`, `book_quarantine`,
    /// and the `position_recon` and `cash_recon` views against the brokers.
    pub fn add_books(&mut self, books: &BookFrames, as_of: NaiveDate) -> PolarsResult<()> {
        let empty = DataFrame::empty();
        let frame = |name: &str| self.frames.get(name).unwrap_or(&empty);
        let added = book_frames(
            frame("accounts"),
            frame("positions"),
            frame("balances"),
            books,
            as_of,
        )?;
        self.frames.extend(added);
        Ok(())
    }

    pub fn get(&self, name: &str) -> Option<&DataFrame> {
        self.frames.get(name)
    }

    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.frames.keys().copied()
    }

    /// Each account's net liq, cash and position value, for reports to draw.
    pub fn account_figures(&self) -> Vec<AccountFigure> {
        match self.get("account_view") {
            Some(view) => account_figures(view),
            None => Vec::new(),
        }
    }
}

fn timed<T>(f: impl FnOnce() -> PolarsResult<T>) -> PolarsResult<(T, std::time::Duration)> {
    let started = std::time::Instant::now();
    f().map(|out| (out, started.elapsed()))
}

/// The frames a book of record adds (DESIGN.md "Views"), by name: the book's rows with its
/// accounts named as recon names them, and the two recon views against the broker's
/// `accounts`, `positions` and `balances`. One function for both engines: a local check
/// adds them to a chunk's views; `recon export` writes them for Spark.
pub const BOOK_FRAMES: [&str; 5] = [
    "book_positions",
    "book_cash",
    "book_quarantine",
    "position_recon",
    "cash_recon",
];

pub fn book_frames(
    accounts: &DataFrame,
    positions: &DataFrame,
    balances: &DataFrame,
    books: &BookFrames,
    as_of: NaiveDate,
) -> PolarsResult<[(&'static str, DataFrame); 5]> {
    let books = crate::book_views::by_account_name(books, accounts)?;
    let position_recon = crate::book_views::position_recon(positions, &books, as_of)?;
    let cash_recon = crate::book_views::cash_recon(balances, &books)?;
    Ok([
        ("book_positions", books.positions),
        ("book_cash", books.cash),
        ("book_quarantine", books.quarantine),
        ("position_recon", position_recon),
        ("cash_recon", cash_recon),
    ])
}

/// Each account's headline amounts, from `account_view` (or any frame with its broker,
/// account_id, net_liq, cash and position_value columns).
pub fn account_figures(view: &DataFrame) -> Vec<AccountFigure> {
    let text = |name: &str, i: usize| -> String {
        view.column(name)
            .ok()
            .and_then(|c| c.get(i).ok())
            .and_then(|v| v.get_str().map(str::to_string))
            .unwrap_or_default()
    };
    let amount = |name: &str, i: usize| -> Option<Decimal> {
        match view.column(name).ok()?.get(i).ok()? {
            AnyValue::Decimal(units, _, scale) => from_units(units, scale),
            _ => None,
        }
    };
    (0..view.height())
        .map(|i| AccountFigure {
            broker: text("broker", i),
            account: text("account_id", i),
            net_liq: amount("net_liq", i),
            cash: amount("cash", i),
            position_value: amount("position_value", i),
        })
        .collect()
}

/// One account's headline amounts (exact).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccountFigure {
    pub broker: String,
    pub account: String,
    pub net_liq: Option<Decimal>,
    pub cash: Option<Decimal>,
    pub position_value: Option<Decimal>,
}

fn keys() -> [Expr; 2] {
    [col("broker"), col("account_id")]
}

fn left() -> JoinArgs {
    JoinArgs::new(JoinType::Left)
}

fn money_zero() -> Expr {
    lit(0).cast(money_dtype())
}

/// Seconds from `updated_at` to the end of the business day (as_of 24:00 UTC): how old the
/// broker's figure is when the day closes. Null when the broker sends no time.
/// Computed on integers (microseconds), since polars' Duration type is not built in.
fn updated_age(as_of: NaiveDate) -> Expr {
    let end = end_of_day_micros(as_of);
    ((lit(end) - col("updated_at").cast(DataType::Int64)) / lit(1_000_000i64)).alias("updated_age")
}

/// The end of the business day `as_of` (24:00 UTC) in microseconds since the epoch: what
/// `updated_age` counts to, on every engine.
pub fn end_of_day_micros(as_of: NaiveDate) -> i64 {
    as_of
        .succ_opt()
        .unwrap_or(as_of)
        .and_hms_opt(0, 0, 0)
        .map(|t| t.and_utc().timestamp_micros())
        .unwrap_or_default()
}

/// The column of an account's row number (`AccountRows`), while the views are built.
const ACCOUNT_ROW: &str = "__account_row";

fn account_view(
    frames: &Frames,
    numbers: Option<&AccountNumbers>,
    as_of: NaiveDate,
) -> PolarsResult<DataFrame> {
    let balances = frames
        .balances
        .clone()
        .lazy()
        .filter(col("currency").eq(lit(BASE_CURRENCY)));
    // Positions and P&L rows summed per account: by the account's row number where each
    // key names one account row, else by the keys.
    let (accounts, by, positions, pnl) = match numbers {
        Some(numbers) => {
            let numbered = |frame: &DataFrame, numbers: &IdxCa| -> PolarsResult<LazyFrame> {
                let mut frame = frame.clone();
                frame.with_column(numbers.clone().into_column())?;
                Ok(frame.lazy())
            };
            (
                frames
                    .accounts
                    .with_row_index(ACCOUNT_ROW.into(), None)?
                    .lazy(),
                vec![col(ACCOUNT_ROW)],
                numbered(&frames.positions, &numbers.positions)?,
                numbered(&frames.pnl, &numbers.pnl)?,
            )
        }
        None => (
            frames.accounts.clone().lazy(),
            keys().to_vec(),
            frames.positions.clone().lazy(),
            frames.pnl.clone().lazy(),
        ),
    };
    let positions = positions.group_by(by.clone()).agg([
        len().alias("position_count"),
        col("net_liq_value").sum().alias("__value_sum"),
        col("net_liq_value").null_count().alias("unvalued_count"),
        col("market_value").abs().sum().alias("gross_exposure"),
    ]);
    let pnl = pnl.group_by(by.clone()).agg([
        len().alias("pnl_row_count"),
        col("exposure").sum().alias("pnl_exposure"),
    ]);
    let has_positions = col("position_count").is_not_null();
    accounts
        .join(balances, keys(), keys(), left())
        .join(positions, by.clone(), by.clone(), left())
        .join(pnl, by.clone(), by, left())
        .with_columns([
            // No position rows: an exact 0, not unknown (but unknown if data is missing).
            when(col("data_complete").not())
                .then(lit(NULL).cast(money_dtype()))
                .when(has_positions.clone().not())
                .then(money_zero())
                .when(col("unvalued_count").gt(lit(0)))
                .then(lit(NULL).cast(money_dtype()))
                .otherwise(col("__value_sum"))
                .alias("position_value"),
            col("position_count").fill_null(lit(0)),
            col("unvalued_count").fill_null(lit(0)),
            col("gross_exposure").fill_null(money_zero()),
            col("pnl_row_count").fill_null(lit(0)),
            col("pnl_exposure").fill_null(money_zero()),
            updated_age(as_of),
        ])
        .drop(by_name(["__value_sum"], true, false))
        .drop(by_name([ACCOUNT_ROW], false, false))
        .collect()
}

/// `frame` with `columns` (name, alias) of each row's account, null where it has none:
/// taken by the account's row number where `rows` has them, else by a left join on the
/// keys (the same columns, in the same order).
fn with_account_columns(
    frame: DataFrame,
    accounts: &DataFrame,
    columns: &[(&str, &str)],
    numbers: Option<&IdxCa>,
) -> PolarsResult<LazyFrame> {
    let Some(numbers) = numbers else {
        let mut picked = keys().to_vec();
        picked.extend(columns.iter().map(|&(name, alias)| col(name).alias(alias)));
        let accounts = accounts.clone().lazy().select(picked);
        return Ok(frame.lazy().join(accounts, keys(), keys(), left()));
    };
    let taken = columns
        .iter()
        .map(|&(name, alias)| {
            let mut column = accounts.column(name)?.take(numbers)?;
            column.rename(alias.into());
            Ok(column)
        })
        .collect::<PolarsResult<Vec<Column>>>()?;
    Ok(frame.hstack(&taken)?.lazy())
}

/// The P&L amounts `position_view` carries, each as `pnl_<name>`.
const PNL_AMOUNTS: [&str; 5] = [
    "exposure",
    "realized_pnl",
    "unrealized_pnl",
    "day_realized_pnl",
    "day_unrealized_pnl",
];

/// Positions with their P&L row (by `match_pnl`), the account's kind and paper flag, and
/// days to expiry.
fn position_view(
    frames: &Frames,
    matches: &Matches,
    numbers: Option<&IdxCa>,
    as_of: NaiveDate,
) -> PolarsResult<DataFrame> {
    let positions = &frames.positions;
    let pnl = &frames.pnl;
    let Matches {
        pnl_of_position: matched,
        kinds,
        ..
    } = matches;

    let idx = IdxCa::from_iter_options("pnl_idx".into(), matched.iter().copied());
    let mut taken = pnl.select(PNL_AMOUNTS)?.take(&idx)?;
    for name in PNL_AMOUNTS {
        taken.rename(name, format!("pnl_{name}").into())?;
    }
    let match_col =
        StringChunked::from_iter_options("pnl_match".into(), kinds.iter().map(|k| Some(*k)))
            .into_column();
    let mut with_pnl = positions.hstack(taken.columns())?;
    with_pnl.with_column(match_col)?;

    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid date");
    let as_of_days = (as_of - epoch).num_days() as i32;
    let account_columns = [
        ("account_kind", "account_kind"),
        ("is_paper", "is_paper"),
        ("status", "account_status"),
        ("options_level", "options_level"),
        ("data_complete", "data_complete"),
    ];
    with_account_columns(with_pnl, &frames.accounts, &account_columns, numbers)?
        .with_columns([
            // A match is proof either way; a missing P&L row proves nothing without all of
            // the account's data.
            when(
                col("pnl_match")
                    .neq(lit("none"))
                    .or(col("data_complete").eq(lit(true))),
            )
            .then(col("pnl_match"))
            .otherwise(lit(NULL).cast(DataType::String))
            .alias("pnl_match"),
            (col("expires_at").cast(DataType::Int32) - lit(as_of_days)).alias("days_to_expiry"),
            updated_age(as_of),
        ])
        .collect()
}

/// Which P&L row each position took, computed once for all views.
struct Matches {
    /// Per position row: the index of its P&L row.
    pnl_of_position: Vec<Option<IdxSize>>,
    /// Per position row: how it matched ("position_id", "symbol" or "none").
    kinds: Vec<&'static str>,
    /// Per P&L row: whether a position took it.
    pnl_taken: Vec<bool>,
}

/// P&L rows with whether a position matched them (null where the account is incomplete).
fn pnl_view(
    frames: &Frames,
    matches: &Matches,
    numbers: Option<&IdxCa>,
) -> PolarsResult<DataFrame> {
    let taken =
        BooleanChunked::from_iter_values("__taken".into(), matches.pnl_taken.iter().copied())
            .into_column();
    let mut pnl = frames.pnl.clone();
    pnl.with_column(taken)?;
    let data_complete = [("data_complete", "data_complete")];
    with_account_columns(pnl, &frames.accounts, &data_complete, numbers)?
        // A match is proof either way; "no position took it" needs all the account's data.
        .with_columns([when(col("__taken"))
            .then(lit(true))
            .when(col("data_complete").eq(lit(true)))
            .then(lit(false))
            .otherwise(lit(NULL).cast(DataType::Boolean))
            .alias("matched")])
        .drop(by_name(["__taken"], true, false))
        .collect()
}

/// P&L rows with non-zero (or unknown) exposure that no position matched.
fn pnl_orphans(pnl_view: &DataFrame) -> PolarsResult<DataFrame> {
    pnl_view
        .clone()
        .lazy()
        .filter(
            col("matched").eq(lit(false)).and(
                col("exposure")
                    .is_null()
                    .or(col("exposure").neq(money_zero())),
            ),
        )
        .collect()
}

fn texts<'a>(df: &'a DataFrame, name: &str) -> PolarsResult<Vec<Option<&'a str>>> {
    Ok(df.column(name)?.str()?.iter().collect())
}

fn text_at<'a>(column: &[Option<&'a str>], i: usize) -> &'a str {
    column[i].unwrap_or("")
}

/// Per account (by broker and account id), its rows on each side (positions, P&L).
type Group = [Vec<usize>; 2];

/// The rows of each frame (positions, P&L) grouped by account, one lookup per run of an
/// account's rows (`account_runs`).
fn group_by_account<'a>(sides: [&'a DataFrame; 2]) -> PolarsResult<Vec<Group>> {
    let mut groups: Vec<Group> = Vec::new();
    let mut numbers: PlHashMap<(&'a str, &'a str), usize> = PlHashMap::new();
    for (side, frame) in sides.into_iter().enumerate() {
        let (brokers, accounts) = (
            frame.column("broker")?.str()?,
            frame.column("account_id")?.str()?,
        );
        for ((b, a), rows) in account_runs(brokers, accounts) {
            let next = groups.len();
            let n = *numbers
                .entry((b.unwrap_or(""), a.unwrap_or("")))
                .or_insert(next);
            if n == next {
                groups.push(Group::default());
            }
            groups[n][side].extend(rows);
        }
    }
    Ok(groups)
}

/// Matches every position to its P&L row, account by account.
fn match_rows(positions: &DataFrame, pnl: &DataFrame) -> PolarsResult<Matches> {
    // Each column read once into a slice (`get(i)` finds the chunk of every value).
    let (p_id, p_symbol, p_under) = (
        texts(positions, "position_id")?,
        texts(positions, "symbol")?,
        texts(positions, "underlying")?,
    );
    let (l_id, l_symbol) = (texts(pnl, "position_id")?, texts(pnl, "symbol")?);
    let groups = group_by_account([positions, pnl])?;
    let mut matched = vec![None; positions.height()];
    let mut kinds = vec!["none"; positions.height()];
    let mut pnl_taken = vec![false; pnl.height()];
    for [pos_rows, pnl_rows] in &groups {
        if pos_rows.is_empty() {
            continue;
        }
        let pos_keys: Vec<PositionKeys> = pos_rows
            .iter()
            .map(|&i| PositionKeys {
                position_id: text_at(&p_id, i),
                symbol: text_at(&p_symbol, i),
                underlying: text_at(&p_under, i),
            })
            .collect();
        let pnl_keys: Vec<PnlKeys> = pnl_rows
            .iter()
            .map(|&i| PnlKeys {
                position_id: l_id[i],
                symbol: text_at(&l_symbol, i),
            })
            .collect();
        for (k, m) in match_pnl(&pos_keys, &pnl_keys).into_iter().enumerate() {
            if let Some((j, kind)) = m {
                matched[pos_rows[k]] = Some(pnl_rows[j] as IdxSize);
                kinds[pos_rows[k]] = kind.as_str();
                pnl_taken[pnl_rows[j]] = true;
            }
        }
    }
    Ok(Matches {
        pnl_of_position: matched,
        kinds,
        pnl_taken,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cases::Case;

    /// Accounts interleaved and split, rows whose account is not in `accounts`, an
    /// account without rows, one whose data is incomplete, the same id at two brokers.
    const BOOK: &str = r#"
description = "account columns by row number"
as_of = "2026-11-20"
[[account]]
account_id = "A"
[[account]]
account_id = "B"
data_complete = false
[[account]]
account_id = "C"
[[account]]
broker = "etrade"
account_id = "A"
[[balance]]
account_id = "A"
cash = "10"
net_liq = "30"
[[balance]]
account_id = "B"
cash = "5"
[[position]]
account_id = "A"
position_id = "1"
symbol = "X"
quantity = "2"
market_value = "20"
[[position]]
account_id = "B"
position_id = "2"
symbol = "Y"
quantity = "1"
[[position]]
account_id = "A"
position_id = "3"
symbol = "Z"
quantity = "-1"
market_value = "-5"
[[position]]
broker = "etrade"
account_id = "A"
position_id = "5"
symbol = "X"
quantity = "3"
market_value = "30"
[[position]]
account_id = "GONE"
position_id = "4"
symbol = "X"
quantity = "1"
[[pnl]]
account_id = "A"
position_id = "1"
symbol = "X"
exposure = "20"
[[pnl]]
account_id = "GONE"
symbol = "Q"
exposure = "1"
[[pnl]]
account_id = "B"
symbol = "W"
exposure = "2"
"#;

    #[test]
    fn views_taken_by_account_row_number_are_what_the_joins_give() {
        let case: Case = toml::from_str(BOOK).unwrap();
        let (book, incomplete) = case.book();
        let frames = recon_frames::build_frames(&book, &incomplete, &[]).unwrap();
        let as_of = case.as_of;
        let matches = match_rows(&frames.positions, &frames.pnl).unwrap();
        let numbers = AccountNumbers::of(&frames, ACCOUNT_ROW).unwrap();
        assert!(numbers.is_some());
        let both = |view: &dyn Fn(Option<&AccountNumbers>) -> PolarsResult<DataFrame>| {
            let sorted = |df: DataFrame| {
                df.sort(
                    ["broker", "account_id"],
                    SortMultipleOptions::default().with_maintain_order(true),
                )
                .unwrap()
            };
            let (taken, joined) = (view(numbers.as_ref()).unwrap(), view(None).unwrap());
            assert!(taken.height() > 0);
            assert_eq!(taken.get_column_names(), joined.get_column_names());
            assert!(
                sorted(taken.clone()).equals_missing(&sorted(joined.clone())),
                "{taken}\n{joined}"
            );
        };
        both(&|n| position_view(&frames, &matches, n.map(|n| &n.positions), as_of));
        both(&|n| pnl_view(&frames, &matches, n.map(|n| &n.pnl)));
        both(&|n| account_view(&frames, n, as_of));
    }
}
