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

use chrono::NaiveDate;
use polars::prelude::*;
use recon_frames::Frames;
use recon_frames::books::BookFrames;
use recon_frames::exact::from_units;
use recon_frames::schema::money_dtype;
use recon_model::pnl_match::{PnlKeys, PositionKeys, match_pnl};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

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
        all.insert("position_view", position_view(frames, &matches, as_of)?);
        let pnl_view = pnl_view(frames, &matches)?;
        all.insert("pnl_orphans", pnl_orphans(&pnl_view)?);
        all.insert("pnl_view", pnl_view);
        all.insert("account_view", account_view(frames, as_of)?);
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

fn account_view(frames: &Frames, as_of: NaiveDate) -> PolarsResult<DataFrame> {
    let balances = frames
        .balances
        .clone()
        .lazy()
        .filter(col("currency").eq(lit(BASE_CURRENCY)));
    let positions = frames.positions.clone().lazy().group_by(keys()).agg([
        len().alias("position_count"),
        col("net_liq_value").sum().alias("__value_sum"),
        col("net_liq_value").null_count().alias("unvalued_count"),
        col("market_value").abs().sum().alias("gross_exposure"),
    ]);
    let pnl = frames.pnl.clone().lazy().group_by(keys()).agg([
        len().alias("pnl_row_count"),
        col("exposure").sum().alias("pnl_exposure"),
    ]);
    let has_positions = col("position_count").is_not_null();
    frames
        .accounts
        .clone()
        .lazy()
        .join(balances, keys(), keys(), left())
        .join(positions, keys(), keys(), left())
        .join(pnl, keys(), keys(), left())
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
        .collect()
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
fn position_view(frames: &Frames, matches: &Matches, as_of: NaiveDate) -> PolarsResult<DataFrame> {
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
    let accounts = frames.accounts.clone().lazy().select([
        col("broker"),
        col("account_id"),
        col("account_kind"),
        col("is_paper"),
        col("status").alias("account_status"),
        col("options_level"),
        col("data_complete"),
    ]);
    with_pnl
        .lazy()
        .join(accounts, keys(), keys(), left())
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
fn pnl_view(frames: &Frames, matches: &Matches) -> PolarsResult<DataFrame> {
    let taken =
        BooleanChunked::from_iter_values("__taken".into(), matches.pnl_taken.iter().copied())
            .into_column();
    let accounts = frames.accounts.clone().lazy().select([
        col("broker"),
        col("account_id"),
        col("data_complete"),
    ]);
    let mut pnl = frames.pnl.clone();
    pnl.with_column(taken)?;
    pnl.lazy()
        .join(accounts, keys(), keys(), left())
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

/// Matches every position to its P&L row, account by account.
fn match_rows(positions: &DataFrame, pnl: &DataFrame) -> PolarsResult<Matches> {
    let text = |df: &DataFrame, name: &str| -> PolarsResult<StringChunked> {
        Ok(df.column(name)?.str()?.clone())
    };
    let (p_broker, p_account, p_id, p_symbol, p_under) = (
        text(positions, "broker")?,
        text(positions, "account_id")?,
        text(positions, "position_id")?,
        text(positions, "symbol")?,
        text(positions, "underlying")?,
    );
    let (l_broker, l_account, l_id, l_symbol) = (
        text(pnl, "broker")?,
        text(pnl, "account_id")?,
        text(pnl, "position_id")?,
        text(pnl, "symbol")?,
    );
    type Group = (Vec<usize>, Vec<usize>);
    let mut groups: HashMap<(&str, &str), Group> = HashMap::new();
    for i in 0..positions.height() {
        let key = (
            p_broker.get(i).unwrap_or(""),
            p_account.get(i).unwrap_or(""),
        );
        groups.entry(key).or_default().0.push(i);
    }
    for i in 0..pnl.height() {
        let key = (
            l_broker.get(i).unwrap_or(""),
            l_account.get(i).unwrap_or(""),
        );
        groups.entry(key).or_default().1.push(i);
    }
    let mut matched = vec![None; positions.height()];
    let mut kinds = vec!["none"; positions.height()];
    let mut pnl_taken = vec![false; pnl.height()];
    for (pos_rows, pnl_rows) in groups.values() {
        if pos_rows.is_empty() {
            continue;
        }
        let pos_keys: Vec<PositionKeys> = pos_rows
            .iter()
            .map(|&i| PositionKeys {
                position_id: p_id.get(i).unwrap_or(""),
                symbol: p_symbol.get(i).unwrap_or(""),
                underlying: p_under.get(i).unwrap_or(""),
            })
            .collect();
        let pnl_keys: Vec<PnlKeys> = pnl_rows
            .iter()
            .map(|&i| PnlKeys {
                position_id: l_id.get(i),
                symbol: l_symbol.get(i).unwrap_or(""),
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
