//! Architect (BROKERS.md §5) → canonical rows.
//!
//! Survives: decimals as strings (and, from third-party serialisations, as numbers or
//! explicit nulls); positions as a map keyed by tradable product with a list of lots (lots
//! summed, the average price weighted by quantity, `cost_basis` read as a price per unit as
//! both public examples show); product names parsed for root, expiry and kind; no
//! multiplier on the wire (the contract table in recon-model; an unknown root is
//! quarantined, never guessed); no mark (derived from the lots' unrealized P&L, as the
//! broker computed it); futures valued at their open-trade P&L; and the 2026-03 schema
//! change (`purchasing_power`, or `available_margin` + `excess_liquidity`).

use crate::common::{AccountRead, ItemPointer, Notes, parse, read_text};
use crate::exact::to_frame_scale;
use chrono::NaiveDate;
use recon_model::CompactString;
use recon_model::contracts::{ArchitectProduct, architect_product, spec};
use recon_model::occ::OccSymbol;
use recon_model::{
    AccountKind, AccountRow, AccountStatus, BalanceRow, Book, Broker, Instrument, PositionRow,
    QuarantineRow,
};
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::value::RawValue;
use std::collections::BTreeMap;
use std::path::Path;

const BROKER: Broker = Broker::Architect;

#[derive(Deserialize, Default, Clone)]
pub struct AccountRef {
    id: Option<String>,
    name: Option<String>,
}

#[derive(Deserialize)]
struct AccountItem {
    account: Option<AccountRef>,
    trading_enabled: Option<bool>,
}

/// An account summary, its positions keyed by product name (`K`) with their lots (`L`):
/// read first with names borrowed and lots typed, in one pass; a summary that cannot be read
/// so (an escaped name, a lot that is not an object) is read again with each lot kept raw,
/// so that a bad lot is noted on its own.
#[derive(Deserialize)]
#[serde(bound(deserialize = "'de: 'a, K: Deserialize<'de> + Ord, L: Deserialize<'de>"))]
struct Summary<'a, K, L> {
    /// In name order, so that two spellings of USD always resolve the same way.
    #[serde(borrow, default)]
    balances: Option<BTreeMap<String, &'a RawValue>>,
    #[serde(default)]
    positions: Option<BTreeMap<K, Vec<L>>>,
    #[serde(borrow)]
    equity: Option<&'a RawValue>,
    #[serde(borrow)]
    cash_excess: Option<&'a RawValue>,
    #[serde(borrow)]
    position_margin: Option<&'a RawValue>,
    #[serde(borrow)]
    unrealized_pnl: Option<&'a RawValue>,
    #[serde(borrow)]
    yesterday_equity: Option<&'a RawValue>,
    #[serde(borrow)]
    purchasing_power: Option<&'a RawValue>,
    #[serde(borrow)]
    available_margin: Option<&'a RawValue>,
    #[serde(borrow)]
    excess_liquidity: Option<&'a RawValue>,
}

#[derive(Deserialize, Clone, Copy)]
struct Lot<'a> {
    #[serde(borrow)]
    quantity: Option<&'a RawValue>,
    #[serde(borrow)]
    cost_basis: Option<&'a RawValue>,
    #[serde(borrow)]
    unrealized_pnl: Option<&'a RawValue>,
}

pub(crate) fn read_account_list(
    root: &Path,
    quarantine: &mut Vec<QuarantineRow>,
) -> BTreeMap<String, (AccountRef, Option<bool>)> {
    let source = "architect/accounts.json".to_string();
    let mut out = BTreeMap::new();
    let Ok(text) = std::fs::read_to_string(root.join(&source)) else {
        return out;
    };
    let mut notes = Notes::new(BROKER, None, source, quarantine);
    #[derive(Deserialize)]
    struct List<'a> {
        #[serde(borrow)]
        accounts: Vec<&'a RawValue>,
    }
    match serde_json::from_str::<List>(&text) {
        Ok(list) => {
            for (i, item) in list.accounts.iter().enumerate() {
                match parse::<AccountItem>(item) {
                    Ok(AccountItem {
                        account: Some(a),
                        trading_enabled,
                    }) if a.id.is_some() => {
                        let id = a.id.clone().unwrap_or_default().trim().to_ascii_lowercase();
                        out.insert(id, (a, trading_enabled));
                    }
                    Ok(_) => notes.note(format!("/accounts/{i}"), "account without `account.id`"),
                    Err(e) => {
                        notes.note(format!("/accounts/{i}"), format!("unreadable account: {e}"))
                    }
                }
            }
        }
        Err(e) => notes.note("", format!("unreadable account list: {e}")),
    }
    out
}

/// One account: its list entry and `summary.json`.
pub(crate) fn read_account(
    root: &Path,
    id: &str,
    as_of: NaiveDate,
    list_entry: Option<&(AccountRef, Option<bool>)>,
    expected_missing: &[&str],
) -> AccountRead {
    let mut quarantine = Vec::new();
    let mut complete = true;
    let mut balance = BalanceRow::empty(BROKER, id, "USD");
    let mut positions = Vec::new();
    let source = format!("architect/{id}/summary.json");
    match read_text(
        root,
        BROKER,
        id,
        &source,
        expected_missing.contains(&"summary"),
        &mut quarantine,
    ) {
        Some(text) => {
            let mut notes = Notes::new(BROKER, Some(id), source, &mut quarantine);
            let read = match serde_json::from_str::<Summary<&str, Lot>>(&text) {
                Ok(s) => Ok(read_positions(
                    id,
                    &s,
                    &mut balance,
                    &mut positions,
                    &mut notes,
                )),
                Err(_) => serde_json::from_str::<Summary<String, &RawValue>>(&text)
                    .map(|s| read_positions(id, &s, &mut balance, &mut positions, &mut notes)),
            };
            match read {
                Ok(known) => complete &= known,
                Err(e) => {
                    complete = false;
                    notes.note("", format!("unreadable account summary: {e}"));
                }
            }
        }
        None => complete = false,
    }
    let account = account_row(id, as_of, list_entry);
    AccountRead {
        book: Book::of_account(account, balance, positions, quarantine),
        complete,
    }
}

/// A lot as read with its summary, or kept raw to be read on its own.
trait LotOf<'a> {
    fn lot(&self) -> Result<Lot<'a>, String>;
}

impl<'a> LotOf<'a> for Lot<'a> {
    fn lot(&self) -> Result<Lot<'a>, String> {
        Ok(*self)
    }
}

impl<'a> LotOf<'a> for &'a RawValue {
    fn lot(&self) -> Result<Lot<'a>, String> {
        parse(self)
    }
}

/// The summary's balance and positions; `false` when its positions are unknown.
fn read_positions<'a, K: AsRef<str>, L: LotOf<'a>>(
    id: &str,
    s: &Summary<'a, K, L>,
    balance: &mut BalanceRow,
    positions: &mut Vec<PositionRow>,
    notes: &mut Notes,
) -> bool {
    read_summary(s, balance, notes);
    // Architect sends `positions: {}` for a flat account: no key at all means the positions
    // are unknown, not that there are none.
    if s.positions.is_none() {
        notes.note(
            "",
            "summary without `positions`: the account's positions are unknown",
        );
    }
    // Sized once: a row is a few hundred bytes, and growing by doubling copied them all.
    positions.reserve(s.positions.as_ref().map_or(0, |p| p.len()));
    for (product, lots) in s.positions.iter().flatten() {
        if let Some(row) = position_row(id, product.as_ref(), lots, notes) {
            positions.push(row);
        }
    }
    s.positions.is_some()
}

fn read_summary<K, L>(s: &Summary<K, L>, balance: &mut BalanceRow, notes: &mut Notes) {
    let usd = s
        .balances
        .as_ref()
        .and_then(|b| b.iter().find(|(k, _)| k.eq_ignore_ascii_case("USD")))
        .map(|(_, v)| *v);
    balance.cash = notes.amount("/balances", "USD", usd);
    balance.net_liq = notes.amount("", "equity", s.equity);
    balance.withdrawable_cash = notes.amount("", "cash_excess", s.cash_excess);
    balance.maintenance_requirement = notes.amount("", "position_margin", s.position_margin);
    balance.unrealized_pnl = notes.amount("", "unrealized_pnl", s.unrealized_pnl);
    let yesterday = notes.amount("", "yesterday_equity", s.yesterday_equity);
    balance.day_pnl = balance
        .net_liq
        .zip(yesterday)
        .and_then(|(now, then)| now.checked_sub(then));
    // Before 2026-03: purchasing_power. After: available_margin + excess_liquidity.
    balance.buying_power = notes
        .amount("", "purchasing_power", s.purchasing_power)
        .or_else(|| notes.amount("", "available_margin", s.available_margin));
    // Where excess_liquidity is not sent, the mapping of BROKERS.md §5.6 computes it.
    balance.margin_excess = notes
        .amount("", "excess_liquidity", s.excess_liquidity)
        .or_else(|| {
            balance
                .net_liq
                .zip(balance.maintenance_requirement)
                .and_then(|(e, m)| e.checked_sub(m))
        });
}

fn account_row(
    id: &str,
    as_of: NaiveDate,
    entry: Option<&(AccountRef, Option<bool>)>,
) -> AccountRow {
    let name = entry.and_then(|(a, _)| a.name.clone());
    let upper = name
        .as_deref()
        .map(str::to_ascii_uppercase)
        .unwrap_or_default();
    let paper = upper.starts_with("PAPER:");
    let kind = if paper {
        AccountKind::Paper
    } else {
        AccountKind::Futures
    };
    let status = match entry.and_then(|(_, enabled)| *enabled) {
        Some(false) => AccountStatus::Restricted,
        _ => AccountStatus::Active,
    };
    AccountRow {
        broker: BROKER,
        account_id: id.to_string(),
        account_name: name,
        account_kind: kind,
        status,
        options_level: None,
        is_paper: paper,
        as_of,
    }
}

/// What a product is, as `position_row` needs it: (symbol, underlying, instrument,
/// multiplier, option, expiry).
type Contract = (
    CompactString,
    CompactString,
    Instrument,
    Decimal,
    Option<OccSymbol>,
    Option<NaiveDate>,
);

/// A product's symbol, underlying, instrument, multiplier, option and expiry; `None`,
/// noted, for a product recon cannot value (a future root outside the contract table, a
/// spread, a perpetual).
fn product_contract(product: &str, pointer: &str, notes: &mut Notes) -> Option<Contract> {
    let base = product.rsplit_once('/').map_or(product, |(b, _)| b).trim();
    let contract = match architect_product(product) {
        ArchitectProduct::Future { root, expiry, .. } => match spec(&root) {
            Some(s) => (
                base.into(),
                root.into(),
                Instrument::Future,
                s.multiplier(),
                None,
                Some(expiry),
            ),
            None => {
                notes.note(
                        pointer,
                        format!("future root `{root}` is not in recon's contract table: multiplier unknown, position not valued"),
                    );
                return None;
            }
        },
        ArchitectProduct::Equity { symbol } => (
            symbol.as_str().into(),
            symbol.into(),
            Instrument::Equity,
            Decimal::ONE,
            None,
            None,
        ),
        ArchitectProduct::Option { osi } => match OccSymbol::parse(&osi) {
            Ok(o) => (
                o.compact_text(),
                o.root().into(),
                Instrument::EquityOption,
                Decimal::ONE_HUNDRED,
                Some(o.clone()),
                Some(o.expiry()),
            ),
            Err(e) => {
                notes.note(pointer, format!("option `{osi}` is not an OSI symbol: {e}"));
                return None;
            }
        },
        ArchitectProduct::Other { name } => {
            notes.note(
                pointer,
                format!(
                    "product `{name}` is of a kind recon does not read (spread, perpetual, fiat…)"
                ),
            );
            return None;
        }
    };
    Some(contract)
}

/// `/positions/<product>`, the name escaped as a JSON pointer segment (`~` → `~0`, `/` →
/// `~1`) in one pass.
fn pointer_to(product: &str) -> String {
    let mut pointer = String::with_capacity(product.len() + 14);
    pointer.push_str("/positions/");
    for c in product.chars() {
        match c {
            '~' => pointer.push_str("~0"),
            '/' => pointer.push_str("~1"),
            c => pointer.push(c),
        }
    }
    pointer
}

fn position_row<'a>(
    account: &str,
    product: &str,
    lots: &[impl LotOf<'a>],
    notes: &mut Notes,
) -> Option<PositionRow> {
    let pointer = pointer_to(product);
    let (symbol, underlying, instrument, multiplier, option, expiry) =
        product_contract(product, &pointer, notes)?;
    let mut quantity = Decimal::ZERO;
    let mut cost = Decimal::ZERO;
    let mut cost_known = true;
    let mut unrealized: Option<Decimal> = Some(Decimal::ZERO);
    let mut at = ItemPointer::new(&pointer);
    for (i, raw) in lots.iter().enumerate() {
        let lot_pointer = at.at(i);
        let lot: Lot = match raw.lot() {
            Ok(l) => l,
            Err(e) => {
                notes.note(lot_pointer, format!("unreadable lot: {e}"));
                return None;
            }
        };
        // One note for a lot without a size (the field's own), not a second for the row.
        let q = notes.size(lot_pointer, "quantity", lot.quantity)?;
        quantity = notes.sum(lot_pointer, "the position's quantity", quantity, q)?;
        let lot_cost = notes
            .amount(lot_pointer, "cost_basis", lot.cost_basis)
            .and_then(|price| notes.product(lot_pointer, "cost_basis × quantity", &[price, q]))
            .and_then(|c| notes.sum(lot_pointer, "the position's cost", cost, c));
        match lot_cost {
            Some(c) => cost = c,
            None => cost_known = false,
        }
        let lot_pnl = notes.amount(lot_pointer, "unrealized_pnl", lot.unrealized_pnl);
        unrealized = match unrealized.zip(lot_pnl) {
            Some((a, b)) => notes.sum(lot_pointer, "the position's unrealized P&L", a, b),
            None => None,
        };
    }
    let avg_price = (cost_known && !quantity.is_zero())
        .then(|| cost.checked_div(quantity).map(|a| to_frame_scale(a).0))
        .flatten();
    // No mark on the wire: the one the broker's own P&L implies.
    let units = notes.product(&pointer, "quantity × multiplier", &[quantity, multiplier]);
    let mark = match (avg_price, unrealized, units) {
        (Some(a), Some(u), Some(units)) if !units.is_zero() => u
            .checked_div(units)
            .and_then(|per| a.checked_add(per))
            .map(|m| to_frame_scale(m).0),
        _ => None,
    };
    let market_value = if quantity.is_zero() {
        Some(Decimal::ZERO)
    } else {
        mark.and_then(|m| {
            notes.product(
                &pointer,
                "quantity × mark × multiplier",
                &[quantity, m, multiplier],
            )
        })
    };
    let net_liq_value = if instrument == Instrument::Future {
        unrealized.map(|u| to_frame_scale(u).0)
    } else {
        market_value
    };
    Some(PositionRow {
        broker: BROKER,
        account_id: account.into(),
        position_id: product.into(),
        symbol,
        underlying,
        instrument,
        put_call: option.as_ref().map(OccSymbol::put_call),
        strike: option.as_ref().map(OccSymbol::strike),
        expires_at: expiry,
        quantity: to_frame_scale(quantity).0,
        // Lots are signed; Architect states no separate direction.
        side: None,
        multiplier,
        avg_price,
        mark,
        close_price: None,
        market_value,
        net_liq_value,
        cost_basis: avg_price
            .and_then(|a| notes.product(&pointer, "cost basis", &[a, quantity, multiplier])),
        unrealized_pnl: unrealized.map(|u| to_frame_scale(u).0),
        pnl_expected: false,
        updated_at: None,
        cusip: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A summary's balance, rows and notes, read with its lots typed or kept raw.
    fn read<'a, K: AsRef<str>, L: LotOf<'a>>(s: &Summary<'a, K, L>) -> (String, bool) {
        let (mut balance, mut rows, mut quarantine) = (
            BalanceRow::empty(BROKER, "A", "USD"),
            Vec::new(),
            Vec::new(),
        );
        let mut notes = Notes::new(BROKER, Some("A"), "s.json".into(), &mut quarantine);
        let known = read_positions("A", s, &mut balance, &mut rows, &mut notes);
        (format!("{balance:?} {rows:?} {quarantine:?}"), known)
    }

    #[test]
    fn lots_read_typed_read_as_lots_kept_raw() {
        let dir = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../fixtures/architect/quirks/architect"
        );
        let mut typed = 0;
        for account in [
            "aaaaaaaa-0000-4000-8000-000000000001",
            "bbbbbbbb-0000-4000-8000-000000000002",
        ] {
            let text = std::fs::read_to_string(format!("{dir}/{account}/summary.json")).unwrap();
            let raw = read(&serde_json::from_str::<Summary<String, &RawValue>>(&text).unwrap());
            if let Ok(s) = serde_json::from_str::<Summary<&str, Lot>>(&text) {
                assert_eq!(read(&s), raw, "{account}");
                typed += 1;
            }
        }
        assert!(typed > 0, "no fixture summary was read typed");
        // A lot that is not an object: the typed reading gives up, the raw one notes the lot.
        let text =
            r#"{"positions": {"ES 20271217 CME Future/USD": [7], "a/b~c": []}, "equity": "1"}"#;
        assert!(serde_json::from_str::<Summary<&str, Lot>>(text).is_err());
        let (read, known) =
            read(&serde_json::from_str::<Summary<String, &RawValue>>(text).unwrap());
        assert!(known);
        assert!(read.contains("unreadable lot"), "{read}");
        assert!(
            read.contains("/positions/ES 20271217 CME Future~1USD/0"),
            "{read}"
        );
    }
}
