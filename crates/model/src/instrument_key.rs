//! One spelling for every spelling of an instrument, so that a broker's position and the
//! firm's book of the same thing meet on one key (the book-of-record reconciliation joins
//! on it):
//!
//! - equities: upper case, share classes joined by `.` whatever the separator
//!   (`BRK.B`, `BRK/B`, `BRK B`, `BRK-B` → `EQ:BRK.B`);
//! - equity options: any OCC/OSI form (padded, compact, dashed, E*TRADE's `osiKey`) →
//!   `OPT:<root>:<yyyy-mm-dd>:<C|P>:<strike>`;
//! - futures: `/ESZ6`, `ESZ6`, `ESZ26`, `ES 20261218 CME Future` → `FUT:<root>:<yyyy-mm>`
//!   (the contract month; a one-digit year is read in the decade of `as_of`);
//! - futures options (tastytrade's `./ESZ6 EW4Z6 261218C6000`) →
//!   `FOP:<future root>:<yyyy-mm>:<yyyy-mm-dd>:<C|P>:<strike>`.
//!
//! Anything else keeps its trimmed, upper-cased spelling under `SYM:`. A key is never empty.

use crate::PutCall;
use crate::contracts::{ArchitectProduct, architect_product, month_of_code, spec};
use crate::occ::OccSymbol;
use chrono::{Datelike, NaiveDate};
use rust_decimal::Decimal;

/// The key of `symbol` as of `as_of` (which decides the decade of one-digit futures years).
pub fn instrument_key(symbol: &str, as_of: NaiveDate) -> String {
    let s = symbol.trim();
    if let Some(key) = future_option_key(s, as_of) {
        return key;
    }
    if let Ok(o) = OccSymbol::parse(s) {
        return option_key(&o);
    }
    if let Some((root, year, month)) = future_month(s, as_of) {
        return format!("FUT:{root}:{year:04}-{month:02}");
    }
    match architect_product(s) {
        ArchitectProduct::Future { root, expiry, .. } => {
            return format!("FUT:{root}:{:04}-{:02}", expiry.year(), expiry.month());
        }
        ArchitectProduct::Equity { symbol } => return equity_key(&symbol),
        ArchitectProduct::Option { osi } => {
            if let Ok(o) = OccSymbol::parse(&osi) {
                return option_key(&o);
            }
        }
        _ => {}
    }
    if is_equity_like(s) {
        return equity_key(s);
    }
    format!("SYM:{}", s.to_ascii_uppercase())
}

fn put_call(pc: PutCall) -> char {
    match pc {
        PutCall::Call => 'C',
        PutCall::Put => 'P',
    }
}

fn strike_text(strike: Decimal) -> String {
    strike.normalize().to_string()
}

fn option_key(o: &OccSymbol) -> String {
    // Written by hand into one allocation: a book of a million lots keys a few hundred
    // thousand distinct options, and `format!` of five parts was most of the cost. The same
    // text as `OPT:{root}:{expiry}:{C|P}:{strike_text}` (NaiveDate's Display is yyyy-mm-dd).
    let (expiry, mut key) = (o.expiry(), String::with_capacity(40));
    key.push_str("OPT:");
    key.push_str(o.root());
    key.push(':');
    push_date(&mut key, expiry);
    key.push(':');
    key.push(put_call(o.put_call()));
    key.push(':');
    push_plain(&mut key, o.strike());
    key
}

/// `yyyy-mm-dd`, as NaiveDate's Display writes a date of years 0 to 9999.
fn push_date(out: &mut String, date: NaiveDate) {
    if !(0..=9999).contains(&date.year()) {
        out.push_str(&date.to_string());
        return;
    }
    push_digits(out, date.year() as u32, 4);
    out.push('-');
    push_digits(out, date.month(), 2);
    out.push('-');
    push_digits(out, date.day(), 2);
}

/// `value`'s last `width` decimal digits, zero-padded.
fn push_digits(out: &mut String, value: u32, width: u32) {
    for place in (0..width).rev() {
        out.push(char::from(b'0' + (value / 10u32.pow(place) % 10) as u8));
    }
}

/// A decimal without trailing zeros, as `strike_text` writes it (`150`, `22.5`, `0.05`).
fn push_plain(out: &mut String, d: Decimal) {
    let d = d.normalize();
    let (digits, scale) = (d.mantissa().unsigned_abs().to_string(), d.scale() as usize);
    if d.is_sign_negative() && !d.is_zero() {
        out.push('-');
    }
    if scale == 0 {
        out.push_str(&digits);
    } else if digits.len() > scale {
        let (whole, fraction) = digits.split_at(digits.len() - scale);
        out.push_str(whole);
        out.push('.');
        out.push_str(fraction);
    } else {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', scale - digits.len()));
        out.push_str(&digits);
    }
}

/// Tickers: letters and digits with at most one class separator (`.`, `/`, `-`, space).
fn is_equity_like(s: &str) -> bool {
    let parts: Vec<&str> = s
        .split(['.', '/', '-', ' '])
        .filter(|p| !p.is_empty())
        .collect();
    !parts.is_empty()
        && parts.len() <= 2
        && parts[0].len() <= 6
        && parts
            .iter()
            .all(|p| p.bytes().all(|b| b.is_ascii_alphanumeric()))
        && parts.get(1).is_none_or(|c| c.len() <= 2)
}

fn equity_key(s: &str) -> String {
    let parts: Vec<String> = s
        .split(['.', '/', '-', ' '])
        .filter(|p| !p.is_empty())
        .map(str::to_ascii_uppercase)
        .collect();
    format!("EQ:{}", parts.join("."))
}

/// `/ESZ6`, `ESZ6`, `ESZ26`, `/6EZ26`: (root, year, month) for a root in the contract table
/// (or any root when written with the leading `/`).
fn future_month(s: &str, as_of: NaiveDate) -> Option<(String, i32, u32)> {
    let slashed = s.starts_with('/');
    let body = s.trim_start_matches('/');
    if body.contains(char::is_whitespace) || !body.is_ascii() {
        return None;
    }
    let digits = body.chars().rev().take_while(char::is_ascii_digit).count();
    if digits == 0 || digits > 2 || body.len() < digits + 2 {
        return None;
    }
    let (head, year_digits) = body.split_at(body.len() - digits);
    let code = head.chars().last()?;
    let month = month_of_code(code)?;
    let root = &head[..head.len() - 1];
    if root.is_empty() || !(slashed || spec(root).is_some()) {
        return None;
    }
    let y: i32 = year_digits.parse().ok()?;
    let year = match digits {
        // One digit: the year of that digit nearest at or after as_of's decade start.
        1 => {
            let decade = as_of.year() - as_of.year().rem_euclid(10);
            let mut year = decade + y;
            if year < as_of.year() - 1 {
                year += 10;
            }
            year
        }
        _ => 2000 + y,
    };
    Some((root.to_ascii_uppercase(), year, month))
}

/// tastytrade futures options: `./ESZ6 EW4Z6 261218C6000` → the future's contract month,
/// the option's expiry, put/call and strike.
fn future_option_key(s: &str, as_of: NaiveDate) -> Option<String> {
    let rest = s.strip_prefix("./")?;
    let words: Vec<&str> = rest.split_whitespace().collect();
    let [future, _option_root, tail] = words.as_slice() else {
        return None;
    };
    let (root, year, month) = future_month(&format!("/{future}"), as_of)?;
    if tail.len() < 8 || !tail.is_ascii() {
        return None;
    }
    let (date, rest) = tail.split_at(6);
    let expiry = NaiveDate::parse_from_str(&format!("20{date}"), "%Y%m%d").ok()?;
    let mut chars = rest.chars();
    let pc = match chars.next()?.to_ascii_uppercase() {
        'C' => 'C',
        'P' => 'P',
        _ => return None,
    };
    let strike: Decimal = chars.as_str().parse().ok()?;
    Some(format!(
        "FOP:{root}:{year:04}-{month:02}:{}:{pc}:{}",
        expiry.format("%Y-%m-%d"),
        strike_text(strike)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The hand-written key is the formatted one: every date, side and strike (whole,
        /// fractional, tiny) of an OCC symbol.
        #[test]
        fn option_keys_are_written_as_formatted(
            root in "[A-Z]{1,6}",
            days in 0i64..36_500,
            call in any::<bool>(),
            thousandths in 0i64..100_000_000,
        ) {
            let expiry = NaiveDate::from_ymd_opt(2000, 1, 1).unwrap() + chrono::Duration::days(days);
            let symbol = format!(
                "{root}{}{}{thousandths:08}",
                expiry.format("%y%m%d"),
                if call { 'C' } else { 'P' }
            );
            let o = OccSymbol::parse(&symbol).unwrap();
            let formatted = format!(
                "OPT:{}:{}:{}:{}",
                o.root(),
                o.expiry(),
                put_call(o.put_call()),
                strike_text(o.strike())
            );
            prop_assert_eq!(option_key(&o), formatted);
        }

        /// `push_plain` writes what `strike_text` (Decimal's Display, normalized) writes.
        #[test]
        fn plain_decimals_are_written_as_displayed(
            mantissa in any::<i64>(),
            scale in 0u32..=28,
        ) {
            let d = Decimal::new(mantissa, scale);
            let mut written = String::new();
            push_plain(&mut written, d);
            prop_assert_eq!(written, strike_text(d));
        }
    }

    fn key(s: &str) -> String {
        instrument_key(s, NaiveDate::from_ymd_opt(2026, 11, 20).unwrap())
    }

    #[test]
    fn share_classes_meet_whatever_the_separator() {
        for s in ["BRK.B", "BRK/B", "BRK B", "brk-b", " BRK.B "] {
            assert_eq!(key(s), "EQ:BRK.B", "{s}");
        }
        assert_eq!(key("AAPL"), "EQ:AAPL");
        assert_eq!(key("AAPL US Equity"), "EQ:AAPL");
        assert_ne!(key("BRK.A"), key("BRK.B"));
    }

    #[test]
    fn every_occ_spelling_is_one_option() {
        let want = "OPT:SPY:2026-12-18:C:700";
        for s in [
            "SPY   261218C00700000",
            "SPY261218C00700000",
            "SPY---261218C00700000",
            "SPY  261218C00700000 Option",
        ] {
            assert_eq!(key(s), want, "{s}");
        }
        assert_eq!(key("AAPL  261218P00187500"), "OPT:AAPL:2026-12-18:P:187.5");
    }

    #[test]
    fn every_futures_spelling_is_one_contract_month() {
        for s in [
            "/ESZ6",
            "ESZ6",
            "ESZ26",
            "/ESZ26",
            "ES 20261218 CME Future",
            "ES 20261218 CME Future/USD",
        ] {
            assert_eq!(key(s), "FUT:ES:2026-12", "{s}");
        }
        assert_eq!(key("/6EH7"), "FUT:6E:2027-03");
        // A one-digit year names the nearest such year from as_of's decade on.
        assert_eq!(key("/ESZ5"), "FUT:ES:2025-12");
        assert_eq!(key("/ESZ4"), "FUT:ES:2034-12");
        // Without the slash, only roots recon knows are read as futures.
        assert_eq!(key("XYZZ6"), "EQ:XYZZ6");
    }

    #[test]
    fn futures_options_keep_the_underlying_month_and_the_strike_as_written() {
        assert_eq!(
            key("./ESZ6 EW4Z6 261218C6000"),
            "FOP:ES:2026-12:2026-12-18:C:6000"
        );
        assert_eq!(
            key("./6EZ6 EUUZ6 261204C1.225"),
            "FOP:6E:2026-12:2026-12-04:C:1.225"
        );
    }

    #[test]
    fn anything_else_keeps_its_spelling_and_a_key_is_never_empty() {
        assert_eq!(key("BTC/USD crypto pair"), "SYM:BTC/USD CRYPTO PAIR");
        assert_eq!(key(""), "SYM:");
        assert!(!key("  ").is_empty());
    }
}
