//! TradeZero (BROKERS.md §2) → canonical rows.
//!
//! Survives: both account-list shapes (`{"accounts": […]}` and a bare array of
//! `{accountId, …}`), `bp` or `buyingPower`, positions wrapped or bare, `side` as the authority
//! for direction with `|shares|` as the size (shorts sometimes negative), options carrying the
//! root in `symbol` and the OCC in `tradedSymbol`, no option multiplier (100), `priceClose` 0
//! while open, no mark (derived from the matched P&L row's exposure), `…Pnl`/`…PnL` casing, and
//! P&L rows for lots closed today (exposure 0).

use crate::common::{
    AccountRead, ItemPointer, Notes, each_record, parse, read_text, text_of, upper,
};
use crate::exact::to_frame_scale;
use chrono::{DateTime, NaiveDate, Utc};
use recon_model::occ::OccSymbol;
use recon_model::pnl_match::{PnlKeys, PositionKeys, match_pnl};
use recon_model::{
    AccountKind, AccountRow, AccountStatus, BalanceRow, Book, Broker, CompactString, Instrument,
    PnlRow, PositionRow, QuarantineRow, Side,
};
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

const BROKER: Broker = Broker::Tradezero;

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct AccountFields<'a> {
    account: Option<String>,
    account_id: Option<String>,
    account_name: Option<String>,
    account_status: Option<String>,
    status: Option<String>,
    account_type: Option<String>,
    #[serde(borrow)]
    available_cash: Option<&'a RawValue>,
    #[serde(borrow)]
    buying_power: Option<&'a RawValue>,
    #[serde(borrow)]
    bp: Option<&'a RawValue>,
    #[serde(borrow)]
    equity: Option<&'a RawValue>,
    #[serde(borrow)]
    leverage: Option<&'a RawValue>,
    #[serde(borrow)]
    used_leverage: Option<&'a RawValue>,
    #[serde(borrow)]
    opt_level: Option<&'a RawValue>,
    #[serde(borrow)]
    option_trading_level: Option<&'a RawValue>,
}

impl AccountFields<'_> {
    fn id(&self) -> Option<String> {
        self.account
            .as_ref()
            .or(self.account_id.as_ref())
            .map(|s| s.trim().to_ascii_uppercase())
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Position<'a> {
    #[serde(borrow)]
    position_id: Option<&'a RawValue>,
    // Short texts inline, the timestamp borrowed: no allocation per field of a position.
    symbol: Option<CompactString>,
    traded_symbol: Option<CompactString>,
    security_type: Option<CompactString>,
    side: Option<CompactString>,
    #[serde(borrow)]
    shares: Option<&'a RawValue>,
    #[serde(borrow)]
    price_avg: Option<&'a RawValue>,
    #[serde(borrow)]
    price_close: Option<&'a RawValue>,
    #[serde(borrow)]
    maintenance_requirement: Option<&'a RawValue>,
    #[serde(borrow)]
    updated_date: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PnlBody<'a, L> {
    #[serde(borrow)]
    account_value: Option<&'a RawValue>,
    #[serde(borrow)]
    available_cash: Option<&'a RawValue>,
    #[serde(borrow)]
    allowed_leverage: Option<&'a RawValue>,
    #[serde(borrow)]
    used_leverage: Option<&'a RawValue>,
    #[serde(borrow)]
    exposure: Option<&'a RawValue>,
    #[serde(borrow)]
    day_pnl: Option<&'a RawValue>,
    #[serde(borrow)]
    total_unrealized: Option<&'a RawValue>,
    /// Each line as read: a `PnlLine`, or the line's text (`&RawValue`) to read on its own.
    pnl: Option<Vec<L>>,
}

impl<'a, L> PnlBody<'a, L> {
    /// The same body with each P&L line made `f(line)`.
    fn map_lines<M>(self, f: impl FnMut(L) -> M) -> PnlBody<'a, M> {
        PnlBody {
            account_value: self.account_value,
            available_cash: self.available_cash,
            allowed_leverage: self.allowed_leverage,
            used_leverage: self.used_leverage,
            exposure: self.exposure,
            day_pnl: self.day_pnl,
            total_unrealized: self.total_unrealized,
            pnl: self.pnl.map(|lines| lines.into_iter().map(f).collect()),
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PnlLine<'a> {
    #[serde(borrow)]
    position_id: Option<&'a RawValue>,
    symbol: Option<CompactString>,
    #[serde(borrow)]
    exposure: Option<&'a RawValue>,
    #[serde(borrow)]
    realized_pnl: Option<&'a RawValue>,
    // TradeZero writes `…PnL` here and `…Pnl` elsewhere; both are read.
    #[serde(rename = "unrealizedPnL", alias = "unrealizedPnl", borrow)]
    unrealized_pnl: Option<&'a RawValue>,
    #[serde(borrow)]
    day_realized_pnl: Option<&'a RawValue>,
    #[serde(rename = "dayUnrealizedPnL", alias = "dayUnrealizedPnl", borrow)]
    day_unrealized_pnl: Option<&'a RawValue>,
}

/// `records`, each read as a `T` (in one pass when they all read: `each_record`).
fn typed_records<'a, T: Deserialize<'a>>(
    body: &'a str,
    key: &str,
) -> Result<(Vec<Result<T, String>>, String), String> {
    let (path, prefix) = list_place(body, &key);
    let rows = each_record::<T>(body, path, &[], |b| records(b, key).map(|(items, _)| items))?;
    Ok((rows, prefix))
}

/// Where a list is: the body itself when it is a bare array, else its `key` (the path
/// `array_at` follows); and the JSON pointer prefix of its records.
fn list_place<'k>(body: &str, key: &'k &'k str) -> (&'k [&'k str], String) {
    if body.trim_start().starts_with('[') {
        (&[], String::new())
    } else {
        (std::slice::from_ref(key), format!("/{key}"))
    }
}

/// A JSON array, either bare or under `key` in an object: the records and the pointer prefix.
fn records<'a>(body: &'a str, key: &str) -> Result<(Vec<&'a RawValue>, String), String> {
    let (path, prefix) = list_place(body, &key);
    if let Some(items) = crate::common::array_at(body, path, &[]) {
        return Ok((items, prefix));
    }
    if path.is_empty() {
        let items: Vec<&RawValue> = serde_json::from_str(body).map_err(|e| e.to_string())?;
        return Ok((items, prefix));
    }
    let map: HashMap<String, &RawValue> =
        serde_json::from_str(body).map_err(|e| format!("neither an array nor an object: {e}"))?;
    let inner = map
        .get(key)
        .ok_or_else(|| format!("object without a `{key}` array"))?;
    let items: Vec<&RawValue> =
        serde_json::from_str(inner.get()).map_err(|e| format!("`{key}` is not an array: {e}"))?;
    Ok((items, prefix))
}

/// Reads `tradezero/accounts.json`: each account's fields by canonical id, for accounts whose
/// own details file is missing and for the slim shape's names.
pub(crate) fn read_account_list(
    root: &Path,
    quarantine: &mut Vec<QuarantineRow>,
) -> BTreeMap<String, String> {
    let source = "tradezero/accounts.json".to_string();
    let mut out = BTreeMap::new();
    let Ok(body) = std::fs::read_to_string(root.join(&source)) else {
        return out;
    };
    let mut notes = Notes::new(BROKER, None, source, quarantine);
    match records(&body, "accounts") {
        Ok((items, prefix)) => {
            for (i, item) in items.iter().enumerate() {
                match parse::<AccountFields>(item) {
                    Ok(fields) => match fields.id() {
                        Some(id) => {
                            out.insert(id, item.get().to_string());
                        }
                        None => notes.note(format!("{prefix}/{i}"), "account entry without an id"),
                    },
                    Err(e) => notes.note(
                        format!("{prefix}/{i}"),
                        format!("unreadable account entry: {e}"),
                    ),
                }
            }
        }
        Err(e) => notes.note("", format!("unreadable account list: {e}")),
    }
    out
}

/// Reads one account folder: `account.json`, `positions.json`, `pnl.json`.
///
/// `list_entry` is the account's element of the account list (raw JSON), used where the
/// details file is missing. `expected_missing` names endpoints the manifest already reports
/// as not fetched, so their absence is not reported a second time.
pub(crate) fn read_account(
    root: &Path,
    id: &str,
    as_of: NaiveDate,
    list_entry: Option<&String>,
    expected_missing: &[&str],
) -> AccountRead {
    let list_entry = list_entry.map(String::as_str);
    let mut quarantine = Vec::new();
    let load = |endpoint: &str, quarantine: &mut Vec<QuarantineRow>| {
        let source = format!("tradezero/{id}/{endpoint}.json");
        let missing_known = expected_missing.contains(&endpoint);
        read_text(root, BROKER, id, &source, missing_known, quarantine)
    };
    let details_text = load("account", &mut quarantine);
    let positions_text = load("positions", &mut quarantine);
    let pnl_text = load("pnl", &mut quarantine);
    // A file that could not be read leaves the account incomplete.
    let mut complete = details_text.is_some() && positions_text.is_some() && pnl_text.is_some();

    // Account fields: the details file, else the account-list entry.
    let mut notes = Notes::new(
        BROKER,
        Some(id),
        format!("tradezero/{id}/account.json"),
        &mut quarantine,
    );
    let details: AccountFields = match details_text.as_deref().or(list_entry) {
        Some(text) => match serde_json::from_str(text) {
            Ok(d) => d,
            Err(e) => {
                notes.note("", format!("unreadable account details: {e}"));
                complete = false;
                AccountFields::default()
            }
        },
        None => AccountFields::default(),
    };
    let account = account_row(id, as_of, &details);
    let mut balance = BalanceRow::empty(BROKER, id, "USD");
    balance.cash = notes.amount("", "availableCash", details.available_cash);
    balance.net_liq = notes.amount("", "equity", details.equity);
    balance.buying_power = notes
        .amount("", "buyingPower", details.buying_power)
        .or_else(|| notes.amount("", "bp", details.bp));
    balance.allowed_leverage = notes.amount("", "leverage", details.leverage);
    balance.used_leverage = notes.amount("", "usedLeverage", details.used_leverage);

    let mut positions = Vec::new();
    if let Some(text) = &positions_text {
        let read = read_positions(id, text, &mut quarantine);
        complete &= read.complete;
        balance.maintenance_requirement = read.maintenance;
        positions = read.rows;
    }
    let mut pnl = Vec::new();
    if let Some(text) = &pnl_text {
        let (rows, read) = read_pnl(id, text, &mut balance, &mut quarantine);
        complete &= read;
        pnl = rows;
    }
    value_positions(&mut positions, &pnl);
    AccountRead {
        book: Book {
            accounts: vec![account],
            balances: vec![balance],
            positions,
            pnl,
            quarantine,
        },
        complete,
    }
}

/// An account's positions file: its rows, the maintenance requirement they sum to, and
/// whether the file could be read.
struct Positions {
    rows: Vec<PositionRow>,
    maintenance: Option<Decimal>,
    complete: bool,
}

fn read_positions(id: &str, text: &str, quarantine: &mut Vec<QuarantineRow>) -> Positions {
    let mut notes = Notes::new(
        BROKER,
        Some(id),
        format!("tradezero/{id}/positions.json"),
        quarantine,
    );
    let mut out = Positions {
        rows: Vec::new(),
        maintenance: None,
        complete: true,
    };
    let (items, prefix) = match typed_records::<Position>(text, "positions") {
        Ok(found) => found,
        Err(e) => {
            notes.note("", format!("unreadable positions file: {e}"));
            out.complete = false;
            return out;
        }
    };
    let mut unnamed: HashMap<CompactString, usize> = HashMap::new();
    let mut at = ItemPointer::new(&prefix);
    // Sized once: a row is a few hundred bytes, and growing by doubling copied them all.
    out.rows.reserve(items.len());
    for (i, item) in items.into_iter().enumerate() {
        let pointer = at.at(i);
        let p = match item {
            Ok(p) => p,
            Err(e) => {
                notes.note(pointer, format!("unreadable position: {e}"));
                continue;
            }
        };
        let Some((row, maint)) = position_row(id, &p, pointer, &mut notes, &mut unnamed) else {
            continue;
        };
        if let Some(m) = maint {
            out.maintenance = notes.sum(
                pointer,
                "the account's maintenance requirement",
                out.maintenance.unwrap_or_default(),
                m,
            );
        }
        out.rows.push(row);
    }
    out
}

/// An account's P&L file: account totals override the details' (they are live), and one
/// row per lot. Returns the rows and whether the file could be read.
fn read_pnl(
    id: &str,
    text: &str,
    balance: &mut BalanceRow,
    quarantine: &mut Vec<QuarantineRow>,
) -> (Vec<PnlRow>, bool) {
    let mut notes = Notes::new(
        BROKER,
        Some(id),
        format!("tradezero/{id}/pnl.json"),
        quarantine,
    );
    // In one pass when every line reads (the usual case); else line by line, so that each
    // bad line is said with its place and the others still read.
    let body = match serde_json::from_str::<PnlBody<PnlLine>>(text) {
        Ok(body) => body.map_lines(Ok),
        Err(_) => match serde_json::from_str::<PnlBody<&RawValue>>(text) {
            Ok(body) => body.map_lines(parse::<PnlLine>),
            Err(e) => {
                notes.note("", format!("unreadable P&L file: {e}"));
                return (Vec::new(), false);
            }
        },
    };
    let live = [
        (&mut balance.net_liq, "accountValue", body.account_value),
        (&mut balance.cash, "availableCash", body.available_cash),
        (
            &mut balance.allowed_leverage,
            "allowedLeverage",
            body.allowed_leverage,
        ),
        (
            &mut balance.used_leverage,
            "usedLeverage",
            body.used_leverage,
        ),
    ];
    for (field, name, value) in live {
        if let Some(v) = notes.amount("", name, value) {
            *field = Some(v);
        }
    }
    balance.reported_exposure = notes.amount("", "exposure", body.exposure);
    balance.day_pnl = notes.amount("", "dayPnl", body.day_pnl);
    balance.unrealized_pnl = notes.amount("", "totalUnrealized", body.total_unrealized);
    let Some(lines) = body.pnl else {
        notes.note("", "P&L body without a `pnl` array");
        return (Vec::new(), false);
    };
    let mut rows = Vec::with_capacity(lines.len());
    let mut at = ItemPointer::new("/pnl");
    for (i, line) in lines.into_iter().enumerate() {
        let pointer = at.at(i);
        match line {
            Ok(l) => rows.extend(pnl_row(id, &l, pointer, &mut notes)),
            Err(e) => notes.note(pointer, format!("unreadable P&L row: {e}")),
        }
    }
    (rows, true)
}

fn account_row(id: &str, as_of: NaiveDate, f: &AccountFields) -> AccountRow {
    let kind = match f
        .account_type
        .as_deref()
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("cash") => AccountKind::Cash,
        Some("margin") | Some("pdt") => AccountKind::Margin,
        Some("paper") => AccountKind::Paper,
        _ => AccountKind::Unknown,
    };
    let status = match f
        .account_status
        .as_deref()
        .or(f.status.as_deref())
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        None | Some("active") => AccountStatus::Active,
        Some("restricted") | Some("suspended") => AccountStatus::Restricted,
        Some("closed") => AccountStatus::Closed,
        Some(_) => AccountStatus::Unknown,
    };
    AccountRow {
        broker: BROKER,
        account_id: id.to_string(),
        account_name: f.account_name.clone(),
        account_kind: kind,
        status,
        options_level: text_of(f.opt_level)
            .or_else(|| text_of(f.option_trading_level))
            .map(String::from),
        is_paper: kind == AccountKind::Paper || id.starts_with("TZP"),
        as_of,
    }
}

/// One position row, or `None` (noted) when it cannot be read: no side, no size, or an
/// option without a readable contract.
/// What a position row holds: an option by its `tradedSymbol` (OCC), else the `symbol`.
struct Traded {
    symbol: CompactString,
    underlying: CompactString,
    instrument: Instrument,
    put_call: Option<recon_model::PutCall>,
    strike: Option<Decimal>,
    expires_at: Option<NaiveDate>,
}

/// The contract of a position row; `None`, noted, when it cannot be known.
fn traded(p: &Position, pointer: &str, notes: &mut Notes) -> Option<Traded> {
    let is_option = p
        .security_type
        .as_deref()
        .is_some_and(|t| t.eq_ignore_ascii_case("option"))
        || p.traded_symbol
            .as_deref()
            .is_some_and(|t| !t.trim().is_empty());
    if is_option {
        let occ = match p.traded_symbol.as_deref().map(OccSymbol::parse) {
            Some(Ok(occ)) => occ,
            Some(Err(e)) => {
                notes.note(
                    pointer,
                    format!("option with unreadable `tradedSymbol`: {e}"),
                );
                return None;
            }
            None => {
                notes.note(
                    pointer,
                    "option row without `tradedSymbol`: contract unknown",
                );
                return None;
            }
        };
        let underlying = p
            .symbol
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map_or_else(|| occ.root().into(), upper);
        Some(Traded {
            symbol: occ.compact_text(),
            underlying,
            instrument: Instrument::EquityOption,
            put_call: Some(occ.put_call()),
            strike: Some(occ.strike()),
            expires_at: Some(occ.expiry()),
        })
    } else {
        let Some(symbol) = p.symbol.as_deref().map(str::trim).filter(|s| !s.is_empty()) else {
            notes.note(pointer, "position without `symbol`");
            return None;
        };
        let symbol = upper(symbol);
        let instrument = match p.security_type.as_deref() {
            Some(t) if t.eq_ignore_ascii_case("stock") => Instrument::Equity,
            _ => Instrument::Other,
        };
        Some(Traded {
            symbol: symbol.clone(),
            underlying: symbol,
            instrument,
            put_call: None,
            strike: None,
            expires_at: None,
        })
    }
}

fn position_row(
    account: &str,
    p: &Position,
    pointer: &str,
    notes: &mut Notes,
    unnamed: &mut HashMap<CompactString, usize>,
) -> Option<(PositionRow, Option<Decimal>)> {
    // Compared without a lower-cased copy: this runs once per position.
    let sign = match p.side.as_deref() {
        Some(s) if s.eq_ignore_ascii_case("long") => Decimal::ONE,
        Some(s) if s.eq_ignore_ascii_case("short") => Decimal::NEGATIVE_ONE,
        _ => {
            let side = p
                .side
                .as_deref()
                .map_or("missing".to_string(), |s| format!("{s:?}"));
            notes.note(
                pointer,
                format!("`side` is {side}, not Long or Short: direction unknown"),
            );
            return None;
        }
    };
    let shares = notes.size(pointer, "shares", p.shares)?;
    let traded = traded(p, pointer, notes)?;
    let position_id = match text_of(p.position_id) {
        Some(id) => id,
        None => {
            // No id from the broker: derive a stable one from the symbol and its order.
            let n = unnamed.entry(traded.symbol.clone()).or_default();
            *n += 1;
            compact_str::format_compact!("{}#{n}", traded.symbol)
        }
    };
    let multiplier = if traded.instrument == Instrument::EquityOption {
        Decimal::ONE_HUNDRED
    } else {
        Decimal::ONE
    };
    let quantity = shares.abs() * sign;
    let avg_price = notes.amount(pointer, "priceAvg", p.price_avg);
    // priceClose is 0 while a position is open: not a price.
    let close_price = notes
        .amount(pointer, "priceClose", p.price_close)
        .filter(|c| !c.is_zero());
    let maintenance = notes.amount(pointer, "maintenanceRequirement", p.maintenance_requirement);
    let updated_at =
        p.updated_date
            .as_deref()
            .and_then(|t| match DateTime::parse_from_rfc3339(t) {
                Ok(t) => Some(t.with_timezone(&Utc)),
                Err(e) => {
                    notes.note(
                        format!("{pointer}/updatedDate"),
                        format!("`updatedDate` {t:?} is not a timestamp ({e}); left empty"),
                    );
                    None
                }
            });
    Some((
        PositionRow {
            broker: BROKER,
            account_id: account.into(),
            position_id,
            symbol: traded.symbol,
            underlying: traded.underlying,
            instrument: traded.instrument,
            put_call: traded.put_call,
            strike: traded.strike,
            expires_at: traded.expires_at,
            quantity,
            side: p.side.as_deref().and_then(Side::from_broker),
            multiplier,
            avg_price,
            mark: None,
            close_price,
            market_value: None,
            net_liq_value: None,
            cost_basis: avg_price
                .and_then(|a| notes.product(pointer, "cost basis", &[a, quantity, multiplier])),
            unrealized_pnl: None,
            pnl_expected: true,
            updated_at,
            cusip: None,
        },
        maintenance,
    ))
}

fn pnl_row(account: &str, l: &PnlLine, pointer: &str, notes: &mut Notes) -> Option<PnlRow> {
    let Some(symbol) = l.symbol.as_deref().map(str::trim).filter(|s| !s.is_empty()) else {
        notes.note(pointer, "P&L row without `symbol`");
        return None;
    };
    // Options carry the OCC here; store its compact form so it meets the position's symbol.
    let symbol = match OccSymbol::parse(symbol) {
        Ok(occ) => occ.compact_text(),
        Err(_) => upper(symbol),
    };
    Some(PnlRow {
        broker: BROKER,
        account_id: account.into(),
        position_id: text_of(l.position_id),
        symbol,
        exposure: notes.amount(pointer, "exposure", l.exposure),
        realized_pnl: notes.amount(pointer, "realizedPnl", l.realized_pnl),
        unrealized_pnl: notes.amount(pointer, "unrealizedPnL", l.unrealized_pnl),
        day_realized_pnl: notes.amount(pointer, "dayRealizedPnl", l.day_realized_pnl),
        day_unrealized_pnl: notes.amount(pointer, "dayUnrealizedPnL", l.day_unrealized_pnl),
    })
}

/// TradeZero sends no marks: a position is valued by its matched P&L row's exposure (an
/// absolute amount, signed here by the position's direction). Unmatched lots stay unvalued.
fn value_positions(positions: &mut [PositionRow], pnl: &[PnlRow]) {
    let matches = {
        let pos_keys: Vec<PositionKeys> = positions
            .iter()
            .map(|p| PositionKeys {
                position_id: &p.position_id,
                symbol: &p.symbol,
                underlying: &p.underlying,
            })
            .collect();
        let pnl_keys: Vec<PnlKeys> = pnl
            .iter()
            .map(|r| PnlKeys {
                position_id: r.position_id.as_deref(),
                symbol: &r.symbol,
            })
            .collect();
        match_pnl(&pos_keys, &pnl_keys)
    };
    for (p, m) in positions.iter_mut().zip(matches) {
        let Some((i, _)) = m else { continue };
        let row = &pnl[i];
        p.unrealized_pnl = row.unrealized_pnl;
        let Some(exposure) = row.exposure else {
            continue;
        };
        let value = if p.quantity.is_sign_negative() {
            -exposure.abs()
        } else {
            exposure.abs()
        };
        p.market_value = Some(value);
        p.net_liq_value = Some(value);
        let units = p.quantity.abs().checked_mul(p.multiplier);
        if let Some(units) = units.filter(|u| !u.is_zero()) {
            p.mark = exposure
                .abs()
                .checked_div(units)
                .map(|m| to_frame_scale(m).0);
        }
    }
}
