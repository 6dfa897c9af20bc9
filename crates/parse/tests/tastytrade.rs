//! tastytrade snapshots → canonical rows: the fixture under fixtures/tastytrade/quirks
//! holds the quirks of BROKERS.md §1, and each canonical row is asserted field by field.

mod common;

use common::*;

use rust_decimal_macros::dec;

#[test]
fn every_quirk_of_the_fixture_becomes_exact_rows_or_quarantine() {
    let n = read_rows(&fixture("tastytrade/quirks"), None).unwrap();
    let f = &n.rows;

    let a = &f.accounts;
    let ira = row_of(a, "account_id", "5WT11111");
    assert_eq!(
        str_at(a, "account_name", ira).as_deref(),
        Some("Futures and IRA")
    );
    assert_eq!(
        str_at(a, "account_kind", ira).as_deref(),
        Some("ira_margin")
    );
    // Closing-only in the trading status: restricted.
    assert_eq!(str_at(a, "status", ira).as_deref(), Some("restricted"));
    assert_eq!(
        str_at(a, "options_level", ira).as_deref(),
        Some("No Restrictions")
    );
    let old = row_of(a, "account_id", "5WT22222");
    // `is-closed` sent as the string "true"; an empty nickname is no name.
    assert_eq!(str_at(a, "status", old).as_deref(), Some("closed"));
    assert_eq!(str_at(a, "account_kind", old).as_deref(), Some("cash"));
    assert_eq!(str_at(a, "account_name", old), None);

    let b = &f.balances;
    let i = row_of(b, "account_id", "5WT11111");
    // 9 decimals: rounded half-even to the frame's 8, and noted.
    assert_eq!(dec_at(b, "cash", i), Some(dec!(10012.34567891)));
    assert_eq!(dec_at(b, "net_liq", i), Some(dec!(25000.5)));
    assert_eq!(dec_at(b, "buying_power", i), Some(dec!(20000.0)));
    assert_eq!(dec_at(b, "maintenance_requirement", i), Some(dec!(4100.0)));
    assert_eq!(dec_at(b, "margin_excess", i), Some(dec!(20900.5)));
    assert_eq!(dec_at(b, "withdrawable_cash", i), Some(dec!(9000.0)));
    assert_eq!(dec_at(b, "long_market_value", i), Some(dec!(4150.0)));
    // Short values arrive as magnitudes; the frame's are signed.
    assert_eq!(dec_at(b, "short_market_value", i), Some(dec!(-220.0)));
    let j = row_of(b, "account_id", "5WT22222");
    assert_eq!(dec_at(b, "net_liq", j), Some(dec!(0)));
    assert_eq!(dec_at(b, "margin_excess", j), None);

    let p = &f.positions;
    assert_eq!(p.height(), 7, "{p}");
    let aapl = row_of(p, "symbol", "AAPL");
    assert_eq!(dec_at(p, "quantity", aapl), Some(dec!(20)));
    assert_eq!(dec_at(p, "multiplier", aapl), Some(dec!(1)));
    assert_eq!(dec_at(p, "avg_price", aapl), Some(dec!(180.12345678)));
    assert_eq!(dec_at(p, "mark", aapl), Some(dec!(200.0)));
    assert_eq!(dec_at(p, "close_price", aapl), Some(dec!(199.0)));
    assert_eq!(dec_at(p, "market_value", aapl), Some(dec!(4000.0)));
    assert_eq!(dec_at(p, "unrealized_pnl", aapl), Some(dec!(397.5308644)));

    // A padded OCC symbol, a number quantity, Short: signed and compact.
    let spx = row_of(p, "symbol", "SPXW261218P06000000");
    assert_eq!(
        str_at(p, "instrument", spx).as_deref(),
        Some("equity_option")
    );
    assert_eq!(str_at(p, "underlying", spx).as_deref(), Some("SPX"));
    assert_eq!(str_at(p, "put_call", spx).as_deref(), Some("put"));
    assert_eq!(dec_at(p, "strike", spx), Some(dec!(6000)));
    assert_eq!(dec_at(p, "quantity", spx), Some(dec!(-1)));
    assert_eq!(dec_at(p, "market_value", spx), Some(dec!(-220.0)));

    // A future adds its open-trade P&L to net liq, not its notional.
    let mes = row_of(p, "symbol", "/MESZ6");
    assert_eq!(str_at(p, "instrument", mes).as_deref(), Some("future"));
    assert_eq!(dec_at(p, "multiplier", mes), Some(dec!(5)));
    assert_eq!(dec_at(p, "market_value", mes), Some(dec!(64505.0)));
    assert_eq!(dec_at(p, "net_liq_value", mes), Some(dec!(502.5)));

    // A future option: strike as written, the future as underlying, multiplier 125000.
    let eur = row_of(p, "symbol", "./6EZ6 EUUZ6 261204C1.225");
    assert_eq!(
        str_at(p, "instrument", eur).as_deref(),
        Some("future_option")
    );
    assert_eq!(str_at(p, "underlying", eur).as_deref(), Some("/6EZ6"));
    assert_eq!(str_at(p, "put_call", eur).as_deref(), Some("call"));
    assert_eq!(dec_at(p, "strike", eur), Some(dec!(1.225)));
    assert_eq!(dec_at(p, "multiplier", eur), Some(dec!(125000)));
    assert_eq!(dec_at(p, "market_value", eur), Some(dec!(150.0)));

    // Zero direction: a closed row, worth nothing.
    let msft = row_of(p, "symbol", "MSFT");
    assert_eq!(dec_at(p, "quantity", msft), Some(dec!(0)));
    assert_eq!(dec_at(p, "net_liq_value", msft), Some(dec!(0)));
    // No mark (fetched without include-marks): kept, with a null mark and value for
    // data-quality's mark-missing; yesterday's close stays in its own column, and nothing
    // is quarantined (below).
    let ko = row_of(p, "symbol", "KO");
    assert_eq!(dec_at(p, "mark", ko), None);
    assert_eq!(dec_at(p, "market_value", ko), None);
    assert_eq!(dec_at(p, "net_liq_value", ko), None);
    assert_eq!(dec_at(p, "close_price", ko), Some(dec!(69.0)));
    let btc = row_of(p, "symbol", "BTC/USD");
    assert_eq!(str_at(p, "instrument", btc).as_deref(), Some("crypto"));
    assert_eq!(dec_at(p, "market_value", btc), Some(dec!(915.0)));

    let q = quarantine(&f.quarantine);
    let positions = "tastytrade/5WT11111/positions.json";
    let has = |source: &str, pointer: &str, words: &str| {
        q.iter()
            .any(|(s, p, r)| s == source && p == pointer && r.contains(words))
    };
    assert!(
        has(
            "tastytrade/5WT11111/balances.json",
            "/data/cash-balance",
            "rounded"
        ),
        "{q:?}"
    );
    assert!(
        !q.iter()
            .any(|(s, p, _)| s == positions && p.starts_with("/data/items/5")),
        "a missing mark is not a quarantine: {q:?}"
    );
    assert!(
        has(
            positions,
            "/data/items/6/quantity-direction",
            "direction unknown"
        ),
        "{q:?}"
    );
    assert!(
        has(positions, "/data/items/7/quantity", "size unknown"),
        "{q:?}"
    );
    assert!(
        has(positions, "/data/items/8", "not an OCC symbol"),
        "{q:?}"
    );
    assert!(
        has(
            "tastytrade/5WT22222/trading-status.json",
            "",
            "record_not_found"
        ),
        "{q:?}"
    );
    assert_eq!(q.len(), 5, "{q:?}");
    assert!(
        n.incomplete
            .contains(&("tastytrade".into(), "5WT22222".into()))
    );
    assert!(
        !n.incomplete
            .contains(&("tastytrade".into(), "5WT11111".into()))
    );
}
