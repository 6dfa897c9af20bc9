//! Clear Street's Active Trading API v1 (BROKERS.md §3): `GET /v1/accounts`,
//! `/v1/accounts/{id}/balances` and `/v1/accounts/{id}/positions`.
//!
//! Faithful to what a connector must survive: a bearer token (401 without one, 403 with a
//! wrong one); the `{data, error, metadata}` envelope on every answer, errors included
//! (`data` omitted on error); every amount a decimal string; int64 account ids (JSON
//! numbers in bodies, 400 for a path id that is not one, 404 for an unknown one); lists paged
//! by opaque base64url `page_token`s with `next_page_token` in `metadata` (`page_size`
//! 1–1000, ignored when a token is given); signed quantities; options as compact OSI symbols
//! with `market_value` already multiplied; `short_market_value` omitted when there is none;
//! `margin_details` only on margin accounts.

// A refusal is the handler's answer, returned once per request: boxing it buys nothing.
#![allow(clippy::result_large_err)]

use crate::book::{SimAccount, SimBook, SimPosition};
use crate::wire::{base64url, dec_str, from_base64url, json, json_status, stable_uuid};
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use axum::routing::get;
use recon_model::Broker;
use rust_decimal::Decimal;
use serde::Serialize;
use std::collections::HashMap;
use std::sync::Arc;

/// The largest page Clear Street serves.
pub const MAX_PAGE_SIZE: usize = 1000;

/// The bearer token the simulated Clear Street accepts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Credentials {
    pub api_key: String,
}

impl Credentials {
    /// This broker's values among the simulator's credentials.
    pub fn from_sim(sim: &crate::SimCredentials) -> Self {
        Credentials {
            api_key: sim.get(Broker::Clearstreet, "api_key").to_string(),
        }
    }
}

/// How this Clear Street answers beyond the documented defaults.
#[derive(Debug, Clone, Copy, Default)]
pub struct Dialect {
    /// Serve at most this many items a page even when more are asked (tests use it to make
    /// small books page).
    pub page_size_cap: Option<usize>,
    /// The older enum revision: `position_type` LONG_CALL/SHORT_PUT… and PREFERRED_STOCK.
    pub old_enums: bool,
    /// Fault: the second page's `next_page_token` points back at the second page.
    pub paging_loop: bool,
}

struct Cs {
    book: Arc<SimBook>,
    credentials: Credentials,
    dialect: Dialect,
    /// Account id → index in the book.
    index: HashMap<i64, usize>,
    /// Clear Street accounts in book order.
    order: Vec<usize>,
}

pub fn router(book: Arc<SimBook>, credentials: Credentials, dialect: Dialect) -> Router {
    let mut index = HashMap::new();
    let mut order = Vec::new();
    for (i, a) in book.accounts.iter().enumerate() {
        if a.broker == Broker::Clearstreet {
            if let Ok(id) = a.id.parse::<i64>() {
                index.insert(id, i);
                order.push(i);
            } else {
                tracing::warn!(account = %a.id, "Clear Street account ids are int64; not served");
            }
        }
    }
    let state = Arc::new(Cs {
        book,
        credentials,
        dialect,
        index,
        order,
    });
    Router::new()
        .route("/v1/accounts", get(list_accounts))
        .route("/v1/accounts/{id}/balances", get(balances))
        .route("/v1/accounts/{id}/positions", get(positions))
        .fallback(|| async {
            error(
                StatusCode::NOT_FOUND,
                "Some requested entity was not found",
                "fallback",
            )
        })
        .with_state(state)
}

#[derive(Serialize)]
struct ApiError<'a> {
    code: u16,
    message: &'a str,
}

#[derive(Serialize, Default)]
struct Metadata {
    request_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    page_number: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    total_items: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    total_pages: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_page_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    previous_page_token: Option<String>,
}

#[derive(Serialize)]
struct Envelope<T> {
    data: T,
    error: Option<ApiError<'static>>,
    metadata: Metadata,
}

/// An error envelope: `error` and `metadata`, no `data` (as the live API writes them).
fn error(status: StatusCode, message: &str, request: &str) -> Response {
    #[derive(Serialize)]
    struct ErrorEnvelope<'a> {
        error: ApiError<'a>,
        metadata: Metadata,
    }
    json_status(
        status,
        &ErrorEnvelope {
            error: ApiError {
                code: status.as_u16(),
                message,
            },
            metadata: Metadata {
                request_id: stable_uuid(&["clearstreet", request, message]),
                ..Metadata::default()
            },
        },
    )
}

impl Cs {
    /// `Ok` for the right bearer token; the 401/403 envelope otherwise.
    fn check_auth(&self, headers: &HeaderMap, request: &str) -> Result<(), Response> {
        let token = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        match token {
            None => Err(error(
                StatusCode::UNAUTHORIZED,
                "Request is missing a valid bearer token",
                request,
            )),
            Some(t) if t == self.credentials.api_key => Ok(()),
            Some(_) => Err(error(
                StatusCode::FORBIDDEN,
                "The caller does not have permission to execute the specified operation",
                request,
            )),
        }
    }

    fn account(&self, headers: &HeaderMap, id: &str) -> Result<&SimAccount, Response> {
        let request = format!("/v1/accounts/{id}");
        self.check_auth(headers, &request)?;
        let Ok(n) = id.parse::<i64>() else {
            return Err(error(
                StatusCode::BAD_REQUEST,
                "account_id must be an int64",
                &request,
            ));
        };
        self.index
            .get(&n)
            .and_then(|&i| self.book.accounts.get(i))
            .ok_or_else(|| {
                error(
                    StatusCode::NOT_FOUND,
                    "Some requested entity was not found",
                    &request,
                )
            })
    }
}

/// One page of `total` items: the range to serve and the metadata, or the 400 answer.
fn page(
    params: &HashMap<String, String>,
    total: usize,
    dialect: Dialect,
    request: &str,
) -> Result<(std::ops::Range<usize>, Metadata), Response> {
    let bad = |m: &str| error(StatusCode::BAD_REQUEST, m, request);
    let (offset, size) = match params.get("page_token").filter(|t| !t.is_empty()) {
        Some(token) => decode_token(token).ok_or_else(|| bad("page_token is not valid"))?,
        None => {
            let size = match params.get("page_size") {
                None => MAX_PAGE_SIZE,
                Some(s) => match s.parse::<usize>() {
                    Ok(n) if (1..=MAX_PAGE_SIZE).contains(&n) => n,
                    _ => return Err(bad("page_size must be between 1 and 1000")),
                },
            };
            (0, size)
        }
    };
    let size = dialect
        .page_size_cap
        .map_or(size, |cap| size.min(cap.max(1)));
    let end = (offset + size).min(total);
    let start = offset.min(end);
    let page_number = offset / size + 1;
    let mut next = (end < total).then(|| encode_token(end, size));
    if dialect.paging_loop && page_number == 2 {
        // The fault: hand back the token of this very page.
        next = Some(encode_token(offset, size));
    }
    Ok((
        start..end,
        Metadata {
            request_id: stable_uuid(&["clearstreet", request, &offset.to_string()]),
            page_number: Some(page_number),
            total_items: Some(total),
            total_pages: Some(total.div_ceil(size).max(1)),
            next_page_token: next,
            previous_page_token: (offset > 0)
                .then(|| encode_token(offset.saturating_sub(size), size)),
        },
    ))
}

fn encode_token(offset: usize, size: usize) -> String {
    base64url(format!("offset={offset}&size={size}").as_bytes())
}

fn decode_token(token: &str) -> Option<(usize, usize)> {
    let text = String::from_utf8(from_base64url(token)?).ok()?;
    let (offset, size) = text.split_once('&')?;
    let offset = offset.strip_prefix("offset=")?.parse().ok()?;
    let size: usize = size.strip_prefix("size=")?.parse().ok()?;
    (size >= 1).then_some((offset, size))
}

#[derive(Serialize)]
struct Account {
    id: i64,
    short_name: String,
    full_name: String,
    #[serde(rename = "type")]
    kind: &'static str,
    subtype: &'static str,
    status: &'static str,
    open_date: String,
    close_date: Option<String>,
    options_level: u8,
    account_holder_entity_id: i64,
}

fn account(a: &SimAccount, as_of: chrono::NaiveDate) -> Account {
    use recon_model::{AccountKind, AccountStatus};
    let id = a.id.parse().unwrap_or_default();
    Account {
        id,
        short_name: a.name.clone().unwrap_or_else(|| format!("ACCT{id}")),
        full_name: a.name.clone().unwrap_or_else(|| format!("Account {id}")),
        kind: "CUSTOMER",
        subtype: match a.kind {
            AccountKind::Cash | AccountKind::IraCash => "CASH",
            AccountKind::Margin | AccountKind::IraMargin => "MARGIN",
            _ => "OTHER",
        },
        status: match a.status {
            AccountStatus::Closed => "CLOSED",
            AccountStatus::Restricted => "INACTIVE",
            _ => "ACTIVE",
        },
        open_date: "2021-03-01".into(),
        close_date: (a.status == AccountStatus::Closed).then(|| as_of.to_string()),
        options_level: a.options_level.unwrap_or(0),
        account_holder_entity_id: 900_000 + id,
    }
}

async fn list_accounts(
    State(cs): State<Arc<Cs>>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let request = "/v1/accounts";
    if let Err(refused) = cs.check_auth(&headers, request) {
        return refused;
    }
    let (range, metadata) = match page(&params, cs.order.len(), cs.dialect, request) {
        Ok(p) => p,
        Err(bad) => return bad,
    };
    let data: Vec<Account> = cs.order[range]
        .iter()
        .filter_map(|&i| cs.book.accounts.get(i))
        .map(|a| account(a, cs.book.as_of))
        .collect();
    json(&Envelope {
        data,
        error: None,
        metadata,
    })
}

#[derive(Serialize)]
struct Sod {
    asof: String,
    equity: String,
    buying_power: String,
    long_market_value: String,
    short_market_value: String,
}

#[derive(Serialize)]
struct MarginDetails {
    initial_margin_requirement: String,
    initial_margin_excess: String,
    maintenance_margin_requirement: String,
    maintenance_margin_excess: String,
}

#[derive(Serialize)]
struct Balances {
    account_id: i64,
    currency: &'static str,
    equity: String,
    buying_power: String,
    settled_cash: String,
    trade_cash: String,
    withdrawable_cash: String,
    unsettled_credits: String,
    unsettled_debits: String,
    open_order_adjustment: String,
    long_market_value: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    short_market_value: Option<String>,
    unrealized_pnl: String,
    daily_unrealized_pnl: String,
    daily_realized_pnl: String,
    daily_pnl: String,
    daily_change: String,
    margin_type: &'static str,
    sod: Sod,
    #[serde(skip_serializing_if = "Option::is_none")]
    margin_details: Option<MarginDetails>,
}

async fn balances(
    State(cs): State<Arc<Cs>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let a = match cs.account(&headers, &id) {
        Ok(a) => a,
        Err(refused) => return refused,
    };
    let s = |d: Decimal| dec_str(d, 2);
    let net_liq = a.reported_net_liq();
    let (long, short) = a.long_short_value();
    let unrealized: Decimal = a.positions.iter().map(SimPosition::unrealized_pnl).sum();
    let day_unrealized: Decimal = a.positions.iter().map(|p| p.day_pnl).sum();
    let day_realized: Decimal = a.closed_today.iter().map(|l| l.realized_pnl).sum();
    let maintenance = a.maintenance_requirement();
    let initial = maintenance * Decimal::new(15, 1);
    let margin = a.is_margin();
    json(&Envelope {
        data: Balances {
            account_id: a.id.parse().unwrap_or_default(),
            currency: "USD",
            equity: s(net_liq),
            buying_power: s(a.reported_buying_power()),
            settled_cash: s(a.cash),
            trade_cash: s(a.cash),
            withdrawable_cash: s(a.cash.max(Decimal::ZERO)),
            unsettled_credits: s(Decimal::ZERO),
            unsettled_debits: s(Decimal::ZERO),
            open_order_adjustment: s(Decimal::ZERO),
            long_market_value: s(long),
            short_market_value: (!short.is_zero()).then(|| s(short)),
            unrealized_pnl: s(unrealized),
            daily_unrealized_pnl: s(day_unrealized),
            daily_realized_pnl: s(day_realized),
            daily_pnl: s(day_unrealized + day_realized),
            daily_change: s(day_unrealized + day_realized),
            margin_type: if margin { "REG_T" } else { "NONE" },
            sod: Sod {
                asof: cs.book.as_of.to_string(),
                equity: s(net_liq - day_unrealized - day_realized),
                buying_power: s(a.reported_buying_power()),
                long_market_value: s(long),
                short_market_value: s(short),
            },
            margin_details: margin.then(|| MarginDetails {
                initial_margin_requirement: s(initial),
                initial_margin_excess: s(net_liq - initial),
                maintenance_margin_requirement: s(maintenance),
                maintenance_margin_excess: s(a.margin_excess()),
            }),
        },
        error: None,
        metadata: Metadata {
            request_id: stable_uuid(&["clearstreet", &id, "balances"]),
            ..Metadata::default()
        },
    })
}

#[derive(Serialize)]
struct Position {
    account_id: i64,
    available_quantity: String,
    avg_price: String,
    closing_price: String,
    closing_price_date: String,
    cost_basis: String,
    daily_unrealized_pnl: String,
    instrument_id: String,
    instrument_price: String,
    instrument_type: &'static str,
    market_value: String,
    position_type: &'static str,
    quantity: String,
    symbol: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    underlying_instrument_id: Option<String>,
    unrealized_pnl: String,
}

fn position(a: &SimAccount, p: &SimPosition, dialect: Dialect, as_of: &str) -> Position {
    let s = |d: Decimal| dec_str(d, 2);
    let option = p.option();
    let short = p.quantity.is_sign_negative();
    let position_type = match (&option, short, dialect.old_enums) {
        (Some(o), _, true) => match (o.put_call(), short) {
            (recon_model::PutCall::Call, false) => "LONG_CALL",
            (recon_model::PutCall::Call, true) => "SHORT_CALL",
            (recon_model::PutCall::Put, false) => "LONG_PUT",
            (recon_model::PutCall::Put, true) => "SHORT_PUT",
        },
        (_, true, _) => "SHORT",
        (_, false, _) => "LONG",
    };
    Position {
        account_id: a.id.parse().unwrap_or_default(),
        available_quantity: p.quantity.abs().normalize().to_string(),
        avg_price: s(p.avg_price),
        closing_price: s(p.mark),
        closing_price_date: as_of.to_string(),
        cost_basis: s(p.avg_price * p.quantity * p.multiplier()),
        daily_unrealized_pnl: s(p.day_pnl),
        instrument_id: stable_uuid(&["clearstreet", "instrument", &p.symbol]),
        instrument_price: s(p.mark),
        instrument_type: if option.is_some() {
            "OPTION"
        } else {
            "COMMON_STOCK"
        },
        market_value: s(p.market_value()),
        position_type,
        quantity: if p.malformed {
            "n/a".to_string()
        } else {
            p.quantity.normalize().to_string()
        },
        symbol: option
            .as_ref()
            .map_or_else(|| p.symbol.clone(), |o| o.compact()),
        underlying_instrument_id: option
            .as_ref()
            .map(|o| stable_uuid(&["clearstreet", "instrument", o.root()])),
        unrealized_pnl: s(p.unrealized_pnl()),
    }
}

async fn positions(
    State(cs): State<Arc<Cs>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let a = match cs.account(&headers, &id) {
        Ok(a) => a,
        Err(refused) => return refused,
    };
    let request = format!("/v1/accounts/{id}/positions");
    let (range, metadata) = match page(&params, a.positions.len(), cs.dialect, &request) {
        Ok(p) => p,
        Err(bad) => return bad,
    };
    let as_of = cs.book.as_of.to_string();
    let data: Vec<Position> = a.positions[range]
        .iter()
        .map(|p| position(a, p, cs.dialect, &as_of))
        .collect();
    json(&Envelope {
        data,
        error: None,
        metadata,
    })
}

/// The position id recon reads back for `p`: the instrument's UUID.
pub fn position_id(_a: &SimAccount, p: &SimPosition) -> String {
    let symbol = p.option().map_or_else(|| p.symbol.clone(), |o| o.compact());
    stable_uuid(&["clearstreet", "instrument", &symbol])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_tokens_round_trip() {
        assert_eq!(decode_token(&encode_token(2000, 1000)), Some((2000, 1000)));
        assert_eq!(decode_token("garbage"), None);
        assert_eq!(decode_token(&base64url(b"offset=1&size=0")), None);
    }
}
