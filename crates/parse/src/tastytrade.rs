//! tastytrade (BROKERS.md §1) → canonical rows.
//!
//! Survives: `data` / `data.items` envelopes (an `error` body in a file is quarantined, not
//! read as an empty account); kebab-case keys; quantity as a magnitude with
//! `quantity-direction` (`Long`, `Short`, `Zero`); numbers as strings or numbers in the
//! same field; `*-effect` siblings carrying the sign; equity options as space-padded OCC;
//! futures (`/MESZ6`, valued by open-trade P&L, as they settle daily) and futures options
//! (`./MESZ6 EX3Z6 261218P6450`, strike as written); `multiplier` per row; marks from
//! `mark-price`, else `mark`; none (fetched without `include-marks`) leaves the value null
//! for data-quality's `mark-missing`, not a quarantine;
//! closed accounts; IRA, margin and cash from `account-type-name` and `margin-or-cash`; a
//! trading status that restricts or closes the account.

use crate::common::{AccountRead, ItemPointer, Notes, each_record, parse, read_text};
use crate::exact;
use chrono::{DateTime, NaiveDate, Utc};
use recon_model::occ::OccSymbol;
use recon_model::{
    AccountKind, AccountRow, AccountStatus, BalanceRow, Book, Broker, CompactString, Instrument,
    PositionRow, PutCall, QuarantineRow, Side,
};
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::Path;

const BROKER: Broker = Broker::Tastytrade;

/// `data` of a body, or why there is none.
fn data(text: &str) -> Result<&RawValue, String> {
    crate::common::envelope_data(text, "tastytrade {\"data\": …}")
}

/// `data.items` of a list body.
fn items(text: &str) -> Result<Vec<&RawValue>, String> {
    #[derive(Deserialize)]
    struct Items<'a> {
        #[serde(borrow)]
        items: Vec<&'a RawValue>,
    }
    if let Some(items) = crate::common::array_at(text, &["data", "items"], &["error"]) {
        return Ok(items);
    }
    let d = data(text)?;
    serde_json::from_str::<Items>(d.get())
        .map(|i| i.items)
        .map_err(|e| format!("`data.items` is not a list: {e}"))
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
struct AccountFields {
    account_number: Option<String>,
    nickname: Option<String>,
    account_type_name: Option<String>,
    margin_or_cash: Option<String>,
    #[serde(default)]
    is_closed: Option<serde_json::Value>,
    #[serde(default)]
    is_futures_approved: Option<serde_json::Value>,
    suitable_options_level: Option<String>,
    is_test_drive: Option<serde_json::Value>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
struct TradingStatus {
    options_level: Option<String>,
    is_closed: Option<serde_json::Value>,
    is_closing_only: Option<serde_json::Value>,
    is_frozen: Option<serde_json::Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct Balances<'a> {
    currency: Option<String>,
    #[serde(borrow)]
    cash_balance: Option<&'a RawValue>,
    #[serde(borrow)]
    net_liquidating_value: Option<&'a RawValue>,
    #[serde(borrow)]
    equity_buying_power: Option<&'a RawValue>,
    #[serde(borrow)]
    maintenance_requirement: Option<&'a RawValue>,
    #[serde(borrow)]
    maintenance_excess: Option<&'a RawValue>,
    #[serde(borrow)]
    cash_available_to_withdraw: Option<&'a RawValue>,
    #[serde(borrow)]
    long_equity_value: Option<&'a RawValue>,
    #[serde(borrow)]
    long_derivative_value: Option<&'a RawValue>,
    #[serde(borrow)]
    long_futures_value: Option<&'a RawValue>,
    #[serde(borrow)]
    short_equity_value: Option<&'a RawValue>,
    #[serde(borrow)]
    short_derivative_value: Option<&'a RawValue>,
    #[serde(borrow)]
    short_futures_value: Option<&'a RawValue>,
    updated_at: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct Position<'a> {
    // Short texts inline, timestamps borrowed: no allocation per field of a position.
    symbol: Option<CompactString>,
    instrument_type: Option<CompactString>,
    underlying_symbol: Option<CompactString>,
    #[serde(borrow)]
    quantity: Option<&'a RawValue>,
    quantity_direction: Option<CompactString>,
    #[serde(borrow)]
    multiplier: Option<&'a RawValue>,
    #[serde(borrow)]
    average_open_price: Option<&'a RawValue>,
    #[serde(borrow)]
    close_price: Option<&'a RawValue>,
    #[serde(borrow)]
    mark: Option<&'a RawValue>,
    #[serde(borrow)]
    mark_price: Option<&'a RawValue>,
    #[serde(borrow)]
    expires_at: Option<Cow<'a, str>>,
    #[serde(borrow)]
    updated_at: Option<Cow<'a, str>>,
}

/// `true`, `"true"`, `1`: tastytrade sends booleans both ways (`day-trader-status`).
fn truthy(v: &Option<serde_json::Value>) -> bool {
    match v {
        Some(serde_json::Value::Bool(b)) => *b,
        Some(serde_json::Value::String(s)) => s.eq_ignore_ascii_case("true"),
        Some(serde_json::Value::Number(n)) => n.as_i64() == Some(1),
        _ => false,
    }
}

pub(crate) fn read_account_list(
    root: &Path,
    quarantine: &mut Vec<QuarantineRow>,
) -> BTreeMap<String, String> {
    let source = "tastytrade/accounts.json".to_string();
    let mut out = BTreeMap::new();
    let Ok(text) = std::fs::read_to_string(root.join(&source)) else {
        return out;
    };
    let mut notes = Notes::new(BROKER, None, source, quarantine);
    match items(&text) {
        Ok(items) => {
            for (i, item) in items.iter().enumerate() {
                let pointer = format!("/data/items/{i}");
                #[derive(Deserialize)]
                struct Raw<'a> {
                    #[serde(borrow)]
                    account: Option<&'a RawValue>,
                }
                match parse::<Raw>(item) {
                    Ok(Raw { account: Some(raw) }) => match parse::<AccountFields>(raw)
                        .ok()
                        .and_then(|f| f.account_number)
                    {
                        Some(n) => {
                            out.insert(n.trim().to_string(), raw.get().to_string());
                        }
                        None => notes.note(pointer, "account without `account-number`"),
                    },
                    Ok(_) => notes.note(pointer, "list item without `account`"),
                    Err(e) => notes.note(pointer, format!("unreadable account item: {e}")),
                }
            }
        }
        Err(e) => notes.note("", format!("unreadable account list: {e}")),
    }
    out
}

/// One account folder: `balances.json`, `positions.json`, `trading-status.json`.
pub(crate) fn read_account(
    root: &Path,
    n: &str,
    as_of: NaiveDate,
    list_entry: Option<&String>,
    expected_missing: &[&str],
) -> AccountRead {
    let list_entry = list_entry.map(String::as_str);
    let mut quarantine = Vec::new();
    let mut complete = true;
    let fields: AccountFields = list_entry
        .and_then(|t| serde_json::from_str(t).ok())
        .unwrap_or_default();

    // Trading status refines the account's status and options level.
    let source = format!("tastytrade/{n}/trading-status.json");
    let status: TradingStatus = match read_text(
        root,
        BROKER,
        n,
        &source,
        expected_missing.contains(&"trading-status"),
        &mut quarantine,
    ) {
        Some(text) => match data(&text).and_then(parse::<TradingStatus>) {
            Ok(s) => s,
            Err(e) => {
                complete = false;
                Notes::new(BROKER, Some(n), source, &mut quarantine)
                    .note("", format!("unreadable trading status: {e}"));
                TradingStatus::default()
            }
        },
        None => {
            complete = false;
            TradingStatus::default()
        }
    };

    let mut balance = BalanceRow::empty(BROKER, n, "USD");
    let source = format!("tastytrade/{n}/balances.json");
    match read_text(
        root,
        BROKER,
        n,
        &source,
        expected_missing.contains(&"balances"),
        &mut quarantine,
    ) {
        Some(text) => {
            let mut notes = Notes::new(BROKER, Some(n), source, &mut quarantine);
            match data(&text).and_then(parse::<Balances>) {
                Ok(b) => read_balances(&b, &mut balance, &mut notes),
                Err(e) => {
                    complete = false;
                    notes.note("", format!("unreadable balances: {e}"));
                }
            }
        }
        None => complete = false,
    }

    let mut positions = Vec::new();
    let source = format!("tastytrade/{n}/positions.json");
    match read_text(
        root,
        BROKER,
        n,
        &source,
        expected_missing.contains(&"positions"),
        &mut quarantine,
    ) {
        Some(text) => {
            let mut notes = Notes::new(BROKER, Some(n), source, &mut quarantine);
            complete &= read_positions(n, &text, &mut positions, &mut notes);
        }
        None => complete = false,
    }

    let account = account_row(n, as_of, &fields, &status);
    AccountRead {
        book: Book::of_account(account, balance, positions, quarantine),
        complete,
    }
}

/// The positions body into `positions`; `false` when it cannot be read.
fn read_positions(
    n: &str,
    text: &str,
    positions: &mut Vec<PositionRow>,
    notes: &mut Notes,
) -> bool {
    let rows = match each_record::<Position>(text, &["data", "items"], &["error"], items) {
        Ok(rows) => rows,
        Err(e) => {
            notes.note("", format!("unreadable positions: {e}"));
            return false;
        }
    };
    let mut seen: BTreeMap<CompactString, usize> = BTreeMap::new();
    let mut at = ItemPointer::new("/data/items");
    // Sized once: a row is a few hundred bytes, and growing by doubling copied them all.
    positions.reserve(rows.len());
    for (i, row) in rows.into_iter().enumerate() {
        let pointer = at.at(i);
        match row {
            Ok(p) => positions.extend(position_row(n, &p, pointer, notes, &mut seen)),
            Err(e) => notes.note(pointer, format!("unreadable position: {e}")),
        }
    }
    true
}

fn read_balances(b: &Balances, balance: &mut BalanceRow, notes: &mut Notes) {
    let p = "/data";
    if let Some(c) = b.currency.as_deref().filter(|c| !c.trim().is_empty()) {
        balance.currency = c.trim().to_ascii_uppercase();
    }
    balance.cash = notes.amount(p, "cash-balance", b.cash_balance);
    balance.net_liq = notes.amount(p, "net-liquidating-value", b.net_liquidating_value);
    balance.buying_power = notes.amount(p, "equity-buying-power", b.equity_buying_power);
    balance.maintenance_requirement =
        notes.amount(p, "maintenance-requirement", b.maintenance_requirement);
    balance.margin_excess = notes.amount(p, "maintenance-excess", b.maintenance_excess);
    balance.withdrawable_cash = notes.amount(
        p,
        "cash-available-to-withdraw",
        b.cash_available_to_withdraw,
    );
    let sum = |notes: &mut Notes, fields: [(&str, Option<&RawValue>); 3]| {
        let mut total: Option<Decimal> = None;
        for (name, raw) in fields {
            if let Some(v) = notes.amount(p, name, raw) {
                total = notes.sum(p, name, total.unwrap_or_default(), v);
                if total.is_none() {
                    break;
                }
            }
        }
        total
    };
    balance.long_market_value = sum(
        notes,
        [
            ("long-equity-value", b.long_equity_value),
            ("long-derivative-value", b.long_derivative_value),
            ("long-futures-value", b.long_futures_value),
        ],
    );
    // Sent as positive magnitudes; the frame's short value is signed.
    balance.short_market_value = sum(
        notes,
        [
            ("short-equity-value", b.short_equity_value),
            ("short-derivative-value", b.short_derivative_value),
            ("short-futures-value", b.short_futures_value),
        ],
    )
    .map(|v| -v.abs());
    balance.updated_at = b.updated_at.as_deref().and_then(timestamp);
}

fn timestamp(t: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(t)
        .or_else(|_| DateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S%.f%z"))
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

fn account_row(n: &str, as_of: NaiveDate, f: &AccountFields, s: &TradingStatus) -> AccountRow {
    let ira = f
        .account_type_name
        .as_deref()
        .is_some_and(|t| t.to_ascii_uppercase().contains("IRA"));
    let margin = match f
        .margin_or_cash
        .as_deref()
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("margin") => Some(true),
        Some("cash") => Some(false),
        _ => None,
    };
    let kind = match (ira, margin) {
        (true, Some(true)) => AccountKind::IraMargin,
        (true, _) => AccountKind::IraCash,
        (false, Some(true)) => AccountKind::Margin,
        (false, Some(false)) => AccountKind::Cash,
        (false, None) if truthy(&f.is_futures_approved) => AccountKind::Futures,
        _ => AccountKind::Unknown,
    };
    let status = if truthy(&f.is_closed) || truthy(&s.is_closed) {
        AccountStatus::Closed
    } else if truthy(&s.is_frozen) || truthy(&s.is_closing_only) {
        AccountStatus::Restricted
    } else {
        AccountStatus::Active
    };
    let paper = truthy(&f.is_test_drive);
    AccountRow {
        broker: BROKER,
        account_id: n.to_string(),
        account_name: f.nickname.clone().filter(|s| !s.trim().is_empty()),
        account_kind: if paper { AccountKind::Paper } else { kind },
        status,
        options_level: s
            .options_level
            .clone()
            .or_else(|| f.suitable_options_level.clone()),
        is_paper: paper,
        as_of,
    }
}

/// What a tastytrade symbol names.
struct Contract {
    symbol: CompactString,
    underlying: CompactString,
    instrument: Instrument,
    put_call: Option<PutCall>,
    strike: Option<Decimal>,
    expiry: Option<NaiveDate>,
}

fn instrument_of(t: Option<&str>) -> Instrument {
    match t.map(str::to_ascii_lowercase).as_deref() {
        Some("equity") | Some("equity offering") => Instrument::Equity,
        Some("equity option") => Instrument::EquityOption,
        Some("future") => Instrument::Future,
        Some("future option") => Instrument::FutureOption,
        Some("cryptocurrency") => Instrument::Crypto,
        Some("index") => Instrument::Index,
        Some("bond") | Some("fixed income security") => Instrument::Bond,
        _ => Instrument::Other,
    }
}

/// `./MESZ6 EX3Z6 261218P6450` → put, strike 6450 (as written), expiry 2026-12-18.
fn future_option(symbol: &str) -> Option<(PutCall, Decimal, NaiveDate)> {
    let last = symbol.split_whitespace().last()?;
    let (date, rest) = last.split_at_checked(6)?;
    let expiry = NaiveDate::parse_from_str(date, "%y%m%d").ok()?;
    let mut chars = rest.chars();
    let put_call = match chars.next()? {
        'C' | 'c' => PutCall::Call,
        'P' | 'p' => PutCall::Put,
        _ => return None,
    };
    let strike = exact::parse_decimal(chars.as_str())?;
    Some((put_call, strike, expiry))
}

fn contract(p: &Position, symbol: &str, expires: Option<NaiveDate>) -> Result<Contract, String> {
    let instrument = instrument_of(p.instrument_type.as_deref());
    let underlying = p
        .underlying_symbol
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty());
    Ok(match instrument {
        Instrument::EquityOption => {
            let occ = OccSymbol::parse(symbol)
                .map_err(|e| format!("equity option `{symbol}` is not an OCC symbol: {e}"))?;
            Contract {
                symbol: occ.compact_text(),
                underlying: underlying.unwrap_or(occ.root()).into(),
                instrument,
                put_call: Some(occ.put_call()),
                strike: Some(occ.strike()),
                expiry: Some(occ.expiry()),
            }
        }
        Instrument::FutureOption => {
            let (put_call, strike, expiry) = future_option(symbol).ok_or_else(|| {
                format!("future option `{symbol}` is not `./<future> <code> YYMMDD<C|P><strike>`")
            })?;
            let future = symbol
                .trim_start_matches('.')
                .split_whitespace()
                .next()
                .unwrap_or_default();
            Contract {
                symbol: symbol.into(),
                underlying: underlying.unwrap_or(future).into(),
                instrument,
                put_call: Some(put_call),
                strike: Some(strike),
                expiry: expires.or(Some(expiry)),
            }
        }
        _ => Contract {
            symbol: symbol.into(),
            underlying: underlying.unwrap_or(symbol).into(),
            instrument,
            put_call: None,
            strike: None,
            expiry: if instrument == Instrument::Future {
                expires
            } else {
                None
            },
        },
    })
}

/// The position's signed quantity: `quantity` is a magnitude and `quantity-direction`
/// (Long, Short, Zero) its sign; `None`, noted, when the direction is unknown.
fn signed_quantity(p: &Position, pointer: &str, notes: &mut Notes) -> Option<Decimal> {
    let sign = match p.quantity_direction.as_deref() {
        Some(d) if d.eq_ignore_ascii_case("long") => Decimal::ONE,
        Some(d) if d.eq_ignore_ascii_case("short") => Decimal::NEGATIVE_ONE,
        Some(d) if d.eq_ignore_ascii_case("zero") => Decimal::ZERO,
        other => {
            let shown = other.map_or_else(|| "missing".to_string(), |d| format!("{d:?}"));
            notes.note(
                format!("{pointer}/quantity-direction"),
                format!(
                    "`quantity-direction` is {shown}, not Long, Short or Zero: direction unknown"
                ),
            );
            return None;
        }
    };
    let magnitude = notes.size(pointer, "quantity", p.quantity)?;
    if magnitude.is_sign_negative() {
        notes.note(
            format!("{pointer}/quantity"),
            format!("`quantity` {magnitude} is negative though it is a magnitude; `quantity-direction` decides the sign"),
        );
    }
    Some(magnitude.abs() * sign)
}

/// The contract multiplier: the broker's, else 100 for equity options and 1 for shares and
/// crypto; 0 (not valued, noted) for anything else without one.
fn multiplier_of(
    p: &Position,
    instrument: Instrument,
    symbol: &str,
    pointer: &str,
    notes: &mut Notes,
) -> Decimal {
    match notes.amount(pointer, "multiplier", p.multiplier) {
        Some(m) if !m.is_zero() => m,
        _ => match instrument {
            Instrument::EquityOption => Decimal::ONE_HUNDRED,
            Instrument::Equity | Instrument::Crypto => Decimal::ONE,
            _ => {
                notes.note(
                    pointer,
                    format!(
                        "{} `{symbol}` without a `multiplier`: not valued",
                        instrument
                    ),
                );
                Decimal::ZERO
            }
        },
    }
}

fn position_row(
    account: &str,
    p: &Position,
    pointer: &str,
    notes: &mut Notes,
    seen: &mut BTreeMap<CompactString, usize>,
) -> Option<PositionRow> {
    let Some(symbol) = p.symbol.as_deref().map(str::trim).filter(|s| !s.is_empty()) else {
        notes.note(pointer, "position without `symbol`");
        return None;
    };
    let quantity = signed_quantity(p, pointer, notes)?;
    let expires = p
        .expires_at
        .as_deref()
        .and_then(timestamp)
        .map(|t| t.with_timezone(&chrono_tz::America::New_York).date_naive());
    let c = match contract(p, symbol, expires) {
        Ok(c) => c,
        Err(e) => {
            notes.note(pointer, e);
            return None;
        }
    };
    let multiplier = multiplier_of(p, c.instrument, symbol, pointer, notes);
    let avg_price = notes.amount(pointer, "average-open-price", p.average_open_price);
    let close_price = notes.amount(pointer, "close-price", p.close_price);
    // No mark (positions fetched without `include-marks`) is a readable record with a
    // null mark, not a quarantine: its value is unknown, the account's identity check is
    // unknown, and data-quality's `mark-missing` names it. Yesterday's close is not
    // today's value, so it is not used in its place.
    let mark = notes
        .amount(pointer, "mark-price", p.mark_price)
        .or_else(|| notes.amount(pointer, "mark", p.mark));
    let valued = !multiplier.is_zero();
    // A row closed during the day (`Zero`) is worth nothing, mark or not.
    let market_value = if quantity.is_zero() {
        Some(Decimal::ZERO)
    } else {
        mark.filter(|_| valued).and_then(|m| {
            notes.product(
                pointer,
                "quantity × mark × multiplier",
                &[quantity, m, multiplier],
            )
        })
    };
    let unrealized = match (mark, avg_price) {
        (Some(m), Some(a)) if valued => m
            .checked_sub(a)
            .and_then(|d| notes.product(pointer, "unrealized P&L", &[d, quantity, multiplier])),
        _ => None,
    };
    // Futures settle daily: what they add to net liq is open-trade P&L, not notional.
    let net_liq_value = if c.instrument == Instrument::Future && !quantity.is_zero() {
        unrealized
    } else {
        market_value
    };
    let n = seen.entry(c.symbol.clone()).or_default();
    *n += 1;
    let position_id = if *n == 1 {
        c.symbol.clone()
    } else {
        compact_str::format_compact!("{}#{n}", c.symbol)
    };
    Some(PositionRow {
        broker: BROKER,
        account_id: account.into(),
        position_id,
        symbol: c.symbol,
        underlying: c.underlying,
        instrument: c.instrument,
        put_call: c.put_call,
        strike: c.strike,
        expires_at: c.expiry,
        quantity,
        side: p.quantity_direction.as_deref().and_then(Side::from_broker),
        multiplier,
        avg_price,
        mark,
        close_price,
        market_value,
        net_liq_value,
        cost_basis: avg_price
            .filter(|_| valued)
            .and_then(|a| notes.product(pointer, "cost basis", &[a, quantity, multiplier])),
        unrealized_pnl: unrealized,
        pnl_expected: false,
        updated_at: p.updated_at.as_deref().and_then(timestamp),
        cusip: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn future_option_symbols_keep_the_strike_as_written() {
        let (pc, strike, expiry) = future_option("./6EZ6 EUUZ6 261204C1.225").unwrap();
        assert_eq!((pc, strike), (PutCall::Call, dec!(1.225)));
        assert_eq!(expiry, NaiveDate::from_ymd_opt(2026, 12, 4).unwrap());
        let (pc, strike, _) = future_option("./MESZ6 EX3Z6 261218P6450").unwrap();
        assert_eq!((pc, strike), (PutCall::Put, dec!(6450)));
        assert!(future_option("./MESZ6").is_none());
        assert!(future_option("./MESZ6 EX3 2612X").is_none());
    }
}
