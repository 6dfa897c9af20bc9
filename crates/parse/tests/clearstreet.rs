//! Clear Street snapshots → canonical rows: the fixture under fixtures/clearstreet/quirks
//! holds every quirk of BROKERS.md §3, and each canonical row is asserted field by field.

mod common;

use common::*;

use rust_decimal_macros::dec;

#[test]
fn every_quirk_of_the_fixture_becomes_exact_rows_or_quarantine() {
    let n = read_rows(&fixture("clearstreet/quirks"), None).unwrap();
    let f = &n.rows;

    // Accounts: from both list pages; an id sent as a string; enum values never seen.
    let a = &f.accounts;
    assert_eq!(a.height(), 2);
    let main = row_of(a, "account_id", "19816");
    assert_eq!(
        str_at(a, "account_name", main).as_deref(),
        Some("Acme Trading LLC")
    );
    assert_eq!(str_at(a, "account_kind", main).as_deref(), Some("margin"));
    assert_eq!(str_at(a, "status", main).as_deref(), Some("active"));
    assert_eq!(str_at(a, "options_level", main).as_deref(), Some("3"));
    let odd = row_of(a, "account_id", "777");
    assert_eq!(str_at(a, "account_name", odd).as_deref(), Some("FUT"));
    assert_eq!(str_at(a, "account_kind", odd).as_deref(), Some("unknown"));
    assert_eq!(str_at(a, "status", odd).as_deref(), Some("unknown"));

    // Balances: trade-date cash, margin details, string decimals exact.
    let b = &f.balances;
    let i = row_of(b, "account_id", "19816");
    assert_eq!(dec_at(b, "cash", i), Some(dec!(40000.00)));
    assert_eq!(dec_at(b, "net_liq", i), Some(dec!(48895.00)));
    assert_eq!(dec_at(b, "buying_power", i), Some(dec!(97790.00)));
    assert_eq!(dec_at(b, "withdrawable_cash", i), Some(dec!(39000.00)));
    assert_eq!(dec_at(b, "maintenance_requirement", i), Some(dec!(6452.50)));
    assert_eq!(dec_at(b, "margin_excess", i), Some(dec!(42442.50)));
    assert_eq!(dec_at(b, "long_market_value", i), Some(dec!(17820.00)));
    assert_eq!(dec_at(b, "short_market_value", i), Some(dec!(-8925.00)));
    assert_eq!(dec_at(b, "unrealized_pnl", i), Some(dec!(825.00)));
    assert_eq!(dec_at(b, "day_pnl", i), Some(dec!(55.00)));
    // The 403 envelope stored for 777's balances: nothing invented, the account incomplete.
    let j = row_of(b, "account_id", "777");
    assert_eq!(dec_at(b, "cash", j), None);
    assert_eq!(dec_at(b, "net_liq", j), None);
    assert!(n.incomplete.contains(&("clearstreet".into(), "777".into())));
    assert!(
        !n.incomplete
            .contains(&("clearstreet".into(), "19816".into()))
    );

    // Positions: both pages, signed quantities, OSI options, enum drift.
    let p = &f.positions;
    assert_eq!(p.height(), 5, "{p}");
    let aapl = row_of(p, "symbol", "AAPL");
    assert_eq!(str_at(p, "instrument", aapl).as_deref(), Some("equity"));
    assert_eq!(dec_at(p, "quantity", aapl), Some(dec!(100)));
    assert_eq!(dec_at(p, "multiplier", aapl), Some(dec!(1)));
    assert_eq!(dec_at(p, "avg_price", aapl), Some(dec!(145.00)));
    assert_eq!(dec_at(p, "mark", aapl), Some(dec!(151.00)));
    assert_eq!(dec_at(p, "close_price", aapl), Some(dec!(150.50)));
    assert_eq!(dec_at(p, "market_value", aapl), Some(dec!(15100.00)));
    assert_eq!(dec_at(p, "cost_basis", aapl), Some(dec!(14500.00)));
    assert_eq!(dec_at(p, "unrealized_pnl", aapl), Some(dec!(600.00)));
    assert_eq!(
        str_at(p, "position_id", aapl).as_deref(),
        Some("a1a2a3a4-b1b2-c1c2-d1d2-d3d4d5d6d7d8")
    );
    // The vendor's own example is not arithmetic (-9000 for -50 × 178.50): recon values
    // the position from quantity × mark.
    let tsla = row_of(p, "symbol", "TSLA");
    assert_eq!(dec_at(p, "quantity", tsla), Some(dec!(-50)));
    assert_eq!(dec_at(p, "market_value", tsla), Some(dec!(-8925.00)));
    assert_eq!(dec_at(p, "net_liq_value", tsla), Some(dec!(-8925.00)));
    let call = row_of(p, "symbol", "AAPL270115C00190000");
    assert_eq!(
        str_at(p, "instrument", call).as_deref(),
        Some("equity_option")
    );
    assert_eq!(str_at(p, "underlying", call).as_deref(), Some("AAPL"));
    assert_eq!(str_at(p, "put_call", call).as_deref(), Some("call"));
    assert_eq!(dec_at(p, "strike", call), Some(dec!(190)));
    assert_eq!(dec_at(p, "multiplier", call), Some(dec!(100)));
    assert_eq!(dec_at(p, "market_value", call), Some(dec!(2720.00)));
    // PREFERRED_STOCK (an older revision) is equity; its SHORT type contradicts +4: the
    // signed quantity stands and `side` keeps what the broker said, for data-quality's
    // quantity-side-mismatch to report.
    let pref = row_of(p, "symbol", "BAC.PRL");
    assert_eq!(str_at(p, "instrument", pref).as_deref(), Some("equity"));
    assert_eq!(dec_at(p, "quantity", pref), Some(dec!(4)));
    assert_eq!(str_at(p, "side", pref).as_deref(), Some("short"));
    assert_eq!(str_at(p, "side", tsla).as_deref(), Some("short"));
    // A type never seen is `other`, never a failure; without a mark the sent value stands.
    let w = row_of(p, "symbol", "XYZW");
    assert_eq!(str_at(p, "instrument", w).as_deref(), Some("other"));
    assert_eq!(dec_at(p, "market_value", w), Some(dec!(0.35)));
    assert_eq!(dec_at(p, "mark", w), None);

    // Quarantine: the unreadable quantity, the option that is not OSI and the error
    // envelope, each with file and pointer.
    let q = quarantine(&f.quarantine);
    let has = |source: &str, pointer: &str, words: &str| {
        q.iter()
            .any(|(s, p, r)| s == source && p == pointer && r.contains(words))
    };
    let page2 = "clearstreet/19816/positions.0002.json";
    assert!(has(page2, "/data/3/quantity", "size unknown"), "{q:?}");
    assert!(has(page2, "/data/4", "not an OSI symbol"), "{q:?}");
    assert!(has("clearstreet/777/balances.json", "", "403"), "{q:?}");
    assert_eq!(q.len(), 3, "{q:?}");
}

#[test]
fn a_folder_of_bytes_that_are_not_json_is_quarantined_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("clearstreet/5")).unwrap();
    std::fs::write(root.join("clearstreet/accounts.0001.json"), b"\xff\xfe{").unwrap();
    std::fs::write(
        root.join("clearstreet/5/balances.json"),
        b"{\"data\": {\"equity\": [1]}}",
    )
    .unwrap();
    std::fs::write(
        root.join("clearstreet/5/positions.0001.json"),
        b"{\"data\": 5}",
    )
    .unwrap();
    let as_of = chrono::NaiveDate::from_ymd_opt(2026, 11, 20).unwrap();
    let n = read_rows(root, Some(as_of)).unwrap();
    assert_eq!(n.rows.accounts.height(), 1);
    let q = quarantine(&n.rows.quarantine);
    assert!(
        q.iter()
            .any(|(s, _, _)| s == "clearstreet/accounts.0001.json"),
        "{q:?}"
    );
    assert!(
        q.iter()
            .any(|(s, p, _)| s == "clearstreet/5/balances.json" && p == "/data/equity"),
        "{q:?}"
    );
    assert!(q.iter().any(|(s, _, r)| s == "clearstreet/5/positions.0001.json" && r.contains("not an array")), "{q:?}");
}
