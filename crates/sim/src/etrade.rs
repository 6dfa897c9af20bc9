//! E*TRADE's v1 REST API (BROKERS.md §4): `GET /v1/accounts/list`,
//! `/v1/accounts/{accountIdKey}/balance` and `/v1/accounts/{accountIdKey}/portfolio`.
//!
//! Faithful to what a connector must survive: OAuth 1.0a on every request, the
//! `Authorization` header checked for form, keys, a timestamp within 5 minutes and the
//! HMAC-SHA1 signature (401 with a form-encoded `oauth_problem=` body otherwise); JSON with a
//! `.json` suffix or `Accept: application/json`, XML otherwise; `XxxResponse` roots with
//! PascalCase containers; a one-element list serialized as an object; `instType=BROKERAGE`
//! required on balance (400); portfolio paged by `pageNumber` and `count`, `totalPages` on
//! some answers and `totalNoOfPages` on others; key casing that drifts (`Product` /
//! `product`); epoch milliseconds; dash-padded `osiKey`; short positions with a negative
//! quantity and `positionType: SHORT`.

// A refusal is the handler's answer, returned once per request: boxing it buys nothing.
#![allow(clippy::result_large_err)]

use crate::book::{SimAccount, SimBook, SimPosition};
use crate::wire::{json, stable_hash};
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use recon_model::oauth1;
use recon_model::{AccountKind, AccountStatus, Broker, PutCall};
use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::{Map, Value, json as j};
use std::collections::HashMap;
use std::sync::Arc;

/// The four OAuth secrets the simulated E*TRADE accepts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Credentials {
    pub consumer_key: String,
    pub consumer_secret: String,
    pub access_token: String,
    pub access_token_secret: String,
}

impl Credentials {
    /// This broker's values among the simulator's credentials.
    pub fn from_sim(sim: &crate::SimCredentials) -> Self {
        Credentials {
            consumer_key: sim.get(Broker::Etrade, "consumer_key").to_string(),
            consumer_secret: sim.get(Broker::Etrade, "consumer_secret").to_string(),
            access_token: sim.get(Broker::Etrade, "access_token").to_string(),
            access_token_secret: sim.get(Broker::Etrade, "access_token_secret").to_string(),
        }
    }
}

#[derive(Debug, Clone, Copy, Default)]
pub struct Dialect {
    /// Fault: `pageNumber` past the last page answers the last page again, with a
    /// `nextPageNo` pointing at itself.
    pub paging_loop: bool,
    /// Serve at most this many positions a page even when more are asked.
    pub page_size_cap: Option<usize>,
}

struct Et {
    book: Arc<SimBook>,
    credentials: Credentials,
    dialect: Dialect,
    index: HashMap<String, usize>,
}

/// `oauth_timestamp` may be this far from the server's clock.
const CLOCK_SKEW_SECS: i64 = 300;

pub fn router(book: Arc<SimBook>, credentials: Credentials, dialect: Dialect) -> Router {
    let index = book
        .accounts
        .iter()
        .enumerate()
        .filter(|(_, a)| a.broker == Broker::Etrade)
        .map(|(i, a)| (a.id.clone(), i))
        .collect();
    let state = Arc::new(Et {
        book,
        credentials,
        dialect,
        index,
    });
    Router::new()
        .route("/v1/accounts/{file}", get(list_accounts))
        .route("/v1/accounts/{key}/{endpoint}", get(account_endpoint))
        .fallback(|| async { xml_error(StatusCode::NOT_FOUND, 404, "Resource not found") })
        .with_state(state)
}

/// The numeric `accountId` E*TRADE shows for an account (the book's id is the
/// `accountIdKey` that goes into URLs).
pub fn account_number(a: &SimAccount) -> String {
    format!("{:08}", stable_hash(&["etrade", &a.id]) % 100_000_000)
}

fn oauth_problem(problem: &str) -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [(header::CONTENT_TYPE, "application/x-www-form-urlencoded")],
        format!("oauth_problem={problem}"),
    )
        .into_response()
}

fn xml_error(status: StatusCode, code: u32, message: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/xml")],
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?><Error><code>{code}</code><message>{}</message></Error>",
            quick_xml::escape::escape(message)
        ),
    )
        .into_response()
}

impl Et {
    /// Checks the OAuth header as E*TRADE does: form, keys, timestamp, signature.
    fn check(
        &self,
        headers: &HeaderMap,
        path: &str,
        query: &HashMap<String, String>,
    ) -> Result<(), Response> {
        let Some(header) = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
        else {
            return Err(oauth_problem(
                "parameter_absent&oauth_parameters_absent=oauth_consumer_key",
            ));
        };
        let Some(p) = oauth1::parse_authorization(header) else {
            return Err(oauth_problem("parameter_rejected"));
        };
        let field = |k: &str| p.get(k).map(String::as_str).unwrap_or("");
        if field("oauth_signature_method") != "HMAC-SHA1" {
            return Err(oauth_problem("signature_method_rejected"));
        }
        if field("oauth_consumer_key") != self.credentials.consumer_key {
            return Err(oauth_problem("consumer_key_rejected"));
        }
        if field("oauth_token") != self.credentials.access_token {
            return Err(oauth_problem("token_rejected"));
        }
        let now = chrono::Utc::now().timestamp();
        match field("oauth_timestamp").parse::<i64>() {
            Ok(t) if (t - now).abs() <= CLOCK_SKEW_SECS => {}
            _ => return Err(oauth_problem("timestamp_refused")),
        }
        let host = headers
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("127.0.0.1");
        let mut params: Vec<(String, String)> = p
            .iter()
            .filter(|(k, _)| *k != "oauth_signature")
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        params.extend(query.iter().map(|(k, v)| (k.clone(), v.clone())));
        let expected = oauth1::signature(
            "GET",
            &format!("http://{host}{path}"),
            &params,
            &self.credentials.consumer_secret,
            &self.credentials.access_token_secret,
        );
        if field("oauth_signature") != expected {
            return Err(oauth_problem("signature_invalid"));
        }
        Ok(())
    }
}

/// JSON when the path ends in `.json` or the client asks for it; XML otherwise.
fn wants_json(name: &str, headers: &HeaderMap) -> bool {
    name.ends_with(".json")
        || headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("application/json"))
}

fn answer(body: Value, as_json: bool) -> Response {
    if as_json {
        json(&body)
    } else {
        (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/xml")],
            to_xml(&body),
        )
            .into_response()
    }
}

/// A JSON value as E*TRADE's XML: an object's keys become elements, an array repeats its
/// key's element.
pub fn to_xml(v: &Value) -> String {
    fn write(out: &mut String, name: &str, v: &Value) {
        match v {
            Value::Array(items) => {
                for item in items {
                    write(out, name, item);
                }
            }
            Value::Object(map) => {
                out.push_str(&format!("<{name}>"));
                for (k, v) in map {
                    write(out, k, v);
                }
                out.push_str(&format!("</{name}>"));
            }
            Value::Null => {}
            Value::String(s) => out.push_str(&format!(
                "<{name}>{}</{name}>",
                quick_xml::escape::escape(s.as_str())
            )),
            other => out.push_str(&format!("<{name}>{other}</{name}>")),
        }
    }
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>");
    if let Value::Object(map) = v {
        for (k, v) in map {
            write(&mut out, k, v);
        }
    }
    out
}

/// A list as E*TRADE writes it: one element as a bare object.
fn list(items: Vec<Value>) -> Value {
    if items.len() == 1 {
        items.into_iter().next().unwrap_or(Value::Null)
    } else {
        Value::Array(items)
    }
}

fn num(d: Decimal) -> Value {
    serde_json::from_str(&d.normalize().to_string()).unwrap_or(Value::Null)
}

fn epoch_ms(date: chrono::NaiveDate) -> i64 {
    date.and_hms_opt(21, 0, 0)
        .map_or(0, |t| t.and_utc().timestamp_millis())
}

fn account_json(a: &SimAccount, as_of: chrono::NaiveDate) -> Value {
    let ira = matches!(a.kind, AccountKind::IraCash | AccountKind::IraMargin);
    j!({
        "accountId": account_number(a),
        "accountIdKey": a.id,
        "accountMode": if a.is_margin() { "MARGIN" } else { "CASH" },
        "accountDesc": a.name.clone().unwrap_or_else(|| "Brokerage".into()),
        "accountName": a.name.clone().unwrap_or_default(),
        "accountType": if ira { "ROTHIRA" } else { "INDIVIDUAL" },
        "institutionType": "BROKERAGE",
        "accountStatus": if a.status == AccountStatus::Closed { "CLOSED" } else { "ACTIVE" },
        "closedDate": if a.status == AccountStatus::Closed { epoch_ms(as_of) } else { 0 },
        "shareWorksAccount": false,
        "fcManagedMssbClosedAccount": false,
    })
}

async fn list_accounts(
    State(et): State<Arc<Et>>,
    Path(file): Path<String>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    if file != "list" && file != "list.json" {
        return xml_error(StatusCode::NOT_FOUND, 404, "Resource not found");
    }
    if let Err(r) = et.check(&headers, &format!("/v1/accounts/{file}"), &query) {
        return r;
    }
    let accounts: Vec<Value> = et
        .book
        .accounts_of(Broker::Etrade)
        .map(|a| account_json(a, et.book.as_of))
        .collect();
    answer(
        j!({"AccountListResponse": {"Accounts": {"Account": list(accounts)}}}),
        wants_json(&file, &headers),
    )
}

async fn account_endpoint(
    State(et): State<Arc<Et>>,
    Path((key, endpoint)): Path<(String, String)>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    if let Err(r) = et.check(&headers, &format!("/v1/accounts/{key}/{endpoint}"), &query) {
        return r;
    }
    let Some(a) = et.index.get(&key).and_then(|&i| et.book.accounts.get(i)) else {
        return xml_error(
            StatusCode::BAD_REQUEST,
            100,
            "Please provide a valid account key",
        );
    };
    let as_json = wants_json(&endpoint, &headers);
    match endpoint.trim_end_matches(".json") {
        "balance" => balance(&et, a, &query, as_json),
        "portfolio" => portfolio(&et, a, &query, as_json),
        _ => xml_error(StatusCode::NOT_FOUND, 404, "Resource not found"),
    }
}

fn balance(et: &Et, a: &SimAccount, query: &HashMap<String, String>, as_json: bool) -> Response {
    if query.get("instType").map(String::as_str) != Some("BROKERAGE") {
        return xml_error(
            StatusCode::BAD_REQUEST,
            9001,
            "instType is a required parameter: BROKERAGE",
        );
    }
    let (long, short) = a.long_short_value();
    let margin = a.is_margin();
    let mut computed = Map::new();
    computed.insert("cashAvailableForInvestment".into(), num(a.cash));
    computed.insert(
        "cashAvailableForWithdrawal".into(),
        num(a.cash.max(Decimal::ZERO)),
    );
    computed.insert("netCash".into(), num(a.cash));
    computed.insert("cashBalance".into(), num(a.cash));
    computed.insert(
        if margin {
            "marginBuyingPower"
        } else {
            "cashBuyingPower"
        }
        .into(),
        num(a.reported_buying_power()),
    );
    computed.insert(
        "RealTimeValues".into(),
        j!({
            "totalAccountValue": num(a.reported_net_liq()),
            "netMv": num(long + short),
            "netMvLong": num(long),
            "netMvShort": num(short),
        }),
    );
    json_or_xml(
        j!({"BalanceResponse": {
            "accountId": account_number(a),
            "institutionType": "BROKERAGE",
            "asOfDate": epoch_ms(et.book.as_of),
            "accountType": if margin { "MARGIN" } else { "CASH" },
            "optionLevel": format!("LEVEL_{}", a.options_level.unwrap_or(0).min(4)),
            "accountDescription": a.name.clone().unwrap_or_default(),
            "quoteMode": 6,
            "dayTraderStatus": "NO_PDT",
            "accountMode": if margin { "MARGIN" } else { "CASH" },
            "Cash": {"fundsForOpenOrdersCash": 0, "moneyMktBalance": 0},
            "Computed": computed,
        }}),
        as_json,
    )
}

fn json_or_xml(v: Value, as_json: bool) -> Response {
    answer(v, as_json)
}

/// One position as E*TRADE sends it, with the `Quick` view, or the `Complete` view when it is
/// asked for (`view=COMPLETE`: the option multiplier and the equity's CUSIP among ~60 keys,
/// of which the simulator sends those recon reads).
fn position_json(
    a: &SimAccount,
    p: &SimPosition,
    i: usize,
    as_of: chrono::NaiveDate,
    complete: bool,
) -> Value {
    let option = p.option();
    let short = p.quantity.is_sign_negative();
    let mut product = Map::new();
    match &option {
        Some(o) => {
            product.insert("symbol".into(), o.root().into());
            product.insert("securityType".into(), "OPTN".into());
            product.insert(
                "callPut".into(),
                match o.put_call() {
                    PutCall::Call => "CALL",
                    PutCall::Put => "PUT",
                }
                .into(),
            );
            use chrono::Datelike;
            product.insert("expiryYear".into(), o.expiry().year().into());
            product.insert("expiryMonth".into(), o.expiry().month().into());
            product.insert("expiryDay".into(), o.expiry().day().into());
            product.insert("strikePrice".into(), num(o.strike()));
        }
        None => {
            product.insert("symbol".into(), p.symbol.clone().into());
            product.insert("securityType".into(), "EQ".into());
        }
    }
    let mv = p.market_value();
    let cost = p.avg_price * p.quantity * p.multiplier();
    let mut row = Map::new();
    row.insert(
        "positionId".into(),
        position_id(a, p).parse::<u64>().unwrap_or_default().into(),
    );
    row.insert("accountId".into(), account_number(a).into());
    // Casing drifts between answers: `Product` in the docs, `product` in live data.
    row.insert(
        if i.is_multiple_of(2) {
            "Product"
        } else {
            "product"
        }
        .into(),
        Value::Object(product),
    );
    row.insert(
        "osiKey".into(),
        option.as_ref().map_or(String::new(), |o| o.dashed()).into(),
    );
    row.insert(
        "symbolDescription".into(),
        option
            .as_ref()
            .map_or_else(|| p.symbol.clone(), |o| o.compact())
            .into(),
    );
    row.insert("dateAcquired".into(), epoch_ms(as_of).into());
    row.insert("pricePaid".into(), num(p.avg_price));
    row.insert("price".into(), num(p.mark));
    row.insert("commissions".into(), 0.into());
    row.insert("otherFees".into(), 0.into());
    row.insert(
        "quantity".into(),
        if p.malformed {
            "n/a".into()
        } else {
            num(p.quantity)
        },
    );
    row.insert("positionIndicator".into(), "TYPE2".into());
    row.insert(
        "positionType".into(),
        if short { "SHORT" } else { "LONG" }.into(),
    );
    row.insert("daysGain".into(), num(p.day_pnl));
    row.insert("marketValue".into(), num(mv));
    row.insert("totalCost".into(), num(cost));
    row.insert("totalGain".into(), num(mv - cost));
    row.insert("costPerShare".into(), num(p.avg_price));
    let (name, view) = quote_view(p, option.is_some(), complete);
    row.insert(name.into(), view);
    row.insert("lotsDetails".into(), "".into());
    Value::Object(row)
}

/// The position's view object: `Quick`, or `Complete` with the option multiplier and the
/// equity's CUSIP.
fn quote_view(p: &SimPosition, is_option: bool, complete: bool) -> (&'static str, Value) {
    if !complete {
        return (
            "Quick",
            j!({"lastTrade": num(p.mark), "change": 0, "changePct": 0, "volume": 0, "quoteStatus": "CLOSING"}),
        );
    }
    let mut view = Map::new();
    view.insert("lastTrade".into(), num(p.mark));
    view.insert("change".into(), 0.into());
    view.insert("quoteStatus".into(), "CLOSING".into());
    if is_option {
        view.insert("optionMultiplier".into(), num(p.multiplier()));
    } else if let Some(cusip) = crate::generate::cusip_of(&p.symbol) {
        view.insert("cusip".into(), cusip.into());
    }
    ("Complete", Value::Object(view))
}

fn portfolio(et: &Et, a: &SimAccount, query: &HashMap<String, String>, as_json: bool) -> Response {
    let count = match query.get("count").map(|c| c.parse::<usize>()) {
        None => 50,
        Some(Ok(n)) if n >= 1 => n,
        _ => {
            return xml_error(
                StatusCode::BAD_REQUEST,
                9002,
                "count must be a positive number",
            );
        }
    };
    let count = et
        .dialect
        .page_size_cap
        .map_or(count, |cap| count.min(cap.max(1)));
    let page = match query.get("pageNumber").map(|p| p.parse::<usize>()) {
        None => 1,
        Some(Ok(n)) if n >= 1 => n,
        _ => {
            return xml_error(
                StatusCode::BAD_REQUEST,
                9003,
                "pageNumber must be a positive number",
            );
        }
    };
    let total = a.positions.len();
    let pages = total.div_ceil(count).max(1);
    let (page, next) = if et.dialect.paging_loop && pages >= 2 && page >= 2 {
        // The fault: page 2 again, pointing at itself.
        (2, Some(2))
    } else {
        (page, (page < pages).then_some(page + 1))
    };
    let start = ((page - 1) * count).min(total);
    let end = (start + count).min(total);
    let complete = query
        .get("view")
        .is_some_and(|v| v.eq_ignore_ascii_case("COMPLETE"));
    let rows: Vec<Value> = a.positions[start..end]
        .iter()
        .enumerate()
        .map(|(i, p)| position_json(a, p, start + i, et.book.as_of, complete))
        .collect();
    let mut portfolio = Map::new();
    portfolio.insert("accountId".into(), account_number(a).into());
    // Live answers say totalPages, the docs totalNoOfPages: serve both, alternately.
    let pages_key = if stable_hash(&[&a.id]).is_multiple_of(2) {
        "totalPages"
    } else {
        "totalNoOfPages"
    };
    portfolio.insert(pages_key.into(), pages.into());
    if let Some(n) = next {
        portfolio.insert("nextPageNo".into(), n.into());
    }
    if !rows.is_empty() {
        portfolio.insert("Position".into(), list(rows));
    }
    answer(
        j!({"PortfolioResponse": {"AccountPortfolio": list(vec![Value::Object(portfolio)])}}),
        as_json,
    )
}

/// The position id recon reads back for `p`: E*TRADE's numeric `positionId`.
pub fn position_id(a: &SimAccount, p: &SimPosition) -> String {
    (stable_hash(&["etrade", &a.id, &p.id]) % 1_000_000_000_000).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_repeats_list_elements_and_escapes_text() {
        let v = j!({"R": {"A": [{"x": 1}, {"x": "a<b"}], "B": null}});
        assert_eq!(
            to_xml(&v),
            "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?><R><A><x>1</x></A><A><x>a&lt;b</x></A></R>"
        );
    }
}
