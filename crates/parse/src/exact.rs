//! Exact numbers: JSON numbers (or numeric strings) straight to `Decimal`, never through
//! `f64`, and the fixed scale of the frames.

use rust_decimal::{Decimal, RoundingStrategy};
use serde_json::value::RawValue;
use std::str::FromStr;

/// Every amount, price, quantity and multiplier column has this scale.
pub const SCALE: u32 = 8;
/// And this precision (the largest polars Decimal).
pub const PRECISION: usize = 38;

/// Reads a JSON value that should be a number: a JSON number, a numeric string, or null.
/// `Ok(None)` for null or an empty string; `Err` says what was there instead.
pub fn number(raw: Option<&RawValue>) -> Result<Option<Decimal>, String> {
    let Some(raw) = raw else { return Ok(None) };
    let text = raw.get().trim();
    if text == "null" {
        return Ok(None);
    }
    let unquoted = match text.strip_prefix('"').and_then(|t| t.strip_suffix('"')) {
        Some(inner) => inner.trim(),
        None => text,
    };
    if unquoted.is_empty() {
        return Ok(None);
    }
    parse_decimal(unquoted)
        .map(Some)
        .ok_or_else(|| format!("{text} is not a number"))
}

/// A decimal in plain or scientific notation (`1e-7`, `2.5E3`).
pub fn parse_decimal(text: &str) -> Option<Decimal> {
    if text.contains(['e', 'E']) {
        Decimal::from_scientific(text).ok()
    } else {
        Decimal::from_str(text).ok()
    }
}

/// Rounds to the frame scale, half to even. Returns the value and whether it changed, so
/// the caller can note the rounding in the quarantine.
pub fn to_frame_scale(d: Decimal) -> (Decimal, bool) {
    let r = d.round_dp_with_strategy(SCALE, RoundingStrategy::MidpointNearestEven);
    (r, r != d)
}

/// The i128 a `Decimal(38, 8)` column stores for `d` (already at most 8 decimals).
pub fn to_units(d: Decimal) -> i128 {
    let (d, _) = to_frame_scale(d);
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
}
