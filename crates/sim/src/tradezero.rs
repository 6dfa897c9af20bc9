//! TradeZero's REST API (BROKERS.md §2): `GET /v1/api/accounts`, `/v1/api/account/{id}`
//! (singular), `/v1/api/accounts/{id}/positions` and `/pnl`.
//!
//! Faithful to the quirks a connector must survive: two static auth headers and no token;
//! every auth failure, foreign or unknown account answered `404 text/plain "Not found\n"`
//! (so accounts cannot be enumerated); an empty id answered Go-style `404 page not found`;
//! case-insensitive account ids and a tolerated trailing slash; all numbers as JSON numbers;
//! `…Pnl` vs `…PnL` casing; options with the root in `symbol` and the OCC in `tradedSymbol`;
//! short options sometimes with negative `shares`; `priceClose` 0 while open; P&L rows only
//! for lots with a quote, plus lots closed today with exposure 0.

use crate::book::{SimAccount, SimBook, SimPosition};
use crate::wire::{Num, json};
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get};
use recon_model::{AccountKind, AccountStatus, Broker, PutCall};
use rust_decimal::Decimal;
use serde::Serialize;
use std::collections::HashMap;
use std::sync::Arc;

pub const KEY_ID_HEADER: &str = "tz-api-key-id";
pub const SECRET_HEADER: &str = "tz-api-secret-key";

/// The key pair the simulated TradeZero accepts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Credentials {
    pub api_key_id: String,
    pub api_secret_key: String,
}

impl Credentials {
    /// This broker's values among the simulator's credentials.
    pub fn from_sim(sim: &crate::SimCredentials) -> Self {
        Credentials {
            api_key_id: sim.get(Broker::Tradezero, "api_key_id").to_string(),
            api_secret_key: sim.get(Broker::Tradezero, "api_secret_key").to_string(),
        }
    }
}

/// Which of the documented response shapes to serve (they drift between docs revisions).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Dialect {
    /// `[{accountId, accountName, accountType, status}]` instead of `{"accounts": [rich…]}`.
    pub slim_account_list: bool,
    /// `bp` instead of `buyingPower` in account details.
    pub bp_field: bool,
    /// A bare array instead of `{"positions": […]}`.
    pub bare_positions: bool,
}

struct Tz {
    book: Arc<SimBook>,
    credentials: Credentials,
    dialect: Dialect,
    /// Upper-cased account id → index in the book, so a 10,000-account book is served in
    /// constant time per request.
    index: HashMap<String, usize>,
}

pub fn router(book: Arc<SimBook>, credentials: Credentials, dialect: Dialect) -> Router {
    let index = book
        .accounts
        .iter()
        .enumerate()
        .filter(|(_, a)| a.broker == Broker::Tradezero)
        .map(|(i, a)| (a.id.to_ascii_uppercase(), i))
        .collect();
    let state = Arc::new(Tz {
        book,
        credentials,
        dialect,
        index,
    });
    let mut app = Router::new();
    // Every route also answers with a trailing slash, as the real gateway does.
    for (path, route) in [
        ("/v1/api/accounts", only_get(get(list_accounts))),
        ("/v1/api/account/{id}", only_get(get(account_details))),
        ("/v1/api/accounts/{id}/positions", only_get(get(positions))),
        ("/v1/api/accounts/{id}/pnl", only_get(get(pnl))),
    ] {
        app = app
            .route(path, route.clone())
            .route(&format!("{path}/"), route);
    }
    app.fallback(|| async { text(StatusCode::NOT_FOUND, "404 page not found") })
        .with_state(state)
}

/// GET answers; OPTIONS is a CORS preflight (200, no auth); HEAD and writes are refused.
fn only_get(route: MethodRouter<Arc<Tz>>) -> MethodRouter<Arc<Tz>> {
    route
        .options(|| async { StatusCode::OK })
        .head(|| async { StatusCode::METHOD_NOT_ALLOWED })
        .fallback(|| async { StatusCode::METHOD_NOT_ALLOWED })
}

fn text(status: StatusCode, body: &'static str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        body,
    )
        .into_response()
}

fn not_found() -> Response {
    text(StatusCode::NOT_FOUND, "Not found\n")
}

impl Tz {
    fn authorized(&self, headers: &HeaderMap) -> bool {
        let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        get(KEY_ID_HEADER) == Some(self.credentials.api_key_id.as_str())
            && get(SECRET_HEADER) == Some(self.credentials.api_secret_key.as_str())
    }

    /// The account behind an id, case-insensitively; `None` for unknown and foreign ids alike.
    fn account(&self, id: &str) -> Option<&SimAccount> {
        let i = *self.index.get(&id.to_ascii_uppercase())?;
        self.book.accounts.get(i)
    }

    /// The account a request may read, or the 404 TradeZero answers instead.
    fn authorized_account(&self, headers: &HeaderMap, id: &str) -> Result<&SimAccount, Refusal> {
        if id.is_empty() {
            return Err(Refusal::EmptyId);
        }
        match self.account(id) {
            Some(a) if self.authorized(headers) => Ok(a),
            _ => Err(Refusal::NotFound),
        }
    }
}

/// Why a request gets no account.
enum Refusal {
    /// Bad credentials, unknown or foreign account: indistinguishable on purpose.
    NotFound,
    /// `/accounts//positions` never reaches TradeZero's handlers: Go's router answers.
    EmptyId,
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Refusal::NotFound => not_found(),
            Refusal::EmptyId => text(StatusCode::NOT_FOUND, "404 page not found"),
        }
    }
}

fn account_type(kind: AccountKind) -> &'static str {
    match kind {
        AccountKind::Cash | AccountKind::IraCash => "Cash",
        AccountKind::Paper => "Paper",
        _ => "Margin",
    }
}

fn account_status(status: AccountStatus) -> &'static str {
    match status {
        AccountStatus::Active | AccountStatus::Unknown => "Active",
        AccountStatus::Restricted => "Restricted",
        AccountStatus::Closed => "Closed",
    }
}

fn allowed_leverage(kind: AccountKind) -> Decimal {
    match kind {
        AccountKind::Margin | AccountKind::IraMargin => Decimal::from(4),
        _ => Decimal::ONE,
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RichAccount {
    account: String,
    account_status: &'static str,
    account_type: &'static str,
    available_cash: Num,
    #[serde(skip_serializing_if = "Option::is_none")]
    buying_power: Option<Num>,
    #[serde(skip_serializing_if = "Option::is_none")]
    bp: Option<Num>,
    overnight_bp: Num,
    equity: Num,
    sod_equity: Num,
    leverage: Num,
    used_leverage: Num,
    margin_ratio: Num,
    maintenance_deficit: Num,
    opt_level: u8,
    option_trading_level: u8,
    realized: Num,
    shares_traded: u32,
    total_commissions: Num,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SlimAccount {
    account_id: String,
    account_name: Option<String>,
    account_type: &'static str,
    status: &'static str,
}

fn rich_account(a: &SimAccount, dialect: Dialect) -> RichAccount {
    let bp = a.reported_buying_power();
    let net_liq = a.reported_net_liq();
    RichAccount {
        account: a.id.clone(),
        account_status: account_status(a.status),
        account_type: account_type(a.kind),
        available_cash: Num(a.cash),
        buying_power: (!dialect.bp_field).then_some(Num(bp)),
        bp: dialect.bp_field.then_some(Num(bp)),
        overnight_bp: Num(bp / Decimal::TWO),
        equity: Num(net_liq),
        sod_equity: Num(net_liq),
        leverage: Num(allowed_leverage(a.kind)),
        used_leverage: Num(used_leverage(a)),
        margin_ratio: Num(Decimal::ONE_HUNDRED),
        maintenance_deficit: Num(Decimal::ZERO),
        opt_level: a.options_level.unwrap_or(0),
        option_trading_level: a.options_level.unwrap_or(0),
        realized: Num(a.closed_today.iter().map(|l| l.realized_pnl).sum()),
        shares_traded: 0,
        total_commissions: Num(Decimal::ZERO),
    }
}

/// Σ per-row exposure of /pnl: quoted lots and orphan rows.
fn exposure(a: &SimAccount) -> Decimal {
    let lots: Decimal = a
        .positions
        .iter()
        .filter(|p| !p.pnl_missing)
        .map(|p| p.market_value().abs())
        .sum();
    lots + a
        .orphan_pnl
        .iter()
        .map(|o| o.exposure.abs())
        .sum::<Decimal>()
}

fn used_leverage(a: &SimAccount) -> Decimal {
    let value = a.reported_net_liq();
    if value.is_zero() {
        Decimal::ZERO
    } else {
        (exposure(a) / value).round_dp(2)
    }
}

async fn list_accounts(State(tz): State<Arc<Tz>>, headers: HeaderMap) -> Response {
    if !tz.authorized(&headers) {
        return not_found();
    }
    let accounts = tz.book.accounts_of(Broker::Tradezero);
    if tz.dialect.slim_account_list {
        let list: Vec<SlimAccount> = accounts
            .map(|a| SlimAccount {
                account_id: a.id.clone(),
                account_name: a.name.clone(),
                account_type: account_type(a.kind),
                status: account_status(a.status),
            })
            .collect();
        json(&list)
    } else {
        #[derive(Serialize)]
        struct Envelope {
            accounts: Vec<RichAccount>,
        }
        json(&Envelope {
            accounts: accounts.map(|a| rich_account(a, tz.dialect)).collect(),
        })
    }
}

async fn account_details(
    State(tz): State<Arc<Tz>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    match tz.authorized_account(&headers, &id) {
        Ok(a) => json(&rich_account(a, tz.dialect)),
        Err(refusal) => refusal.into_response(),
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PositionRow {
    account_id: String,
    created_date: String,
    day_overnight: &'static str,
    maintenance_requirement: Num,
    margin_requirement: Num,
    position_id: String,
    price_avg: Num,
    price_close: Num,
    price_open: Num,
    price_strike: Num,
    put_call: &'static str,
    root_symbol: Option<String>,
    security_type: &'static str,
    shares: Num,
    side: &'static str,
    symbol: String,
    traded_symbol: Option<String>,
    updated_date: String,
}

fn position_row(a: &SimAccount, p: &SimPosition, stamp: &str) -> PositionRow {
    let option = p.option();
    let short = p.quantity.is_sign_negative();
    // Short option rows come with negative shares, stock rows unsigned: both happen live.
    let shares = if short && option.is_some() {
        -p.quantity.abs()
    } else {
        p.quantity.abs()
    };
    PositionRow {
        account_id: a.id.clone(),
        created_date: stamp.to_string(),
        day_overnight: "Overnight",
        maintenance_requirement: Num(p.maintenance_requirement),
        margin_requirement: Num(p.maintenance_requirement),
        position_id: p.id.clone(),
        price_avg: Num(p.avg_price),
        price_close: Num(Decimal::ZERO),
        price_open: Num(p.avg_price),
        price_strike: Num(option.as_ref().map_or(Decimal::ZERO, |o| o.strike())),
        put_call: match option.as_ref().map(|o| o.put_call()) {
            Some(PutCall::Call) => "Call",
            Some(PutCall::Put) => "Put",
            None => "None",
        },
        root_symbol: None,
        security_type: if option.is_some() { "Option" } else { "Stock" },
        shares: Num(shares),
        side: if p.malformed {
            "Sideways"
        } else if short {
            "Short"
        } else {
            "Long"
        },
        symbol: option
            .as_ref()
            .map_or_else(|| p.symbol.clone(), |o| o.root().to_string()),
        traded_symbol: option.as_ref().map(|o| o.compact()),
        updated_date: stamp.to_string(),
    }
}

async fn positions(
    State(tz): State<Arc<Tz>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let a = match tz.authorized_account(&headers, &id) {
        Ok(a) => a,
        Err(refusal) => return refusal.into_response(),
    };
    // Seven fractional digits and `+00:00`, as TradeZero writes them.
    let stamp = format!("{}T14:30:00.1234567+00:00", tz.book.as_of);
    let rows: Vec<PositionRow> = a
        .positions
        .iter()
        .map(|p| position_row(a, p, &stamp))
        .collect();
    if tz.dialect.bare_positions {
        json(&rows)
    } else {
        #[derive(Serialize)]
        struct Envelope {
            positions: Vec<PositionRow>,
        }
        json(&Envelope { positions: rows })
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PnlRow {
    position_id: String,
    symbol: String,
    exposure: Num,
    realized_pnl: Num,
    #[serde(rename = "unrealizedPnL")]
    unrealized_pnl: Num,
    day_realized_pnl: Num,
    #[serde(rename = "dayUnrealizedPnL")]
    day_unrealized_pnl: Num,
    #[serde(rename = "pctPnLMove")]
    pct_pnl_move: Num,
    #[serde(rename = "dayPctPnLMove")]
    day_pct_pnl_move: Num,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PnlBody {
    account_value: Num,
    allowed_leverage: Num,
    available_cash: Num,
    day_pnl: Num,
    day_realized: Num,
    day_unrealized: Num,
    equity_ratio: Num,
    exposure: Num,
    option_cash_used: Num,
    pnl: Vec<PnlRow>,
    shares_traded: u32,
    total_unrealized: Num,
    used_leverage: Num,
}

fn percent(part: Decimal, whole: Decimal) -> Decimal {
    if whole.is_zero() {
        Decimal::ZERO
    } else {
        (part / whole * Decimal::ONE_HUNDRED).round_dp(2)
    }
}

async fn pnl(State(tz): State<Arc<Tz>>, Path(id): Path<String>, headers: HeaderMap) -> Response {
    let a = match tz.authorized_account(&headers, &id) {
        Ok(a) => a,
        Err(refusal) => return refusal.into_response(),
    };
    let quoted: Vec<&SimPosition> = a.positions.iter().filter(|p| !p.pnl_missing).collect();
    let mut rows: Vec<PnlRow> = quoted
        .iter()
        .map(|p| {
            let cost = (p.avg_price * p.quantity * p.multiplier()).abs();
            PnlRow {
                position_id: p.id.clone(),
                symbol: p.option().map_or_else(|| p.symbol.clone(), |o| o.compact()),
                exposure: Num(p.market_value().abs()),
                realized_pnl: Num(Decimal::ZERO),
                unrealized_pnl: Num(p.unrealized_pnl()),
                day_realized_pnl: Num(Decimal::ZERO),
                day_unrealized_pnl: Num(p.day_pnl),
                pct_pnl_move: Num(percent(p.unrealized_pnl(), cost)),
                day_pct_pnl_move: Num(percent(p.day_pnl, cost)),
            }
        })
        .collect();
    rows.extend(a.orphan_pnl.iter().map(|o| PnlRow {
        position_id: o.id.clone(),
        symbol: o.symbol.clone(),
        exposure: Num(o.exposure.abs()),
        realized_pnl: Num(Decimal::ZERO),
        unrealized_pnl: Num(o.unrealized_pnl),
        day_realized_pnl: Num(Decimal::ZERO),
        day_unrealized_pnl: Num(Decimal::ZERO),
        pct_pnl_move: Num(Decimal::ZERO),
        day_pct_pnl_move: Num(Decimal::ZERO),
    }));
    rows.extend(a.closed_today.iter().map(|l| PnlRow {
        position_id: l.id.clone(),
        symbol: l.symbol.clone(),
        exposure: Num(Decimal::ZERO),
        realized_pnl: Num(l.realized_pnl),
        unrealized_pnl: Num(Decimal::ZERO),
        day_realized_pnl: Num(l.realized_pnl),
        day_unrealized_pnl: Num(Decimal::ZERO),
        pct_pnl_move: Num(Decimal::ZERO),
        day_pct_pnl_move: Num(Decimal::ZERO),
    }));
    let day_realized: Decimal = a.closed_today.iter().map(|l| l.realized_pnl).sum();
    let day_unrealized: Decimal = quoted.iter().map(|p| p.day_pnl).sum();
    json(&PnlBody {
        account_value: Num(a.reported_net_liq()),
        allowed_leverage: Num(allowed_leverage(a.kind)),
        available_cash: Num(a.cash),
        day_pnl: Num(day_realized + day_unrealized),
        day_realized: Num(day_realized),
        day_unrealized: Num(day_unrealized),
        equity_ratio: Num(Decimal::ONE),
        exposure: Num(exposure(a)),
        option_cash_used: Num(Decimal::ZERO),
        pnl: rows,
        shares_traded: 0,
        total_unrealized: Num(quoted.iter().map(|p| p.unrealized_pnl()).sum()),
        used_leverage: Num(used_leverage(a)),
    })
}

/// The position id recon reads back for `p` (TradeZero's own `positionId`).
pub fn position_id(_a: &SimAccount, p: &SimPosition) -> String {
    p.id.clone()
}
