//! OCC/OSI option symbols: `ROOT` (1–6 characters) + `YYMMDD` + `C`/`P` + strike × 1000 as
//! eight digits. Brokers write the gap between root and date three ways, and one parser
//! accepts all of them:
//!
//! - padded with spaces to 21 characters (tastytrade, Architect): `AAPL  260116C00150000`
//! - compact (Clear Street, TradeZero `tradedSymbol`): `AAPL260116C00150000`
//! - padded with dashes (E*TRADE `osiKey`): `AAPL--260116C00150000`
//!
//! The strike is exact (`rust_decimal`), so fractional strikes such as 7.5 (`00007500`) and
//! 0.125 round-trip.

use crate::rows::PutCall;
use chrono::{Datelike, NaiveDate};
use compact_str::CompactString;
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use std::fmt;
use std::str::FromStr;

/// The longest root the 21-character form has room for.
pub const MAX_ROOT_LEN: usize = 6;
/// Strikes are written in thousandths: 8 digits hold up to 99,999.999.
const STRIKE_DIGITS: usize = 8;
/// `YYMMDD` + `C`/`P` + 8 strike digits.
const SUFFIX_LEN: usize = 6 + 1 + STRIKE_DIGITS;

/// A parsed option symbol.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OccSymbol {
    /// 1–6 characters: inline.
    root: CompactString,
    expiry: NaiveDate,
    put_call: PutCall,
    strike: Decimal,
}

/// Why a string is not an OCC symbol (or an option cannot be written as one).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OccError {
    #[error("`{0}` is too short for an option symbol (root + YYMMDD + C/P + 8 strike digits)")]
    TooShort(String),
    #[error("`{0}` is not ASCII")]
    NotAscii(String),
    #[error("`{symbol}` has no valid root (1–6 letters or digits): `{root}`")]
    BadRoot { symbol: String, root: String },
    #[error("`{symbol}` has an invalid expiry date `{date}`")]
    BadDate { symbol: String, date: String },
    #[error("`{symbol}` has `{found}` where C or P belongs")]
    BadPutCall { symbol: String, found: char },
    #[error("`{symbol}` has an invalid strike `{strike}` (8 digits, thousandths)")]
    BadStrike { symbol: String, strike: String },
    #[error("strike {0} cannot be written in OCC form (0 to 99999.999, at most 3 decimals)")]
    StrikeOutOfRange(Decimal),
    #[error("expiry {0} is outside the years OCC symbols can write (2000–2099)")]
    ExpiryOutOfRange(NaiveDate),
}

impl OccSymbol {
    /// Builds a symbol, checking that it can be written in OCC form.
    pub fn new(
        root: &str,
        expiry: NaiveDate,
        put_call: PutCall,
        strike: Decimal,
    ) -> Result<Self, OccError> {
        let root = root.trim().to_ascii_uppercase();
        if !valid_root(&root) {
            return Err(OccError::BadRoot {
                symbol: root.clone(),
                root,
            });
        }
        // Checked: a strike from the wire can be as large as a Decimal holds.
        let in_range = strike.checked_mul(Decimal::ONE_THOUSAND).is_some_and(|t| {
            !strike.is_sign_negative()
                && t.fract() == Decimal::ZERO
                && t < Decimal::from(100_000_000u64)
        });
        if !in_range {
            return Err(OccError::StrikeOutOfRange(strike));
        }
        if !(2000..=2099).contains(&expiry.year()) {
            return Err(OccError::ExpiryOutOfRange(expiry));
        }
        Ok(OccSymbol {
            root: root.into(),
            expiry,
            put_call,
            strike: strike.normalize(),
        })
    }

    /// Parses any of the three forms. Never panics, whatever the input.
    pub fn parse(input: &str) -> Result<Self, OccError> {
        let s = input.trim();
        if !s.is_ascii() {
            return Err(OccError::NotAscii(input.to_string()));
        }
        if s.len() < SUFFIX_LEN + 1 {
            return Err(OccError::TooShort(input.to_string()));
        }
        let (head, suffix) = s.split_at(s.len() - SUFFIX_LEN);
        let root = head.trim_end_matches([' ', '-']);
        if !valid_root(root) {
            return Err(OccError::BadRoot {
                symbol: input.to_string(),
                root: root.to_string(),
            });
        }
        let (date, rest) = suffix.split_at(6);
        let expiry = parse_yymmdd(date).ok_or_else(|| OccError::BadDate {
            symbol: input.to_string(),
            date: date.to_string(),
        })?;
        let flag = rest.as_bytes()[0] as char;
        let put_call = match flag.to_ascii_uppercase() {
            'C' => PutCall::Call,
            'P' => PutCall::Put,
            found => {
                return Err(OccError::BadPutCall {
                    symbol: input.to_string(),
                    found,
                });
            }
        };
        let digits = &rest[1..];
        if !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(OccError::BadStrike {
                symbol: input.to_string(),
                strike: digits.to_string(),
            });
        }
        // Eight ASCII digits always fit an i64.
        let thousandths: i64 = digits.parse().map_err(|_| OccError::BadStrike {
            symbol: input.to_string(),
            strike: digits.to_string(),
        })?;
        let mut root = CompactString::from(root);
        root.make_ascii_uppercase();
        Ok(OccSymbol {
            root,
            expiry,
            put_call,
            strike: Decimal::new(thousandths, 3).normalize(),
        })
    }

    pub fn root(&self) -> &str {
        &self.root
    }
    pub fn expiry(&self) -> NaiveDate {
        self.expiry
    }
    pub fn put_call(&self) -> PutCall {
        self.put_call
    }
    pub fn strike(&self) -> Decimal {
        self.strike
    }

    /// `AAPL260116C00150000`: the canonical symbol of an option in recon's frames.
    pub fn compact(&self) -> String {
        self.compact_text().into()
    }

    /// `compact`, held inline (21 bytes at most): the symbol a position row keeps.
    pub fn compact_text(&self) -> CompactString {
        self.write_with(0, b' ')
    }

    /// `AAPL  260116C00150000`: root padded with spaces to six characters (21 in all).
    pub fn padded(&self) -> String {
        self.write_with(MAX_ROOT_LEN, b' ').into()
    }

    /// `AAPL--260116C00150000`: E*TRADE's `osiKey` form.
    pub fn dashed(&self) -> String {
        self.write_with(MAX_ROOT_LEN, b'-').into()
    }

    fn write_with(&self, width: usize, fill: u8) -> CompactString {
        let thousandths = (self.strike * Decimal::ONE_THOUSAND).trunc();
        let flag = match self.put_call {
            PutCall::Call => b'C',
            PutCall::Put => b'P',
        };
        let year = self.expiry.year() % 100;
        match (u32::try_from(year), thousandths.to_u64()) {
            // Byte by byte on the stack, then one copy: this runs once per option
            // position (`format!` was a percent of a whole check's time, and pushing
            // into the string a char at a time most of one).
            (Ok(year), Some(strike)) if strike < 100_000_000 && self.root.len() <= MAX_ROOT_LEN => {
                let mut out = Written::default();
                self.root.bytes().for_each(|b| out.push(b));
                (self.root.len()..width).for_each(|_| out.push(fill));
                for (n, width) in [(year, 2), (self.expiry.month(), 2), (self.expiry.day(), 2)] {
                    out.digits(u64::from(n), width);
                }
                out.push(flag);
                out.digits(strike, 8);
                out.text()
            }
            _ => compact_str::format_compact!(
                "{}{}{:02}{:02}{:02}{}{:0>8}",
                self.root,
                std::iter::repeat_n(char::from(fill), width.saturating_sub(self.root.len()))
                    .collect::<String>(),
                year,
                self.expiry.month(),
                self.expiry.day(),
                char::from(flag),
                thousandths.to_string()
            ),
        }
    }
}

/// A symbol written on the stack: at most a six-character root and its 15-byte suffix.
#[derive(Default)]
struct Written {
    bytes: [u8; MAX_ROOT_LEN + SUFFIX_LEN],
    len: usize,
}

impl Written {
    fn push(&mut self, b: u8) {
        if let Some(slot) = self.bytes.get_mut(self.len) {
            *slot = b;
            self.len += 1;
        }
    }

    /// `n` in exactly `width` decimal digits, zero-padded (`n` has at most `width` digits).
    fn digits(&mut self, n: u64, width: u32) {
        for place in (0..width).rev() {
            self.push(b'0' + ((n / 10u64.pow(place)) % 10) as u8);
        }
    }

    fn text(&self) -> CompactString {
        // ASCII only (the root is checked to be): always UTF-8. (`from_utf8_lossy` went a
        // character at a time: over 1 % of a check.)
        std::str::from_utf8(&self.bytes[..self.len])
            .map_or_else(|_| CompactString::default(), CompactString::from)
    }
}

impl fmt::Display for OccSymbol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.compact())
    }
}

impl FromStr for OccSymbol {
    type Err = OccError;
    fn from_str(s: &str) -> Result<Self, OccError> {
        OccSymbol::parse(s)
    }
}

fn valid_root(root: &str) -> bool {
    (1..=MAX_ROOT_LEN).contains(&root.len()) && root.bytes().all(|b| b.is_ascii_alphanumeric())
}

fn parse_yymmdd(date: &str) -> Option<NaiveDate> {
    if date.len() != 6 || !date.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let yy: i32 = date[0..2].parse().ok()?;
    let mm: u32 = date[2..4].parse().ok()?;
    let dd: u32 = date[4..6].parse().ok()?;
    NaiveDate::from_ymd_opt(2000 + yy, mm, dd)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rust_decimal_macros::dec;

    fn ymd(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn parses_the_three_forms_to_the_same_symbol() {
        let want = OccSymbol::new("AAPL", ymd(2026, 1, 16), PutCall::Call, dec!(150)).unwrap();
        for s in [
            "AAPL  260116C00150000",
            "AAPL260116C00150000",
            "AAPL--260116C00150000",
        ] {
            assert_eq!(OccSymbol::parse(s).unwrap(), want, "{s}");
        }
        assert_eq!(want.compact(), "AAPL260116C00150000");
        assert_eq!(want.padded(), "AAPL  260116C00150000");
        assert_eq!(want.dashed(), "AAPL--260116C00150000");
    }

    #[test]
    fn fractional_strikes_are_exact() {
        let s = OccSymbol::parse("QQQ260514P00007500").unwrap();
        assert_eq!(s.strike(), dec!(7.5));
        assert_eq!(s.put_call(), PutCall::Put);
        let eighth = OccSymbol::new("XYZ", ymd(2027, 3, 19), PutCall::Put, dec!(0.125)).unwrap();
        assert_eq!(eighth.compact(), "XYZ270319P00000125");
        assert_eq!(OccSymbol::parse(&eighth.compact()).unwrap(), eighth);
    }

    #[test]
    fn six_character_roots_need_no_padding() {
        let s = OccSymbol::parse("GOOGL1260116C01000000").unwrap();
        assert_eq!(s.root(), "GOOGL1");
        assert_eq!(s.padded(), "GOOGL1260116C01000000");
        assert_eq!(s.strike(), dec!(1000));
    }

    #[test]
    fn rejects_what_is_not_an_option_symbol() {
        assert!(matches!(
            OccSymbol::parse("AAPL"),
            Err(OccError::TooShort(_))
        ));
        assert!(matches!(
            OccSymbol::parse("AAPL261316C00150000"),
            Err(OccError::BadDate { .. })
        ));
        assert!(matches!(
            OccSymbol::parse("AAPL260116X00150000"),
            Err(OccError::BadPutCall { found: 'X', .. })
        ));
        assert!(matches!(
            OccSymbol::parse("AAPL260116C0015000x"),
            Err(OccError::BadStrike { .. })
        ));
        assert!(matches!(
            OccSymbol::parse("TOOLONGROOT260116C00150000"),
            Err(OccError::BadRoot { .. })
        ));
        assert!(matches!(
            OccSymbol::parse("ÄPL260116C00150000"),
            Err(OccError::NotAscii(_))
        ));
        assert!(OccSymbol::new("AAPL", ymd(2026, 1, 16), PutCall::Call, dec!(1.2345)).is_err());
        assert!(OccSymbol::new("AAPL", ymd(2026, 1, 16), PutCall::Call, dec!(100000)).is_err());
        assert!(OccSymbol::new("AAPL", ymd(2126, 1, 16), PutCall::Call, dec!(1)).is_err());
        // Too large to multiply by a thousand: an error, not an overflow panic.
        assert!(matches!(
            OccSymbol::new("AAPL", ymd(2026, 1, 16), PutCall::Call, Decimal::MAX),
            Err(OccError::StrikeOutOfRange(_))
        ));
    }

    fn any_symbol() -> impl Strategy<Value = OccSymbol> {
        (
            "[A-Z][A-Z0-9]{0,5}",
            0i32..100,
            1u32..=12,
            1u32..=28,
            any::<bool>(),
            0i64..100_000_000,
        )
            .prop_map(|(root, yy, mm, dd, call, thousandths)| {
                let pc = if call { PutCall::Call } else { PutCall::Put };
                OccSymbol::new(
                    &root,
                    ymd(2000 + yy, mm, dd),
                    pc,
                    Decimal::new(thousandths, 3),
                )
                .unwrap()
            })
    }

    proptest! {
        #[test]
        fn every_form_round_trips(sym in any_symbol()) {
            prop_assert_eq!(&OccSymbol::parse(&sym.compact()).unwrap(), &sym);
            prop_assert_eq!(&OccSymbol::parse(&sym.padded()).unwrap(), &sym);
            prop_assert_eq!(&OccSymbol::parse(&sym.dashed()).unwrap(), &sym);
            prop_assert_eq!(sym.padded().len(), 21);
        }

        #[test]
        fn parse_never_panics(s in ".{0,40}") {
            let _ = OccSymbol::parse(&s);
        }

        #[test]
        fn parse_never_panics_on_near_misses(s in "[A-Z -]{0,8}[0-9]{6}[CPX][0-9 ]{8}") {
            let _ = OccSymbol::parse(&s);
        }
    }
}
