//! tastytrade's REST API (BROKERS.md §1): `POST /oauth/token`, `GET /customers/me/accounts`,
//! `/accounts/{n}/balances`, `/accounts/{n}/positions` and `/accounts/{n}/trading-status`.
//!
//! Faithful to what a connector must survive: a refresh token traded for a 15-minute bearer
//! token; a `User-Agent` required on every request (401 without it); `Accept-Version` checked
//! (406 for a version that does not exist); kebab-case keys; `data` and `data.items`
//! envelopes with `context`; JSON error bodies `{"error": {"code", "message"}}`; quantities as
//! magnitude plus `quantity-direction`; numbers sometimes strings and sometimes numbers in
//! the same field; marks only with `include-marks=true`; closed accounts still listed; money
//! as decimal strings, with `short-*` values as positive magnitudes.

// A refusal is the handler's answer, returned once per request: boxing it buys nothing.
#![allow(clippy::result_large_err)]

use crate::book::{SimAccount, SimBook, SimPosition};
use crate::wire::{dec_str, json, json_status, stable_hash};
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use axum::routing::{get, post};
use recon_model::{AccountKind, AccountStatus, Broker};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json as j};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// API versions this tastytrade knows (`Accept-Version`); no header means the oldest.
pub const VERSIONS: [&str; 2] = ["20251101", "20260301"];

/// What the simulated tastytrade accepts at `/oauth/token`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Credentials {
    pub client_secret: String,
    pub refresh_token: String,
}

impl Credentials {
    /// This broker's values among the simulator's credentials.
    pub fn from_sim(sim: &crate::SimCredentials) -> Self {
        Credentials {
            client_secret: sim.get(Broker::Tastytrade, "client_secret").to_string(),
            refresh_token: sim.get(Broker::Tastytrade, "refresh_token").to_string(),
        }
    }
}

#[derive(Debug, Clone, Copy, Default)]
pub struct Dialect {
    /// Fault: every access token stops working after this many uses, as if it expired
    /// mid-run (the connector must refresh and go on).
    pub token_uses: Option<u32>,
}

struct Tt {
    book: Arc<SimBook>,
    credentials: Credentials,
    dialect: Dialect,
    index: HashMap<String, usize>,
    /// Issued access tokens: expiry and uses so far.
    tokens: Mutex<HashMap<String, (Instant, u32)>>,
    issued: Mutex<u64>,
}

/// The lifetime of an access token.
pub const TOKEN_TTL: Duration = Duration::from_secs(900);

pub fn router(book: Arc<SimBook>, credentials: Credentials, dialect: Dialect) -> Router {
    let index = book
        .accounts
        .iter()
        .enumerate()
        .filter(|(_, a)| a.broker == Broker::Tastytrade)
        .map(|(i, a)| (a.id.clone(), i))
        .collect();
    let state = Arc::new(Tt {
        book,
        credentials,
        dialect,
        index,
        tokens: Mutex::new(HashMap::new()),
        issued: Mutex::new(0),
    });
    Router::new()
        .route("/oauth/token", post(token))
        .route("/customers/me/accounts", get(accounts))
        .route("/accounts/{n}/balances", get(balances))
        .route("/accounts/{n}/positions", get(positions))
        .route("/accounts/{n}/trading-status", get(trading_status))
        .route("/accounts/{n}/transactions", get(transactions))
        .fallback(|| async { error(StatusCode::NOT_FOUND, "not_found", "Not Found") })
        .with_state(state)
}

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    json_status(status, &j!({"error": {"code": code, "message": message}}))
}

impl Tt {
    /// User-Agent, Accept-Version and the bearer token, checked as tastytrade does.
    fn check(&self, headers: &HeaderMap) -> Result<(), Response> {
        let ua = headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !ua.contains('/') {
            return Err(error(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "A User-Agent of the form <product>/<version> is required",
            ));
        }
        if let Some(v) = headers.get("accept-version").and_then(|v| v.to_str().ok())
            && !VERSIONS.contains(&v)
        {
            return Err(json_status(
                StatusCode::NOT_ACCEPTABLE,
                &j!({"error": {"code": 406, "message": format!("API version {v} is not available")}}),
            ));
        }
        let token = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        let mut tokens = self.tokens.lock().unwrap_or_else(|e| e.into_inner());
        let Some((expiry, uses)) = tokens.get_mut(token) else {
            return Err(error(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "Unauthorized",
            ));
        };
        *uses += 1;
        let used_up = self.dialect.token_uses.is_some_and(|n| *uses > n);
        if Instant::now() >= *expiry || used_up {
            return Err(error(
                StatusCode::UNAUTHORIZED,
                "token_expired",
                "The access token has expired",
            ));
        }
        Ok(())
    }

    fn account(&self, headers: &HeaderMap, n: &str) -> Result<&SimAccount, Response> {
        self.check(headers)?;
        self.index
            .get(n)
            .and_then(|&i| self.book.accounts.get(i))
            .ok_or_else(|| {
                error(
                    StatusCode::NOT_FOUND,
                    "record_not_found",
                    "Account not found. Unique customer support identifier: 5f0c2b",
                )
            })
    }
}

#[derive(Deserialize)]
struct TokenRequest {
    grant_type: Option<String>,
    client_secret: Option<String>,
    refresh_token: Option<String>,
}

async fn token(State(tt): State<Arc<Tt>>, headers: HeaderMap, body: String) -> Response {
    if headers.get(header::USER_AGENT).is_none() {
        return error(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "User-Agent required",
        );
    }
    let Ok(req) = serde_json::from_str::<TokenRequest>(&body) else {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Body is not JSON",
        );
    };
    if req.grant_type.as_deref() != Some("refresh_token") {
        return error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "grant_type must be refresh_token",
        );
    }
    if req.client_secret.as_deref() != Some(tt.credentials.client_secret.as_str())
        || req.refresh_token.as_deref() != Some(tt.credentials.refresh_token.as_str())
    {
        return error(
            StatusCode::UNAUTHORIZED,
            "invalid_credentials",
            "Invalid client secret or refresh token",
        );
    }
    let n = {
        let mut issued = tt.issued.lock().unwrap_or_else(|e| e.into_inner());
        *issued += 1;
        *issued
    };
    let access = format!(
        "tta-{:016x}{:016x}",
        stable_hash(&[&tt.credentials.refresh_token, &n.to_string()]),
        n
    );
    tt.tokens
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(access.clone(), (Instant::now() + TOKEN_TTL, 0));
    json(&j!({
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": TOKEN_TTL.as_secs(),
    }))
}

fn ira(a: &SimAccount) -> bool {
    matches!(a.kind, AccountKind::IraCash | AccountKind::IraMargin)
}

fn account_json(a: &SimAccount) -> Value {
    let margin = a.is_margin();
    j!({
        "account-number": a.id,
        "nickname": a.name,
        "account-type-name": if ira(a) { "Roth IRA" } else { "Individual" },
        "margin-or-cash": if margin { "Margin" } else { "Cash" },
        "is-closed": a.status == AccountStatus::Closed,
        "is-firm-error": false,
        "is-firm-proprietary": false,
        "is-futures-approved": a.kind == AccountKind::Futures,
        "is-test-drive": false,
        "opened-at": "2021-03-01T14:30:00.000+00:00",
        "day-trader-status": if margin { j!(false) } else { j!("false") },
        "suitable-options-level": match a.options_level.unwrap_or(0) {
            0 => "No Options",
            1 => "Covered And Cash Secured",
            2 | 3 => "Defined Risk Spreads",
            _ => "No Restrictions",
        },
        "investment-objective": "SPECULATION",
        "external-id": format!("A{:08x}", stable_hash(&[&a.id]) as u32),
    })
}

async fn accounts(State(tt): State<Arc<Tt>>, headers: HeaderMap) -> Response {
    if let Err(r) = tt.check(&headers) {
        return r;
    }
    let items: Vec<Value> = tt
        .book
        .accounts_of(Broker::Tastytrade)
        .map(|a| j!({"account": account_json(a), "authority-level": "owner"}))
        .collect();
    json(&j!({"data": {"items": items}, "context": "/customers/me/accounts"}))
}

async fn balances(
    State(tt): State<Arc<Tt>>,
    Path(n): Path<String>,
    headers: HeaderMap,
) -> Response {
    let a = match tt.account(&headers, &n) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let s = |d: Decimal| dec_str(d, 1);
    let (long, short) = a.long_short_value();
    let (mut long_eq, mut long_der, mut short_eq, mut short_der) =
        (Decimal::ZERO, Decimal::ZERO, Decimal::ZERO, Decimal::ZERO);
    for p in &a.positions {
        let v = p.market_value();
        match (p.option().is_some(), v.is_sign_negative()) {
            (false, false) => long_eq += v,
            (false, true) => short_eq -= v,
            (true, false) => long_der += v,
            (true, true) => short_der -= v,
        }
    }
    debug_assert_eq!(long - short, long_eq + long_der + short_eq + short_der);
    let margin = a.is_margin();
    let maintenance = a.maintenance_requirement();
    let mut data = j!({
        "account-number": a.id,
        "currency": "USD",
        "cash-balance": s(a.cash),
        "net-liquidating-value": s(a.reported_net_liq()),
        "equity-buying-power": s(a.reported_buying_power()),
        "derivative-buying-power": s(a.reported_buying_power() / Decimal::TWO),
        "day-trading-buying-power": s(Decimal::ZERO),
        "cash-available-to-withdraw": s(a.cash.max(Decimal::ZERO)),
        "maintenance-requirement": s(maintenance),
        "long-equity-value": s(long_eq),
        "short-equity-value": s(short_eq),
        "long-derivative-value": s(long_der),
        "short-derivative-value": s(short_der),
        "long-futures-value": "0.0",
        "short-futures-value": "0.0",
        "pending-cash": "0.0",
        "pending-cash-effect": "None",
        "buying-power-adjustment": "0.0",
        "buying-power-adjustment-effect": "None",
        "snapshot-date": tt.book.as_of.to_string(),
        "updated-at": format!("{}T21:00:00.000+00:00", tt.book.as_of),
    });
    // Cash accounts have no maintenance excess to speak of.
    if margin && let Some(obj) = data.as_object_mut() {
        obj.insert("maintenance-excess".into(), s(a.margin_excess()).into());
        obj.insert("margin-equity".into(), s(a.reported_net_liq()).into());
    }
    json(&j!({"data": data, "context": format!("/accounts/{n}/balances")}))
}

/// The expiry of a future `/ESZ6`: the third Friday of its month (the equity index futures'
/// rule; close enough for a simulator).
fn contract_expiry(symbol: &str) -> Option<chrono::NaiveDate> {
    use chrono::Datelike;
    let s = symbol.trim_start_matches('/');
    let year_digit = s.chars().last()?.to_digit(10)? as i32;
    let month = recon_model::contracts::month_of_code(s.chars().rev().nth(1)?)?;
    let first = chrono::NaiveDate::from_ymd_opt(2020 + year_digit, month, 1)?;
    let to_friday = (7 + 4 - i64::from(first.weekday().num_days_from_monday())) % 7;
    Some(first + chrono::Duration::days(to_friday + 14))
}

/// Yesterday's close: today's mark less the day's move per unit.
fn previous_close(p: &SimPosition) -> Decimal {
    let units = p.quantity * p.multiplier();
    if units.is_zero() {
        p.mark
    } else {
        (p.mark - p.day_pnl / units).round_dp(4)
    }
}

/// Alternates strings and numbers for the same field, as the live API does across rows.
fn num_or_str(d: Decimal, as_string: bool) -> Value {
    let text = d.normalize().to_string();
    if as_string {
        Value::String(text)
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    }
}

fn position_json(a: &SimAccount, p: &SimPosition, i: usize, marks: bool, as_of: &str) -> Value {
    let s = |d: Decimal| dec_str(d, 1);
    let option = p.option();
    let direction = if p.malformed {
        "Sideways"
    } else if p.quantity.is_zero() {
        "Zero"
    } else if p.quantity.is_sign_negative() {
        "Short"
    } else {
        "Long"
    };
    let future = p.future();
    let (symbol, underlying, kind) = match (&option, future) {
        (Some(o), _) => (o.padded(), o.root().to_string(), "Equity Option"),
        // A futures option's underlying is the future contract; a future's the product.
        (None, Some(_)) if p.is_future_option() => (
            p.symbol.clone(),
            p.symbol
                .trim_start_matches('.')
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_string(),
            "Future Option",
        ),
        (None, Some(spec)) => (p.symbol.clone(), format!("/{}", spec.root), "Future"),
        (None, None) => (p.symbol.clone(), p.symbol.clone(), "Equity"),
    };
    let multiplier = if option.is_some() {
        j!(100)
    } else if let Some(spec) = future {
        num_or_str(spec.multiplier(), !i.is_multiple_of(2))
    } else if i.is_multiple_of(2) {
        j!("1.0")
    } else {
        j!(1)
    };
    let expires = option
        .as_ref()
        .map(|o| o.expiry())
        .or_else(|| p.future_option_expiry())
        .or_else(|| future.and_then(|_| contract_expiry(&p.symbol)));
    let mut row = j!({
        "account-number": a.id,
        "symbol": symbol,
        "instrument-type": kind,
        "underlying-symbol": underlying,
        "quantity": num_or_str(p.quantity.abs(), i.is_multiple_of(2)),
        "quantity-direction": direction,
        "multiplier": multiplier,
        "average-open-price": s(p.avg_price),
        "close-price": s(previous_close(p)),
        "average-daily-market-close-price": s(p.mark),
        "cost-effect": if direction == "Short" { "Debit" } else { "Credit" },
        "realized-day-gain": "0.0",
        "realized-day-gain-effect": "None",
        "realized-today": "0.0",
        "realized-today-effect": "None",
        "restricted-quantity": num_or_str(Decimal::ZERO, !i.is_multiple_of(2)),
        "is-frozen": false,
        "is-suppressed": false,
        "streamer-symbol": option.as_ref().map_or_else(|| p.symbol.clone(), |o| format!(".{}", o.compact())),
        "created-at": format!("{as_of}T14:30:00.000+00:00"),
        "updated-at": format!("{as_of}T20:59:59.000+00:00"),
    });
    if let Some(obj) = row.as_object_mut() {
        if let Some(expiry) = expires {
            obj.insert(
                "expires-at".into(),
                format!("{expiry}T20:15:00.000+00:00").into(),
            );
        }
        if marks {
            obj.insert("mark".into(), s(p.mark).into());
            obj.insert("mark-price".into(), s(p.mark).into());
        }
    }
    row
}

async fn positions(
    State(tt): State<Arc<Tt>>,
    Path(n): Path<String>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let a = match tt.account(&headers, &n) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let marks = params.get("include-marks").is_some_and(|v| v == "true");
    let as_of = tt.book.as_of.to_string();
    let items: Vec<Value> = a
        .positions
        .iter()
        .enumerate()
        .map(|(i, p)| position_json(a, p, i, marks, &as_of))
        .collect();
    json(&j!({"data": {"items": items}, "context": format!("/accounts/{n}/positions")}))
}

/// One opening trade per position, newest first: what `/transactions` pages through.
fn transaction_json(a: &SimAccount, p: &SimPosition, i: usize, as_of: &str) -> Value {
    let short = p.quantity.is_sign_negative();
    let value = (p.avg_price * p.quantity * p.multiplier()).abs();
    j!({
        "id": stable_hash(&[&a.id, &p.id]) % 1_000_000_000,
        "account-number": a.id,
        "transaction-type": "Trade",
        "transaction-sub-type": if short { "Sell to Open" } else { "Buy to Open" },
        "description": format!("{} {} @ {}", if short { "Sold" } else { "Bought" }, p.quantity.abs().normalize(), p.avg_price.normalize()),
        "action": if short { "Sell to Open" } else { "Buy to Open" },
        "symbol": p.option().map_or_else(|| p.symbol.clone(), |o| o.padded()),
        "quantity": p.quantity.abs().normalize().to_string(),
        "price": dec_str(p.avg_price, 2),
        "executed-at": format!("{as_of}T14:{:02}:00.000+00:00", i % 60),
        "transaction-date": as_of,
        "value": dec_str(value, 2),
        "value-effect": if short { "Credit" } else { "Debit" },
        "net-value": dec_str(value, 2),
        "net-value-effect": if short { "Credit" } else { "Debit" },
        "commission": "0.0",
        "commission-effect": "None",
        "is-estimated-fee": false,
    })
}

/// `per-page` (default 250, at most 2000) and `page-offset` (0-based), with tastytrade's
/// `pagination` object.
async fn transactions(
    State(tt): State<Arc<Tt>>,
    Path(n): Path<String>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let a = match tt.account(&headers, &n) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let per_page = match params.get("per-page").map(|v| v.parse::<usize>()) {
        None => 250,
        Some(Ok(v)) if (1..=2000).contains(&v) => v,
        _ => {
            return error(
                StatusCode::BAD_REQUEST,
                "invalid_parameter",
                "per-page must be between 1 and 2000",
            );
        }
    };
    let offset = match params.get("page-offset").map(|v| v.parse::<usize>()) {
        None => 0,
        Some(Ok(v)) => v,
        Some(Err(_)) => {
            return error(
                StatusCode::BAD_REQUEST,
                "invalid_parameter",
                "page-offset must be a number",
            );
        }
    };
    let as_of = tt.book.as_of.to_string();
    let total = a.positions.len();
    let pages = total.div_ceil(per_page);
    let start = (offset * per_page).min(total);
    let end = (start + per_page).min(total);
    let items: Vec<Value> = a.positions[start..end]
        .iter()
        .enumerate()
        .map(|(i, p)| transaction_json(a, p, start + i, &as_of))
        .collect();
    json(&j!({
        "data": {"items": items},
        "api-version": VERSIONS[0],
        "context": format!("/accounts/{n}/transactions"),
        "pagination": {
            "per-page": per_page,
            "page-offset": offset,
            "item-offset": start,
            "total-items": total,
            "total-pages": pages,
            "current-item-count": end - start,
            "previous-link": null,
            "next-link": null,
            "paging-link-template": null,
        },
    }))
}

async fn trading_status(
    State(tt): State<Arc<Tt>>,
    Path(n): Path<String>,
    headers: HeaderMap,
) -> Response {
    let a = match tt.account(&headers, &n) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let closed = a.status == AccountStatus::Closed;
    let restricted = a.status == AccountStatus::Restricted;
    json(&j!({
        "data": {
            "account-number": a.id,
            "id": stable_hash(&[&a.id]) % 1_000_000,
            "options-level": match a.options_level.unwrap_or(0) {
                0 => "No Options",
                1 => "Covered And Cash Secured",
                2 | 3 => "Defined Risk Spreads",
                _ => "No Restrictions",
            },
            "equities-margin-calculation-type": if ira(a) { "IRA Margin" } else { "Reg T" },
            "is-portfolio-margin-enabled": false,
            "is-pattern-day-trader": false,
            "day-trade-count": 0,
            "is-in-margin-call": a.is_margin() && a.margin_excess().is_sign_negative(),
            "is-in-day-trade-equity-maintenance-call": false,
            "is-closing-only": restricted,
            "is-closed": closed,
            "is-frozen": false,
            "is-risk-reducing-only": false,
            "is-futures-enabled": a.kind == AccountKind::Futures,
            "short-calls-enabled": a.options_level.unwrap_or(0) >= 4,
            "fee-schedule-name": "default",
            "updated-at": format!("{}T21:00:00.000+00:00", tt.book.as_of),
        },
        "context": format!("/accounts/{n}/trading-status"),
    }))
}

/// The position id recon reads back for `p`: tastytrade sends none, so its symbol (compact
/// for options).
pub fn position_id(_a: &SimAccount, p: &SimPosition) -> String {
    p.option().map_or_else(|| p.symbol.clone(), |o| o.compact())
}
