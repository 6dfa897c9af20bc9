//! Frames keep money exact: Decimal(38, 8) columns, sums without float drift, and amounts
//! with 20 integer digits that survive the trip through polars.

use polars::prelude::*;
use recon_frames::exact::{from_units, to_units};
use recon_frames::schema::{money, money_dtype};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

fn decimal_at(df: &DataFrame, column: &str, row: usize) -> Option<Decimal> {
    match df.column(column).unwrap().get(row).unwrap() {
        AnyValue::Decimal(units, _, scale) => from_units(units, scale),
        AnyValue::Null => None,
        other => panic!("{column} is not Decimal: {other:?}"),
    }
}

#[test]
fn a_polars_sum_of_point_one_and_point_two_is_point_three() {
    let df = DataFrame::new(
        2,
        vec![money("x", [Some(dec!(0.1)), Some(dec!(0.2))].into_iter())],
    )
    .unwrap();
    let out = df
        .lazy()
        .select([
            col("x").sum().alias("total"),
            (col("x").sum().eq(lit("0.3").cast(money_dtype()))).alias("is_point_three"),
        ])
        .collect()
        .unwrap();
    assert_eq!(out.column("total").unwrap().dtype(), &money_dtype());
    assert_eq!(decimal_at(&out, "total", 0), Some(dec!(0.3)));
    // The comparison itself is made in Decimal.
    assert_eq!(
        out.column("is_point_three").unwrap().get(0).unwrap(),
        AnyValue::Boolean(true)
    );
}

#[test]
fn twenty_digit_amounts_survive_the_round_trip() {
    let big = dec!(12345678901234567890.12345678);
    let negative = dec!(-98765432109876543210.00000001);
    let df = DataFrame::new(2, vec![money("x", [Some(big), Some(negative)].into_iter())]).unwrap();
    assert_eq!(decimal_at(&df, "x", 0), Some(big));
    assert_eq!(decimal_at(&df, "x", 1), Some(negative));
    let total = df.lazy().select([col("x").sum()]).collect().unwrap();
    assert_eq!(decimal_at(&total, "x", 0), Some(big + negative));
}

#[test]
fn nulls_stay_null_not_zero() {
    let df = DataFrame::new(2, vec![money("x", [Some(dec!(1)), None].into_iter())]).unwrap();
    assert_eq!(decimal_at(&df, "x", 1), None);
    assert_eq!(df.column("x").unwrap().null_count(), 1);
}

#[test]
fn units_are_scale_eight() {
    assert_eq!(to_units(dec!(0.00000001)), 1);
    assert_eq!(to_units(dec!(1)), 100_000_000);
}

mod proptests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        // polars' Decimal sum agrees with rust_decimal on random amounts (STACK.md §1.2 asks
        // for this guard against the wrapping-sum bug).
        #[test]
        fn polars_sum_matches_rust_decimal(units in proptest::collection::vec(-10i64.pow(15)..10i64.pow(15), 0..50)) {
            let values: Vec<Decimal> = units.iter().map(|u| Decimal::new(*u, 4)).collect();
            let want: Decimal = values.iter().sum();
            let df = DataFrame::new(values.len(), vec![money("x", values.iter().copied().map(Some))]).unwrap();
            let got = df.lazy().select([col("x").sum()]).collect().unwrap();
            prop_assert_eq!(decimal_at(&got, "x", 0).unwrap_or_default(), want);
        }
    }
}
