//! Exact numbers: JSON numbers (or numeric strings) straight to `Decimal`, never through
//! `f64`, and the fixed scale of the frames.

use rust_decimal::{Decimal, RoundingStrategy};
use serde_json::value::RawValue;
use std::str::FromStr;

/// `text.trim()`, answered without decoding characters when the text neither starts nor
/// ends with a space of any kind, as almost every value read (`trim` was ~1.4 % of reading
/// a snapshot).
pub fn trim(text: &str) -> &str {
    let plain = |b: Option<&u8>| b.is_some_and(|&b| b.is_ascii() && !char::from(b).is_whitespace());
    let bytes = text.as_bytes();
    if plain(bytes.first()) && plain(bytes.last()) {
        text
    } else {
        text.trim()
    }
}

/// Every amount, price, quantity and multiplier column has this scale.
pub const SCALE: u32 = 8;
/// And this precision (the largest polars Decimal).
pub const PRECISION: usize = 38;

/// Reads a JSON value that should be a number: a JSON number, a numeric string, or null.
/// `Ok(None)` for null or an empty string; `Err` says what was there instead.
pub fn number(raw: Option<&RawValue>) -> Result<Option<Decimal>, String> {
    let Some(raw) = raw else { return Ok(None) };
    let text = trim(raw.get());
    if text == "null" {
        return Ok(None);
    }
    let unquoted = match text.strip_prefix('"').and_then(|t| t.strip_suffix('"')) {
        Some(inner) => trim(inner),
        None => text,
    };
    if unquoted.is_empty() {
        return Ok(None);
    }
    let d = parse_decimal(unquoted).ok_or_else(|| format!("{text} is not a number"))?;
    if out_of_range(&d) {
        return Err(format!(
            "{text} is out of range (|x| ≥ 10^{LIMIT_DIGITS}): no account holds that much"
        ));
    }
    Ok(Some(d))
}

/// Broker values at or above 10^20 in magnitude are refused: no real quantity, price or
/// balance is that large, and keeping every input below it leaves room for sums of them
/// in a `Decimal(38, 8)` column (30 integer digits).
pub const LIMIT_DIGITS: u32 = 20;

/// Whether a broker value is at or beyond 10^[`LIMIT_DIGITS`] in magnitude.
pub fn out_of_range(d: &Decimal) -> bool {
    // |mantissa| / 10^scale ≥ 10^20 ⟺ |mantissa| ≥ 10^(20 + scale): compared on the integer,
    // not by rescaling two decimals (this runs on every number read). A mantissa is below
    // 2^96 < 10^29, so past 10^28 nothing is out of range.
    let exponent = LIMIT_DIGITS + d.scale();
    exponent <= 28 && d.mantissa().unsigned_abs() >= 10u128.pow(exponent)
}

/// The product of `factors` at frame scale, or `None` when it overflows `Decimal` (whose
/// ~7.9 × 10^28 also fits the frame's 30 integer digits).
pub fn checked_product(factors: &[Decimal]) -> Option<Decimal> {
    let p = factors
        .iter()
        .try_fold(Decimal::ONE, |acc, f| acc.checked_mul(*f))?;
    Some(to_frame_scale(p).0)
}

/// A decimal in plain or scientific notation (`1e-7`, `2.5E3`).
pub fn parse_decimal(text: &str) -> Option<Decimal> {
    if let Some(d) = plain_decimal(text) {
        return Some(d);
    }
    if text.contains(['e', 'E']) {
        Decimal::from_scientific(text).ok()
    } else {
        Decimal::from_str(text).ok()
    }
}

/// The common shape, `-?digits(.digits)?` with at most 28 digits, read in one pass: what `Decimal::from_str` reads it as (same value, same scale),
/// at a fraction of the cost, on every amount of every row. `None` for anything else, which
/// `from_str` then reads.
fn plain_decimal(text: &str) -> Option<Decimal> {
    let (negative, digits) = match text.as_bytes() {
        [b'-', rest @ ..] => (true, rest),
        all => (false, all),
    };
    let (mut mantissa, mut count, mut scale, mut dot) = (0i128, 0u32, 0u32, false);
    for (i, &b) in digits.iter().enumerate() {
        match b {
            b'0'..=b'9' => {
                mantissa = mantissa * 10 + i128::from(b - b'0');
                count += 1;
                scale += u32::from(dot);
            }
            // A point between digits only.
            b'.' if !dot && i > 0 && i + 1 < digits.len() => dot = true,
            _ => return None,
        }
        if count > 28 {
            return None;
        }
    }
    if count == 0 {
        return None;
    }
    Decimal::try_from_i128_with_scale(if negative { -mantissa } else { mantissa }, scale).ok()
}

/// Rounds to the frame scale, half to even. Returns the value and whether it changed, so
/// the caller can note the rounding in the quarantine.
pub fn to_frame_scale(d: Decimal) -> (Decimal, bool) {
    // Most values have at most 8 decimals: nothing to round.
    if d.scale() <= SCALE {
        return (d, false);
    }
    let r = d.round_dp_with_strategy(SCALE, RoundingStrategy::MidpointNearestEven);
    (r, r != d)
}

/// The i128 a `Decimal(38, 8)` column stores for `d` (already at most 8 decimals).
pub fn to_units(d: Decimal) -> i128 {
    // Most values have at most 8 decimals already: no rounding to do.
    let d = if d.scale() <= SCALE {
        d
    } else {
        to_frame_scale(d).0
    };
    // A Decimal's mantissa is < 2^96 and scale ≤ 8 here, so this cannot overflow an i128.
    d.mantissa() * 10i128.pow(SCALE - d.scale())
}

/// The `Decimal` behind a stored i128 at `scale`, if rust_decimal can hold it.
pub fn from_units(units: i128, scale: usize) -> Option<Decimal> {
    Decimal::try_from_i128_with_scale(units, scale as u32).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn raw(s: &str) -> Box<RawValue> {
        RawValue::from_string(s.to_string()).unwrap()
    }

    #[test]
    fn huge_tiny_exponent_and_odd_numbers_never_panic() {
        assert!(
            number(Some(&raw("1e20")))
                .unwrap_err()
                .contains("out of range")
        );
        assert!(number(Some(&raw("\"-123456789012345678901\""))).is_err());
        assert!(number(Some(&raw("1e400"))).is_err());
        assert!(number(Some(&raw("79228162514264337593543950336"))).is_err());
        assert_eq!(
            number(Some(&raw("99999999999999999999"))).unwrap(),
            Some(dec!(99999999999999999999))
        );
        assert_eq!(
            number(Some(&raw("1e-28"))).unwrap(),
            Some(dec!(0.0000000000000000000000000001))
        );
        // Beyond Decimal's 28 decimals: refused or rounded, never a panic.
        let _ = number(Some(&raw("1e-30")));
        assert!(
            number(Some(&raw("\"１２３\""))).is_err(),
            "full-width digits are not a number"
        );
        assert!(number(Some(&raw("\"12٫5\""))).is_err());
        let big = dec!(99999999999999999999);
        assert_eq!(checked_product(&[big, big, big]), None);
        assert_eq!(checked_product(&[big, big]), None);
        assert_eq!(
            checked_product(&[dec!(2.5), dec!(4), dec!(100)]),
            Some(dec!(1000))
        );
    }

    #[test]
    fn numbers_and_strings_read_exactly() {
        assert_eq!(number(Some(&raw("294.42"))).unwrap(), Some(dec!(294.42)));
        assert_eq!(number(Some(&raw("\"-0.1\""))).unwrap(), Some(dec!(-0.1)));
        assert_eq!(number(Some(&raw("1e-7"))).unwrap(), Some(dec!(0.0000001)));
        assert_eq!(
            number(Some(&raw("12345678901234567890.12345678"))).unwrap(),
            Some(dec!(12345678901234567890.12345678))
        );
        assert_eq!(number(Some(&raw("null"))).unwrap(), None);
        assert_eq!(number(Some(&raw("\"\""))).unwrap(), None);
        assert_eq!(number(None).unwrap(), None);
        assert!(number(Some(&raw("\"abc\""))).is_err());
        assert!(number(Some(&raw("true"))).is_err());
    }

    #[test]
    fn frame_scale_rounds_half_even_and_says_so() {
        assert_eq!(to_frame_scale(dec!(1.000000005)), (dec!(1.00000000), true));
        assert_eq!(to_frame_scale(dec!(1.000000015)), (dec!(1.00000002), true));
        assert_eq!(to_frame_scale(dec!(1.5)), (dec!(1.5), false));
        assert_eq!(to_units(dec!(1.5)), 150_000_000);
        assert_eq!(to_units(dec!(-0.00000001)), -1);
        assert_eq!(from_units(150_000_000, 8), Some(dec!(1.5)));
    }

    use proptest::prelude::*;

    #[test]
    fn trim_is_str_trim() {
        let texts = [
            "",
            " ",
            "a",
            " a",
            "a ",
            "\u{b}a",
            "a\u{b}",
            "\u{a0}1\u{a0}",
            "\u{2003}x",
            "ab c",
            "é",
            "\t1\n",
            "1\u{85}",
        ];
        for text in texts {
            assert_eq!(trim(text), text.trim(), "{text:?}");
        }
    }

    #[test]
    fn plain_decimals_at_the_edges_read_as_from_str_reads_them() {
        let texts = [
            "-0",
            "-0.00",
            "0",
            "0.10",
            "00012.3400",
            "1.",
            ".5",
            "1_0",
            "+5",
            "-",
            "",
            "-.5",
            "1..2",
            "9999999999999999999999999999",
            "99999999999999999999999999999",
            "0.000000000000000000000000001",
            "0.0000000000000000000000000001",
            "-12.5",
        ];
        for text in texts {
            let theirs = Decimal::from_str(text).ok();
            let ours = plain_decimal(text);
            if let Some(ours) = ours {
                let theirs = theirs.unwrap();
                assert_eq!(
                    (ours.mantissa(), ours.scale(), ours.is_sign_negative()),
                    (theirs.mantissa(), theirs.scale(), theirs.is_sign_negative()),
                    "{text}"
                );
            }
            assert_eq!(parse_decimal(text), theirs, "{text}");
        }
        // The common shapes are read in one pass.
        for text in ["12.5", "-3", "0.00000001", "9999999999999999999999999999"] {
            assert!(plain_decimal(text).is_some(), "{text}");
        }
    }

    proptest! {
        /// The one-pass reading is `from_str`'s, value and scale and sign, wherever it reads.
        #[test]
        fn plain_decimals_read_as_from_str_reads_them(
            text in "[-+]?[0-9]{0,31}(\\.[0-9]{0,12})?|[-0-9._]{1,8}",
        ) {
            let theirs = Decimal::from_str(&text).ok();
            if let Some(ours) = plain_decimal(&text) {
                let theirs = theirs.expect("from_str reads what plain_decimal reads");
                prop_assert_eq!(
                    (ours.mantissa(), ours.scale(), ours.is_sign_negative()),
                    (theirs.mantissa(), theirs.scale(), theirs.is_sign_negative()),
                    "{}", text
                );
            }
            prop_assert_eq!(parse_decimal(&text), theirs, "{}", text);
        }

        /// The integer comparison is the decimal one: |d| ≥ 10^20, at every scale, on
        /// both sides of the limit.
        #[test]
        fn out_of_range_is_the_decimal_comparison(
            mantissa in prop_oneof![
                proptest::num::i128::ANY.prop_map(|m| m % (1i128 << 96)),
                (-3i128..=3).prop_map(|d| 10i128.pow(20) + d),
                (0u32..=8).prop_flat_map(|s| (-3i128..=3).prop_map(move |d| (10i128.pow(20 + s) + d) * if s % 2 == 0 { 1 } else { -1 })),
            ],
            scale in 0u32..=28,
        ) {
            let d = Decimal::from_i128_with_scale(mantissa, scale);
            let by_decimals = d.abs() >= Decimal::from_i128_with_scale(10i128.pow(LIMIT_DIGITS), 0);
            prop_assert_eq!(out_of_range(&d), by_decimals, "{}", d);
        }

        /// Units are the value rounded half-even to the frame scale, times 10^8 (for the
        /// values recon keeps: below 10^20).
        #[test]
        fn units_are_the_rounded_value_at_frame_scale(
            mantissa in proptest::num::i128::ANY.prop_map(|m| m % 10i128.pow(20)),
            scale in 0u32..=20,
        ) {
            let d = Decimal::from_i128_with_scale(mantissa, scale);
            let rounded = d.round_dp_with_strategy(SCALE, RoundingStrategy::MidpointNearestEven);
            prop_assert_eq!(from_units(to_units(d), SCALE as usize), Some(rounded), "{}", d);
        }
    }
}
