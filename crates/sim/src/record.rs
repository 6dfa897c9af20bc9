//! A firm's book of record for a simulated book: every readable position and every cash
//! balance as the firm's own system would hold it, spelled the way such systems spell
//! (share classes with `/`, padded OCC, symbols in lower case), with lots split otherwise,
//! equities' CUSIPs beside their symbols, and breaks of every `books` rule planted at a
//! chosen rate beside near misses (among them an E*TRADE equity booked under a former
//! ticker, which only its CUSIP matches), with the ground truth of exactly which findings
//! must come of it (`expected.json`'s shape).
//!
//! Prices and values are stated for equities and equity options, whose multipliers are
//! fixed (1 and 100); futures are booked by quantity, as many books keep them.

use crate::book::{SimBook, SimPosition};
use crate::generate::Expected;
use rand::Rng;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use recon_model::Broker;
use recon_model::instrument_key::instrument_key;
use recon_model::occ::OccSymbol;
use rust_decimal::Decimal;
use std::fmt::Write as _;

/// One line of the book of record.
#[derive(Debug, Clone, PartialEq)]
pub struct BookLine {
    pub broker: String,
    pub account: String,
    pub symbol: String,
    pub quantity: Decimal,
    pub price: Option<Decimal>,
    pub market_value: Option<Decimal>,
    /// The equity's CUSIP, as books carry it.
    pub cusip: Option<String>,
}

/// Cash as booked.
#[derive(Debug, Clone, PartialEq)]
pub struct CashLine {
    pub broker: String,
    pub account: String,
    pub currency: String,
    pub amount: Decimal,
}

#[derive(Debug, Clone, Default)]
pub struct BookOfRecord {
    pub positions: Vec<BookLine>,
    pub cash: Vec<CashLine>,
    /// The `books` findings it must produce.
    pub expected: Vec<Expected>,
}

const BREAKS: [&str; 7] = [
    "book-position-missing",
    "broker-position-missing",
    "book-quantity-break",
    "book-sign-break",
    "book-price-break",
    "book-value-break",
    "book-cash-break",
];

/// The spelling a firm's system might use for what the broker calls `symbol`: options in
/// another OCC form, equities with `/` for the class or in lower case, futures as sent.
fn booked_spelling(symbol: &str, turn: usize, as_of: chrono::NaiveDate) -> String {
    if let Ok(o) = OccSymbol::parse(symbol) {
        return if turn.is_multiple_of(2) {
            o.padded()
        } else {
            o.dashed()
        };
    }
    if !instrument_key(symbol, as_of).starts_with("EQ:") {
        return symbol.to_string();
    }
    match turn % 3 {
        0 => symbol.replace('.', "/"),
        1 => symbol.to_ascii_lowercase(),
        _ => symbol.to_string(),
    }
}

/// The multiplier of equities (1) and equity options (100); `None` for futures and anything
/// else, which the book states by quantity only.
fn multiplier(symbol: &str, as_of: chrono::NaiveDate) -> Option<Decimal> {
    let key = instrument_key(symbol, as_of);
    if key.starts_with("EQ:") {
        Some(Decimal::ONE)
    } else if key.starts_with("OPT:") {
        Some(Decimal::ONE_HUNDRED)
    } else {
        None
    }
}

/// The book's line of `p` (whose instrument key is `key`) as the firm's system holds it:
/// spelled its way (`turn` picks the spelling), priced where the multiplier is fixed, with
/// the equity's CUSIP.
fn book_line(
    broker: &str,
    account: &str,
    p: &SimPosition,
    key: &str,
    turn: usize,
    as_of: chrono::NaiveDate,
) -> BookLine {
    let mult = multiplier(&p.symbol, as_of);
    BookLine {
        broker: broker.to_string(),
        account: account.to_string(),
        symbol: booked_spelling(&p.symbol, turn, as_of),
        quantity: p.quantity,
        price: mult.map(|_| p.mark),
        market_value: mult.and_then(|m| p.quantity.checked_mul(p.mark)?.checked_mul(m)),
        cusip: key
            .starts_with("EQ:")
            .then(|| crate::generate::cusip_of(&p.symbol))
            .flatten()
            .map(str::to_string),
    }
}

/// The planted breaks that name a position the broker holds.
const POSITION_BREAKS: [&str; 5] = [
    "book-position-missing",
    "book-quantity-break",
    "book-sign-break",
    "book-price-break",
    "book-value-break",
];

/// The break `kind` (or the near misses) planted on the book's line of `p`; `false` when the
/// book leaves the position out. A near miss splits the lot in two rows (the first pushed
/// to `lines` here), moves the price inside every tolerance, and books an E*TRADE equity
/// under a former ticker.
fn plant(
    kind: Option<&str>,
    near_miss: bool,
    p: &SimPosition,
    price: Option<Decimal>,
    line: &mut BookLine,
    lines: &mut Vec<BookLine>,
) -> bool {
    match kind {
        Some("book-position-missing") => return false,
        Some("book-quantity-break") => {
            line.quantity += if p.quantity.is_sign_negative() {
                -Decimal::ONE
            } else {
                Decimal::ONE
            };
        }
        Some("book-sign-break") => line.quantity = -line.quantity,
        Some("book-price-break") => line.price = line.price.map(|x| x + Decimal::ONE),
        Some("book-value-break") => {
            line.market_value = line
                .market_value
                .map(|v| v + v.abs() / Decimal::TEN + Decimal::from(1000));
        }
        _ if near_miss => {
            // The books still use a former ticker, which only the CUSIP resolves (E*TRADE is
            // the broker that states CUSIPs).
            if line.cusip.is_some() && line.broker == Broker::Etrade.as_str() {
                line.symbol = format!("X{}", p.symbol);
            }
            let half = (p.quantity / Decimal::TWO).trunc();
            if !half.is_zero() {
                lines.push(BookLine {
                    quantity: half,
                    market_value: None,
                    price: price.map(|x| x + Decimal::new(5, 3)),
                    ..line.clone()
                });
                line.quantity = p.quantity - half;
                line.market_value = None;
                line.price = price.map(|x| x + Decimal::new(5, 3));
            }
        }
        _ => {}
    }
    true
}

/// The book of record of `book`, planted from `seed`: a share `break_rate` of accounts get
/// one break (the kinds in turn), as many get only near misses.
pub fn book_of_record(book: &SimBook, seed: u64, break_rate: f64) -> BookOfRecord {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x00B0_0C0F_2EC0);
    let mut out = BookOfRecord::default();
    let mut next_break = 0usize;
    for (a, account) in book.accounts.iter().enumerate() {
        let broker = account.broker.as_str().to_string();
        let expect = |rule: &str, position: Option<String>| Expected {
            rule: rule.to_string(),
            broker: broker.clone(),
            account: account.id.clone(),
            position,
            status: "new".into(),
            severity: match rule {
                "book-sign-break" => "critical",
                "book-price-break" | "book-value-break" => "warning",
                _ => "error",
            }
            .into(),
        };
        // Positions that can carry a planted break: readable, open, one lot of their
        // instrument in the account, priced with a fixed multiplier.
        let readable: Vec<_> = account.positions.iter().filter(|p| !p.malformed).collect();
        let key = |s: &str| instrument_key(s, book.as_of);
        // Each position keyed once (comparing every pair's keys afresh was quadratic in
        // key computations).
        let keys: Vec<String> = readable.iter().map(|p| key(&p.symbol)).collect();
        let plantable: Vec<usize> = readable
            .iter()
            .enumerate()
            .filter(|(_, p)| !p.quantity.is_zero() && multiplier(&p.symbol, book.as_of).is_some())
            .filter(|(i, _)| keys.iter().filter(|k| **k == keys[*i]).count() == 1)
            .map(|(i, _)| i)
            .collect();
        let roll: f64 = rng.random();
        let planting = roll < break_rate && !plantable.is_empty();
        let near_miss = !planting && roll < 2.0 * break_rate;
        let kind = if planting {
            let k = BREAKS[next_break % BREAKS.len()];
            next_break += 1;
            Some(k)
        } else {
            None
        };
        let target = plantable.first().copied();
        for (i, p) in readable.iter().enumerate() {
            let mut line = book_line(&broker, &account.id, p, &keys[i], a + i, book.as_of);
            if Some(i) == target {
                if let Some(k) = kind.filter(|k| POSITION_BREAKS.contains(k)) {
                    out.expected.push(expect(k, Some(keys[i].clone())));
                }
                let price = line.price;
                if !plant(kind, near_miss, p, price, &mut line, &mut out.positions) {
                    continue;
                }
            }
            out.positions.push(line);
        }
        if kind == Some("broker-position-missing") {
            out.positions.push(BookLine {
                broker: broker.clone(),
                account: account.id.clone(),
                symbol: format!("ZZB{a}"),
                quantity: Decimal::from(5),
                price: None,
                market_value: None,
                cusip: None,
            });
            out.expected.push(expect(
                "broker-position-missing",
                Some(key(&format!("ZZB{a}"))),
            ));
        }
        let mut cash = account.cash;
        if kind == Some("book-cash-break") {
            cash += Decimal::TEN;
            out.expected.push(expect("book-cash-break", None));
        } else if near_miss {
            // Inside the 1.00 tolerance, bound included.
            cash += Decimal::ONE;
        }
        out.cash.push(CashLine {
            broker: broker.clone(),
            account: account.id.clone(),
            currency: "USD".into(),
            amount: cash,
        });
    }
    out.expected.sort();
    out
}

impl BookOfRecord {
    /// The positions as CSV (`broker,account,symbol,quantity,price,market_value,cusip`).
    pub fn positions_csv(&self) -> String {
        let mut out = String::from("broker,account,symbol,quantity,price,market_value,cusip\n");
        let show = |d: Option<Decimal>| d.map(|d| d.to_string()).unwrap_or_default();
        for l in &self.positions {
            let _ = writeln!(
                out,
                "{},{},{},{},{},{},{}",
                l.broker,
                l.account,
                l.symbol,
                l.quantity,
                show(l.price),
                show(l.market_value),
                l.cusip.as_deref().unwrap_or_default()
            );
        }
        out
    }

    /// The cash as CSV (`broker,account,currency,amount`).
    pub fn cash_csv(&self) -> String {
        let mut out = String::from("broker,account,currency,amount\n");
        for c in &self.cash {
            let _ = writeln!(
                out,
                "{},{},{},{}",
                c.broker, c.account, c.currency, c.amount
            );
        }
        out
    }
}
