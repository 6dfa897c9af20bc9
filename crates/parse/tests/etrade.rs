//! E*TRADE snapshots → canonical rows: the fixture under fixtures/etrade/quirks mixes JSON
//! and XML, v1 and the legacy v0 shape, and each canonical row is asserted field by field.

mod common;

use common::*;

use rust_decimal_macros::dec;

#[test]
fn json_xml_and_legacy_bodies_become_exact_rows_or_quarantine() {
    let n = read_rows(&fixture("etrade/quirks"), None).unwrap();
    let f = &n.rows;

    // The account list in XML.
    let a = &f.accounts;
    let ka = row_of(a, "account_id", "KeyA");
    assert_eq!(str_at(a, "account_name", ka).as_deref(), Some("84010429"));
    assert_eq!(str_at(a, "account_kind", ka).as_deref(), Some("ira_margin"));
    // Not in the account list: taken from the balance response.
    assert_eq!(str_at(a, "options_level", ka).as_deref(), Some("LEVEL_4"));
    let kb = row_of(a, "account_id", "KeyB");
    assert_eq!(str_at(a, "account_kind", kb).as_deref(), Some("cash"));
    let kc = row_of(a, "account_id", "KeyC");
    assert_eq!(str_at(a, "status", kc).as_deref(), Some("closed"));

    let b = &f.balances;
    let i = row_of(b, "account_id", "KeyA");
    assert_eq!(dec_at(b, "cash", i), Some(dec!(5000.25)));
    assert_eq!(dec_at(b, "net_liq", i), Some(dec!(12345.67)));
    assert_eq!(dec_at(b, "buying_power", i), Some(dec!(20000)));
    assert_eq!(dec_at(b, "withdrawable_cash", i), Some(dec!(4800.5)));
    assert_eq!(dec_at(b, "long_market_value", i), Some(dec!(7800.42)));
    assert_eq!(dec_at(b, "short_market_value", i), Some(dec!(-455)));
    assert_eq!(dec_at(b, "maintenance_requirement", i), Some(dec!(3000)));
    assert_eq!(dec_at(b, "margin_excess", i), Some(dec!(9345.67)));
    // XML balance: strings everywhere, no portfolio margin, so no margin figures.
    let j = row_of(b, "account_id", "KeyB");
    assert_eq!(dec_at(b, "cash", j), Some(dec!(1500.10)));
    assert_eq!(dec_at(b, "net_liq", j), Some(dec!(2705.10)));
    assert_eq!(dec_at(b, "buying_power", j), Some(dec!(1500.10)));
    assert_eq!(dec_at(b, "margin_excess", j), None);
    assert!(n.incomplete.contains(&("etrade".into(), "KeyC".into())));
    assert!(!n.incomplete.contains(&("etrade".into(), "KeyA".into())));

    let p = &f.positions;
    assert_eq!(p.height(), 7, "{p}");
    // A transferred-in lot with a cost of 0: the average price is unknown, not 0.
    let aapl = row_of(p, "symbol", "AAPL");
    assert_eq!(str_at(p, "position_id", aapl).as_deref(), Some("1001"));
    assert_eq!(dec_at(p, "quantity", aapl), Some(dec!(40)));
    assert_eq!(dec_at(p, "avg_price", aapl), None);
    // The Quick view states no CUSIP; the Complete view does, check digit verified.
    assert_eq!(str_at(p, "cusip", aapl), None);
    let brka = row_of(p, "symbol", "BRKA");
    assert_eq!(str_at(p, "cusip", brka).as_deref(), Some("084670108"));
    assert_eq!(dec_at(p, "mark", aapl), Some(dec!(200)));
    assert_eq!(dec_at(p, "market_value", aapl), Some(dec!(8000)));
    // A dash-padded osiKey, short, the mark from the Complete view.
    let spy = row_of(p, "symbol", "SPY261218C00700000");
    assert_eq!(
        str_at(p, "instrument", spy).as_deref(),
        Some("equity_option")
    );
    assert_eq!(dec_at(p, "quantity", spy), Some(dec!(-1)));
    assert_eq!(dec_at(p, "multiplier", spy), Some(dec!(100)));
    assert_eq!(dec_at(p, "strike", spy), Some(dec!(700)));
    assert_eq!(dec_at(p, "mark", spy), Some(dec!(4.55)));
    assert_eq!(dec_at(p, "market_value", spy), Some(dec!(-455)));
    assert_eq!(dec_at(p, "avg_price", spy), Some(dec!(5.1)));
    // Page 2: one position as an object, `product` in lower case, no osiKey, an adjusted
    // option whose multiplier is 10.
    let xyz = row_of(p, "symbol", "XYZ261127P00012500");
    assert_eq!(str_at(p, "underlying", xyz).as_deref(), Some("XYZ"));
    assert_eq!(str_at(p, "put_call", xyz).as_deref(), Some("put"));
    assert_eq!(dec_at(p, "strike", xyz), Some(dec!(12.5)));
    assert_eq!(dec_at(p, "multiplier", xyz), Some(dec!(10)));
    assert_eq!(dec_at(p, "market_value", xyz), Some(dec!(10.5)));
    // XML portfolio: a fractional quantity and a 9-decimal price, rounded and noted.
    let ko = row_of(p, "symbol", "KO");
    assert_eq!(dec_at(p, "quantity", ko), Some(dec!(17.5)));
    assert_eq!(dec_at(p, "mark", ko), Some(dec!(68.85714286)));
    assert_eq!(dec_at(p, "market_value", ko), Some(dec!(1205.00000005)));
    // Legacy v0: `qty` and `longOrShort`, the option from productId fields, a negative
    // currentPrice on a short option read as a price (a magnitude).
    let goog = row_of(p, "symbol", "GOOG");
    assert_eq!(dec_at(p, "quantity", goog), Some(dec!(2)));
    assert_eq!(dec_at(p, "market_value", goog), Some(dec!(1086.44)));
    assert_eq!(dec_at(p, "avg_price", goog), Some(dec!(548.22)));
    let gop = row_of(p, "symbol", "GOP100220C00500000");
    assert_eq!(dec_at(p, "quantity", gop), Some(dec!(-1)));
    assert_eq!(dec_at(p, "mark", gop), Some(dec!(3.32)));
    assert_eq!(dec_at(p, "market_value", gop), Some(dec!(-332.00)));
    assert_eq!(dec_at(p, "avg_price", gop), Some(dec!(0.314)));

    let q = quarantine(&f.quarantine);
    assert!(
        q.iter()
            .any(|(s, p, r)| s == "etrade/KeyB/portfolio.0001.xml"
                && p.ends_with("/Position/0/lastTrade")
                && r.contains("rounded")),
        "{q:?}"
    );
    assert!(
        q.iter()
            .any(|(s, _, r)| s == "etrade/KeyC/balance.xml" && r.contains("valid account key")),
        "{q:?}"
    );
    assert_eq!(q.len(), 2, "{q:?}");
}
