//! Architect summaries → canonical rows: the fixture under fixtures/architect/quirks holds
//! the quirks of BROKERS.md §5, each canonical row asserted field by field.

mod common;

use common::*;

use rust_decimal_macros::dec;

const A: &str = "aaaaaaaa-0000-4000-8000-000000000001";
const B: &str = "bbbbbbbb-0000-4000-8000-000000000002";

#[test]
fn lots_products_and_both_schemas_become_exact_rows_or_quarantine() {
    let n = read_rows(&fixture("architect/quirks"), None).unwrap();
    let f = &n.rows;

    let a = &f.accounts;
    let i = row_of(a, "account_id", A);
    assert_eq!(
        str_at(a, "account_name", i).as_deref(),
        Some("STONEX:000000/JDoe")
    );
    assert_eq!(str_at(a, "account_kind", i).as_deref(), Some("futures"));
    assert_eq!(str_at(a, "status", i).as_deref(), Some("active"));
    let j = row_of(a, "account_id", B);
    assert_eq!(str_at(a, "account_kind", j).as_deref(), Some("paper"));
    assert_eq!(str_at(a, "status", j).as_deref(), Some("restricted"));

    // The old schema: purchasing_power, and margin excess computed as equity − margin.
    let b = &f.balances;
    let i = row_of(b, "account_id", A);
    assert_eq!(dec_at(b, "cash", i), Some(dec!(5754.59)));
    assert_eq!(dec_at(b, "net_liq", i), Some(dec!(9000.00)));
    assert_eq!(dec_at(b, "withdrawable_cash", i), Some(dec!(5000.00)));
    assert_eq!(dec_at(b, "maintenance_requirement", i), Some(dec!(3500)));
    assert_eq!(dec_at(b, "margin_excess", i), Some(dec!(5500.00)));
    assert_eq!(dec_at(b, "buying_power", i), Some(dec!(20000.00)));
    assert_eq!(dec_at(b, "day_pnl", i), Some(dec!(500.00)));
    // The new schema: available_margin and excess_liquidity as sent.
    let j = row_of(b, "account_id", B);
    assert_eq!(dec_at(b, "margin_excess", j), Some(dec!(100000)));
    assert_eq!(dec_at(b, "buying_power", j), Some(dec!(100000)));

    let p = &f.positions;
    assert_eq!(p.height(), 4, "{p}");
    // Two lots (2 long, 1 short) summed; the price weighted; no mark on the wire, so the
    // one the broker's own P&L implies; a future adds its open P&L, not its notional.
    let es = row_of(p, "symbol", "ES 20261218 CME Future");
    assert_eq!(str_at(p, "instrument", es).as_deref(), Some("future"));
    assert_eq!(str_at(p, "underlying", es).as_deref(), Some("ES"));
    assert_eq!(dec_at(p, "quantity", es), Some(dec!(1)));
    assert_eq!(dec_at(p, "multiplier", es), Some(dec!(50)));
    assert_eq!(dec_at(p, "avg_price", es), Some(dec!(6390.5)));
    assert_eq!(dec_at(p, "unrealized_pnl", es), Some(dec!(3000.0)));
    assert_eq!(dec_at(p, "mark", es), Some(dec!(6450.5)));
    assert_eq!(dec_at(p, "net_liq_value", es), Some(dec!(3000.0)));
    let mgc = row_of(p, "symbol", "MGC 20261229 COMEX Future");
    assert_eq!(dec_at(p, "multiplier", mgc), Some(dec!(10)));
    assert_eq!(dec_at(p, "mark", mgc), Some(dec!(3301.5)));
    assert_eq!(dec_at(p, "net_liq_value", mgc), Some(dec!(223.0)));
    // Numbers where strings belong (a third-party serialisation): still exact.
    let aapl = row_of(p, "symbol", "AAPL");
    assert_eq!(str_at(p, "instrument", aapl).as_deref(), Some("equity"));
    assert_eq!(dec_at(p, "mark", aapl), Some(dec!(200)));
    assert_eq!(dec_at(p, "net_liq_value", aapl), Some(dec!(2000)));
    // An explicit null P&L: the option cannot be valued, and says so by being null.
    let call = row_of(p, "symbol", "AAPL261218C00300000");
    assert_eq!(dec_at(p, "quantity", call), Some(dec!(-2)));
    assert_eq!(dec_at(p, "multiplier", call), Some(dec!(100)));
    assert_eq!(dec_at(p, "net_liq_value", call), None);

    let q = quarantine(&f.quarantine);
    let source = format!("architect/{A}/summary.json");
    assert!(
        q.iter().any(|(s, p, r)| *s == source
            && p == "/positions/ZQ 20261231 CBOT Future~1USD"
            && r.contains("contract table")),
        "{q:?}"
    );
    assert!(
        q.iter()
            .any(|(s, _, r)| *s == source && r.contains("does not read")),
        "{q:?}"
    );
    assert_eq!(q.len(), 2, "{q:?}");
}
