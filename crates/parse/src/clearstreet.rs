//! Clear Street (BROKERS.md §3) → canonical rows.
//!
//! Survives: the `{data, error, metadata}` envelope (an error envelope in a file becomes a
//! quarantine row, not an empty account), every amount a decimal string, int64 account ids
//! as numbers or strings, the account list and positions split over pages, signed
//! quantities (authoritative; a `position_type` that contradicts the sign is noted), enum
//! values from any spec revision and ones never seen (`other`, never a failure), compact OSI
//! option symbols, no multiplier (100 for options), `short_market_value` omitted when
//! there is none, and `margin_details` only on margin accounts.

use crate::common::{
    AccountRead, ItemPointer, Notes, each_record, parse, read_pages, read_text, text_of, upper,
};
use chrono::NaiveDate;
use recon_model::occ::OccSymbol;
use recon_model::{
    AccountKind, AccountRow, AccountStatus, BalanceRow, Book, Broker, CompactString, Instrument,
    PositionRow, QuarantineRow, Side,
};
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::value::RawValue;
use std::collections::BTreeMap;
use std::path::Path;

const BROKER: Broker = Broker::Clearstreet;

/// `data` of a body, or why there is none.
fn data(text: &str) -> Result<&RawValue, String> {
    crate::common::envelope_data(text, "Clear Street {data, error, metadata}")
}

/// The records of a list page's `data`, or why there are none.
fn data_array(text: &str) -> Result<Vec<&RawValue>, String> {
    if let Some(items) = crate::common::array_at(text, &["data"], &["error"]) {
        return Ok(items);
    }
    data(text).and_then(|d| {
        serde_json::from_str(d.get()).map_err(|e| format!("`data` is not an array: {e}"))
    })
}

#[derive(Deserialize, Default)]
struct AccountFields<'a> {
    #[serde(borrow)]
    id: Option<&'a RawValue>,
    short_name: Option<String>,
    full_name: Option<String>,
    subtype: Option<String>,
    status: Option<String>,
    #[serde(borrow)]
    options_level: Option<&'a RawValue>,
}

#[derive(Deserialize, Default)]
struct MarginDetails<'a> {
    #[serde(borrow)]
    maintenance_margin_requirement: Option<&'a RawValue>,
    #[serde(borrow)]
    maintenance_margin_excess: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct Balances<'a> {
    currency: Option<String>,
    #[serde(borrow)]
    equity: Option<&'a RawValue>,
    #[serde(borrow)]
    buying_power: Option<&'a RawValue>,
    #[serde(borrow)]
    trade_cash: Option<&'a RawValue>,
    #[serde(borrow)]
    settled_cash: Option<&'a RawValue>,
    #[serde(borrow)]
    withdrawable_cash: Option<&'a RawValue>,
    #[serde(borrow)]
    long_market_value: Option<&'a RawValue>,
    #[serde(borrow)]
    short_market_value: Option<&'a RawValue>,
    #[serde(borrow)]
    unrealized_pnl: Option<&'a RawValue>,
    #[serde(borrow)]
    daily_pnl: Option<&'a RawValue>,
    margin_type: Option<String>,
    #[serde(borrow, default)]
    margin_details: Option<MarginDetails<'a>>,
}

#[derive(Deserialize)]
struct Position<'a> {
    // Inline texts: no allocation per field of a position.
    instrument_id: Option<CompactString>,
    symbol: Option<CompactString>,
    instrument_type: Option<CompactString>,
    position_type: Option<CompactString>,
    #[serde(borrow)]
    quantity: Option<&'a RawValue>,
    #[serde(borrow)]
    avg_price: Option<&'a RawValue>,
    #[serde(borrow)]
    instrument_price: Option<&'a RawValue>,
    #[serde(borrow)]
    closing_price: Option<&'a RawValue>,
    #[serde(borrow)]
    market_value: Option<&'a RawValue>,
    #[serde(borrow)]
    cost_basis: Option<&'a RawValue>,
    #[serde(borrow)]
    unrealized_pnl: Option<&'a RawValue>,
}

/// Every page of `clearstreet/accounts.NNNN.json`: each account's raw entry by id.
pub(crate) fn read_account_list(
    root: &Path,
    quarantine: &mut Vec<QuarantineRow>,
) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (source, text) in read_pages(root, "clearstreet/accounts") {
        let mut notes = Notes::new(BROKER, None, source, quarantine);
        let text = match text {
            Ok(t) => t,
            Err(e) => {
                notes.note("", format!("cannot read: {e}"));
                continue;
            }
        };
        let items: Vec<&RawValue> = match data_array(&text) {
            Ok(items) => items,
            Err(e) => {
                notes.note("", format!("unreadable account list page: {e}"));
                continue;
            }
        };
        for (i, item) in items.iter().enumerate() {
            match parse::<AccountFields>(item).map(|f| text_of(f.id)) {
                Ok(Some(id)) => {
                    out.insert(id.into(), item.get().to_string());
                }
                Ok(None) => notes.note(format!("/data/{i}"), "account entry without an `id`"),
                Err(e) => notes.note(
                    format!("/data/{i}"),
                    format!("unreadable account entry: {e}"),
                ),
            }
        }
    }
    out
}

/// One account: its list entry, `balances.json` and every positions page.
pub(crate) fn read_account(
    root: &Path,
    id: &str,
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

    let mut balance = BalanceRow::empty(BROKER, id, "USD");
    let mut futures = false;
    let source = format!("clearstreet/{id}/balances.json");
    match read_text(
        root,
        BROKER,
        id,
        &source,
        expected_missing.contains(&"balances"),
        &mut quarantine,
    ) {
        Some(text) => {
            let mut notes = Notes::new(BROKER, Some(id), source, &mut quarantine);
            match data(&text).and_then(parse::<Balances>) {
                Ok(b) => futures = read_balances(b, &mut balance, &mut notes),
                Err(e) => {
                    complete = false;
                    notes.note("", format!("unreadable balances: {e}"));
                }
            }
        }
        None => complete = false,
    }

    let mut positions = Vec::new();
    let pages = read_pages(root, &format!("clearstreet/{id}/positions"));
    if pages.is_empty() {
        complete = false;
        if !expected_missing.contains(&"positions") {
            quarantine.push(crate::common::file_problem(
                BROKER,
                id,
                &format!("clearstreet/{id}/positions.0001.json"),
                "no positions page in the snapshot",
            ));
        }
    }
    for (source, text) in pages {
        let mut notes = Notes::new(BROKER, Some(id), source, &mut quarantine);
        complete &= read_positions_page(id, &text, &mut positions, &mut notes);
    }

    let account = account_row(id, as_of, &fields, futures);
    AccountRead {
        book: Book::of_account(account, balance, positions, quarantine),
        complete,
    }
}

/// The balances body into the account's USD balance row; whether it is a futures account.
fn read_balances(b: Balances, balance: &mut BalanceRow, notes: &mut Notes) -> bool {
    let p = "/data";
    if let Some(c) = b.currency.filter(|c| !c.trim().is_empty()) {
        balance.currency = c.trim().to_ascii_uppercase();
    }
    // Trade-date cash, as positions are trade-date (DESIGN.md balances).
    balance.cash = notes
        .amount(p, "trade_cash", b.trade_cash)
        .or_else(|| notes.amount(p, "settled_cash", b.settled_cash));
    balance.net_liq = notes.amount(p, "equity", b.equity);
    balance.buying_power = notes.amount(p, "buying_power", b.buying_power);
    balance.withdrawable_cash = notes.amount(p, "withdrawable_cash", b.withdrawable_cash);
    balance.long_market_value = notes.amount(p, "long_market_value", b.long_market_value);
    // Absent means none short (BROKERS.md §3.5), not unknown.
    balance.short_market_value = notes
        .amount(p, "short_market_value", b.short_market_value)
        .or(balance.long_market_value.map(|_| Decimal::ZERO));
    balance.unrealized_pnl = notes.amount(p, "unrealized_pnl", b.unrealized_pnl);
    balance.day_pnl = notes.amount(p, "daily_pnl", b.daily_pnl);
    if let Some(m) = b.margin_details {
        let p = "/data/margin_details";
        balance.maintenance_requirement = notes.amount(
            p,
            "maintenance_margin_requirement",
            m.maintenance_margin_requirement,
        );
        balance.margin_excess =
            notes.amount(p, "maintenance_margin_excess", m.maintenance_margin_excess);
    }
    b.margin_type
        .is_some_and(|t| t.to_ascii_uppercase().starts_with("FUTURES"))
}

/// One positions page into `positions`; `false` when the page cannot be read.
fn read_positions_page(
    id: &str,
    text: &std::io::Result<String>,
    positions: &mut Vec<PositionRow>,
    notes: &mut Notes,
) -> bool {
    let items = match text {
        Ok(t) => each_record::<Position>(t, &["data"], &["error"], data_array),
        Err(e) => Err(format!("cannot read: {e}")),
    };
    match items {
        Ok(items) => {
            let mut at = ItemPointer::new("/data");
            // Sized once: a row is a few hundred bytes, and growing by doubling copied them.
            positions.reserve(items.len());
            for (i, item) in items.into_iter().enumerate() {
                let pointer = at.at(i);
                match item {
                    Ok(p) => {
                        if let Some(row) = position_row(id, &p, pointer, notes) {
                            positions.push(row);
                        }
                    }
                    Err(e) => notes.note(pointer, format!("unreadable position: {e}")),
                }
            }
        }
        Err(e) => {
            notes.note("", format!("unreadable positions page: {e}"));
            return false;
        }
    }
    true
}

fn account_row(id: &str, as_of: NaiveDate, f: &AccountFields, futures: bool) -> AccountRow {
    let upper = |s: &Option<String>| s.as_deref().map(|s| s.trim().to_ascii_uppercase());
    let kind = if futures {
        AccountKind::Futures
    } else {
        match upper(&f.subtype).as_deref() {
            Some("CASH") => AccountKind::Cash,
            Some("MARGIN") => AccountKind::Margin,
            _ => AccountKind::Unknown,
        }
    };
    let status = match upper(&f.status).as_deref() {
        None | Some("ACTIVE") => AccountStatus::Active,
        Some("INACTIVE") => AccountStatus::Restricted,
        Some("CLOSED") => AccountStatus::Closed,
        Some(_) => AccountStatus::Unknown,
    };
    AccountRow {
        broker: BROKER,
        account_id: id.to_string(),
        account_name: f.full_name.clone().or_else(|| f.short_name.clone()),
        account_kind: kind,
        status,
        options_level: text_of(f.options_level).map(String::from),
        is_paper: false,
        as_of,
    }
}

/// Enum values from every spec revision; anything else is `other` (BROKERS.md §3.6).
fn instrument(instrument_type: Option<&str>) -> Instrument {
    match instrument_type.map(str::to_ascii_uppercase).as_deref() {
        Some("COMMON_STOCK") | Some("PREFERRED_STOCK") => Instrument::Equity,
        Some("OPTION") => Instrument::EquityOption,
        Some("INDEX") => Instrument::Index,
        Some("CASH") => Instrument::Cash,
        _ => Instrument::Other,
    }
}

fn position_row(
    account: &str,
    p: &Position,
    pointer: &str,
    notes: &mut Notes,
) -> Option<PositionRow> {
    let Some(symbol) = p.symbol.as_deref().map(str::trim).filter(|s| !s.is_empty()) else {
        notes.note(pointer, "position without `symbol`");
        return None;
    };
    let quantity = notes.size(pointer, "quantity", p.quantity)?;
    // The signed quantity is authoritative; `position_type` is kept as `side`, and a
    // contradiction between the two is data-quality's `quantity-side-mismatch`.
    let side = p.position_type.as_deref().and_then(Side::from_broker);
    let mut kind = instrument(p.instrument_type.as_deref());
    let occ = OccSymbol::parse(symbol).ok();
    if kind == Instrument::Other && occ.is_some() {
        kind = Instrument::EquityOption;
    }
    let (symbol, underlying, put_call, strike, expires_at) = match (&occ, kind) {
        (Some(o), Instrument::EquityOption) => (
            o.compact_text(),
            o.root().into(),
            Some(o.put_call()),
            Some(o.strike()),
            Some(o.expiry()),
        ),
        (None, Instrument::EquityOption) => {
            notes.note(
                pointer,
                format!("option `{symbol}` is not an OSI symbol: contract unknown"),
            );
            return None;
        }
        _ => {
            let s = upper(symbol);
            (s.clone(), s, None, None, None)
        }
    };
    let multiplier = if kind == Instrument::EquityOption {
        Decimal::ONE_HUNDRED
    } else {
        Decimal::ONE
    };
    let mark = notes.amount(pointer, "instrument_price", p.instrument_price);
    let sent_value = notes.amount(pointer, "market_value", p.market_value);
    // Computed from the mark when there is one: the broker's own figure is not always
    // quantity × price (BROKERS.md §3.6 quirk 4).
    let market_value = match mark {
        Some(m) => notes.product(
            pointer,
            "quantity × instrument_price × multiplier",
            &[quantity, m, multiplier],
        ),
        None => sent_value,
    };
    Some(PositionRow {
        broker: BROKER,
        account_id: account.into(),
        position_id: p
            .instrument_id
            .clone()
            .filter(|s| !s.trim().is_empty())
            .unwrap_or_else(|| symbol.clone()),
        symbol,
        underlying,
        instrument: kind,
        put_call,
        strike,
        expires_at,
        quantity,
        side,
        multiplier,
        avg_price: notes.amount(pointer, "avg_price", p.avg_price),
        mark,
        close_price: notes.amount(pointer, "closing_price", p.closing_price),
        market_value,
        net_liq_value: market_value,
        cost_basis: notes.amount(pointer, "cost_basis", p.cost_basis),
        unrealized_pnl: notes.amount(pointer, "unrealized_pnl", p.unrealized_pnl),
        pnl_expected: false,
        updated_at: None,
        cusip: None,
    })
}
