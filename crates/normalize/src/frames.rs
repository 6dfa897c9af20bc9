//! Canonical rows → the five canonical frames. Columns are built one at a time from the rows
//! (no row-by-row AnyValue path), with the names and types of DESIGN.md.

use crate::schema::{date, flag, money, text, timestamp};
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

impl Frames {
    /// Frames by name, for views and rules written against them.
    pub fn named(&self) -> [(&'static str, &DataFrame); 6] {
        [
            ("accounts", &self.accounts),
            ("balances", &self.balances),
            ("positions", &self.positions),
            ("pnl", &self.pnl),
            ("quarantine", &self.quarantine),
            ("fetch_errors", &self.fetch_errors),
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
    Ok(Frames {
        accounts: accounts(&book.accounts, incomplete)?,
        balances: balances(&book.balances)?,
        positions: positions(&book.positions)?,
        pnl: pnl(&book.pnl)?,
        quarantine: quarantine(&book.quarantine)?,
        fetch_errors: fetch_error_frame(fetch_errors)?,
    })
}

fn accounts(
    rows: &[AccountRow],
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

fn balances(rows: &[BalanceRow]) -> PolarsResult<DataFrame> {
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

fn positions(rows: &[PositionRow]) -> PolarsResult<DataFrame> {
    DataFrame::new(
        rows.len(),
        vec![
            text("broker", rows.iter().map(|r| Some(r.broker.as_str()))),
            text(
                "account_id",
                rows.iter().map(|r| Some(r.account_id.as_str())),
            ),
            text(
                "position_id",
                rows.iter().map(|r| Some(r.position_id.as_str())),
            ),
            text("symbol", rows.iter().map(|r| Some(r.symbol.as_str()))),
            text(
                "underlying",
                rows.iter().map(|r| Some(r.underlying.as_str())),
            ),
            text(
                "instrument",
                rows.iter().map(|r| Some(r.instrument.as_str())),
            ),
            text(
                "put_call",
                rows.iter().map(|r| r.put_call.map(|p| p.as_str())),
            ),
            money("strike", rows.iter().map(|r| r.strike)),
            date("expires_at", rows.iter().map(|r| r.expires_at)),
            money("quantity", rows.iter().map(|r| Some(r.quantity))),
            text("side", rows.iter().map(|r| r.side.map(|s| s.as_str()))),
            money("multiplier", rows.iter().map(|r| Some(r.multiplier))),
            money("avg_price", rows.iter().map(|r| r.avg_price)),
            money("mark", rows.iter().map(|r| r.mark)),
            money("close_price", rows.iter().map(|r| r.close_price)),
            money("market_value", rows.iter().map(|r| r.market_value)),
            money("net_liq_value", rows.iter().map(|r| r.net_liq_value)),
            money("cost_basis", rows.iter().map(|r| r.cost_basis)),
            money("unrealized_pnl", rows.iter().map(|r| r.unrealized_pnl)),
            flag("pnl_expected", rows.iter().map(|r| Some(r.pnl_expected))),
            timestamp("updated_at", rows.iter().map(|r| r.updated_at)),
        ],
    )
}

fn pnl(rows: &[PnlRow]) -> PolarsResult<DataFrame> {
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

fn quarantine(rows: &[QuarantineRow]) -> PolarsResult<DataFrame> {
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
