//! TradeZero snapshots → canonical rows: every documented shape and quirk, and quarantine
//! rows (never a panic, never a silent drop) for what cannot be read.

mod common;

use common::*;

use rust_decimal_macros::dec;
use std::path::Path;

fn write(root: &Path, rel: &str, body: &str) {
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, body).unwrap();
}

fn manifest(root: &Path, accounts: &[&str], errors: &str) {
    let list: Vec<String> = accounts.iter().map(|a| format!("\"{a}\"")).collect();
    write(
        root,
        "manifest.json",
        &format!(
            r#"{{"format": 1, "as_of": "2026-11-20", "fetched_at": "2026-11-20T21:00:00Z",
            "recon_version": "test", "brokers": {{"tradezero": {{"status": "complete",
            "accounts": [{}], "errors": [{errors}]}}}}}}"#,
            list.join(",")
        ),
    );
}

const DETAILS: &str = r#"{"account":"TZ1","accountStatus":"Active","accountType":"Margin",
  "availableCash":1000.5,"bp":4002,"equity":9999,"leverage":4,"usedLeverage":0.5,"optLevel":3}"#;

const POSITIONS: &str = r#"{"positions":[
 {"accountId":"TZ1","positionId":"11","symbol":"AAPL","tradedSymbol":null,"securityType":"Stock",
  "side":"Long","shares":10,"priceAvg":200.1,"priceClose":0,"maintenanceRequirement":500,
  "updatedDate":"2026-11-20T19:00:20.4307353+00:00"},
 {"accountId":"TZ1","positionId":"12","symbol":"QQQ","tradedSymbol":"QQQ270115C00703000",
  "securityType":"Option","side":"Short","shares":-2,"priceAvg":5.72,"priceClose":0,
  "priceStrike":703,"putCall":"Call","maintenanceRequirement":1200},
 {"accountId":"TZ1","positionId":"13","symbol":"NVDA","securityType":"Stock","side":"Long",
  "shares":0.5,"priceAvg":180}
]}"#;

const PNL: &str = r#"{"accountValue":3456.78,"availableCash":1000.25,"allowedLeverage":4,
 "usedLeverage":0.02,"exposure":3120.5,"dayPnl":12.5,"totalUnrealized":-3.25,"pnl":[
 {"positionId":"11","symbol":"AAPL","exposure":2030.5,"realizedPnl":0,"unrealizedPnL":29.5,
  "dayRealizedPnl":0,"dayUnrealizedPnL":1},
 {"positionId":"99","symbol":"QQQ270115C00703000","exposure":1090,"realizedPnl":0,
  "unrealizedPnL":54,"dayRealizedPnl":0,"dayUnrealizedPnL":0},
 {"positionId":"77","symbol":"INTC","exposure":0,"realizedPnl":42.5,"unrealizedPnL":0,
  "dayRealizedPnl":42.5,"dayUnrealizedPnL":0}
]}"#;

#[test]
fn a_complete_account_becomes_canonical_rows() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    manifest(root, &["TZ1"], "");
    write(
        root,
        "tradezero/accounts.json",
        r#"{"accounts":[{"account":"TZ1"}]}"#,
    );
    write(root, "tradezero/TZ1/account.json", DETAILS);
    write(root, "tradezero/TZ1/positions.json", POSITIONS);
    write(root, "tradezero/TZ1/pnl.json", PNL);
    let n = read_rows(root, None).unwrap();
    let f = &n.rows;
    assert_eq!(n.as_of.to_string(), "2026-11-20");
    assert_eq!(f.quarantine.height(), 0, "{:?}", f.quarantine);
    assert!(n.incomplete.is_empty());

    // accounts
    assert_eq!(
        str_at(&f.accounts, "account_kind", 0).as_deref(),
        Some("margin")
    );
    assert_eq!(str_at(&f.accounts, "status", 0).as_deref(), Some("active"));
    assert_eq!(
        str_at(&f.accounts, "options_level", 0).as_deref(),
        Some("3")
    );

    // balances: /pnl's live values win over the details; `bp` read as buying power.
    let b = &f.balances;
    assert_eq!(dec_at(b, "net_liq", 0), Some(dec!(3456.78)));
    assert_eq!(dec_at(b, "cash", 0), Some(dec!(1000.25)));
    assert_eq!(dec_at(b, "buying_power", 0), Some(dec!(4002)));
    assert_eq!(dec_at(b, "maintenance_requirement", 0), Some(dec!(1700)));
    assert_eq!(
        dec_at(b, "margin_excess", 0),
        None,
        "TradeZero sends no margin excess"
    );
    assert_eq!(dec_at(b, "reported_exposure", 0), Some(dec!(3120.5)));

    // positions
    let p = &f.positions;
    assert_eq!(p.height(), 3);
    let aapl = row_of(p, "position_id", "11");
    assert_eq!(dec_at(p, "quantity", aapl), Some(dec!(10)));
    assert_eq!(dec_at(p, "market_value", aapl), Some(dec!(2030.5)));
    assert_eq!(dec_at(p, "mark", aapl), Some(dec!(203.05)));
    assert_eq!(
        dec_at(p, "close_price", aapl),
        None,
        "priceClose 0 is not a price"
    );
    assert_eq!(str_at(p, "instrument", aapl).as_deref(), Some("equity"));

    let call = row_of(p, "position_id", "12");
    assert_eq!(
        str_at(p, "symbol", call).as_deref(),
        Some("QQQ270115C00703000")
    );
    assert_eq!(str_at(p, "underlying", call).as_deref(), Some("QQQ"));
    assert_eq!(
        str_at(p, "instrument", call).as_deref(),
        Some("equity_option")
    );
    assert_eq!(str_at(p, "put_call", call).as_deref(), Some("call"));
    assert_eq!(dec_at(p, "strike", call), Some(dec!(703)));
    assert_eq!(dec_at(p, "multiplier", call), Some(dec!(100)));
    // Short from `side` (shares came negative too); matched by OCC symbol, so valued.
    assert_eq!(dec_at(p, "quantity", call), Some(dec!(-2)));
    assert_eq!(dec_at(p, "market_value", call), Some(dec!(-1090)));
    assert_eq!(dec_at(p, "mark", call), Some(dec!(5.45)));

    // Fractional shares, and no P&L row: unvalued, never valued at zero.
    let nvda = row_of(p, "position_id", "13");
    assert_eq!(dec_at(p, "quantity", nvda), Some(dec!(0.5)));
    assert_eq!(dec_at(p, "market_value", nvda), None);
    assert_eq!(dec_at(p, "net_liq_value", nvda), None);

    // pnl keeps every row, including a lot closed today.
    assert_eq!(f.pnl.height(), 3);
    let intc = row_of(&f.pnl, "symbol", "INTC");
    assert_eq!(dec_at(&f.pnl, "realized_pnl", intc), Some(dec!(42.5)));
}

#[test]
fn bare_arrays_and_the_slim_account_list_are_read() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    // No manifest: accounts found by scanning folders; as_of given by the caller.
    write(
        root,
        "tradezero/accounts.json",
        r#"[{"accountId":"TZP5","accountName":"Practice","accountType":"Paper","status":"Active"}]"#,
    );
    write(
        root,
        "tradezero/TZP5/positions.json",
        r#"[{"positionId":"1","symbol":"F","securityType":"Stock","side":"Long","shares":3,"priceAvg":11}]"#,
    );
    write(
        root,
        "tradezero/TZP5/pnl.json",
        r#"{"accountValue":100,"availableCash":67,"pnl":[]}"#,
    );
    let as_of = chrono::NaiveDate::from_ymd_opt(2026, 11, 20);
    let n = read_rows(root, as_of).unwrap();
    let f = &n.rows;
    assert_eq!(f.positions.height(), 1);
    assert_eq!(
        str_at(&f.accounts, "account_name", 0).as_deref(),
        Some("Practice")
    );
    assert_eq!(
        str_at(&f.accounts, "account_kind", 0).as_deref(),
        Some("paper")
    );
    assert_eq!(bool_at(&f.accounts, "is_paper", 0), Some(true));
    // account.json is missing and no manifest explains it: noted, and the account is
    // marked incomplete.
    assert_eq!(f.quarantine.height(), 1);
    assert!(
        str_at(&f.quarantine, "source", 0)
            .unwrap()
            .ends_with("account.json")
    );
    assert!(
        n.incomplete
            .contains(&("tradezero".to_string(), "TZP5".to_string()))
    );
}

#[test]
fn unreadable_records_are_quarantined_with_pointer_and_reason() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    manifest(root, &["TZ1"], "");
    write(root, "tradezero/TZ1/account.json", DETAILS);
    write(
        root,
        "tradezero/TZ1/positions.json",
        r#"{"positions":[
          {"positionId":"1","symbol":"AAPL","securityType":"Stock","side":"Sideways","shares":1},
          {"positionId":"2","symbol":"AAPL","securityType":"Stock","side":"Long","shares":"abc"},
          {"positionId":"3","symbol":"QQQ","securityType":"Option","side":"Long","shares":1,"tradedSymbol":"QQQ-garbage"},
          {"positionId":"4","symbol":"MSFT","securityType":"Stock","side":"Long","shares":1,"priceAvg":1.123456789,"updatedDate":"yesterday"},
          "not an object",
          {"positionId":"6","symbol":"AMD","securityType":"Stock","side":"Long","shares":2}
        ]}"#,
    );
    write(
        root,
        "tradezero/TZ1/pnl.json",
        "{\"accountValue\": 12, \"pnl\": [ truncated",
    );
    let n = read_rows(root, None).unwrap();
    let f = &n.rows;
    // Kept: 4 (rounded price, bad date left empty) and 6.
    assert_eq!(f.positions.height(), 2);
    let q = &f.quarantine;
    let pointers: Vec<String> = (0..q.height())
        .map(|i| str_at(q, "pointer", i).unwrap())
        .collect();
    for want in [
        "/positions/0",
        "/positions/1/shares",
        "/positions/2",
        "/positions/3/priceAvg",
        "/positions/3/updatedDate",
        "/positions/4",
    ] {
        assert!(
            pointers.iter().any(|p| p == want),
            "no quarantine row at {want}: {pointers:?}"
        );
    }
    let reasons: Vec<String> = (0..q.height())
        .map(|i| str_at(q, "reason", i).unwrap())
        .collect();
    assert!(
        reasons.iter().any(|r| r.contains("Sideways")),
        "{reasons:?}"
    );
    assert!(
        reasons.iter().any(|r| r.contains("rounded half-even")),
        "{reasons:?}"
    );
    assert!(
        reasons.iter().any(|r| r.contains("unreadable P&L file")),
        "{reasons:?}"
    );
    // The truncated P&L file makes the account incomplete.
    assert!(
        n.incomplete
            .contains(&("tradezero".to_string(), "TZ1".to_string()))
    );
    let msft = row_of(&f.positions, "position_id", "4");
    assert_eq!(
        dec_at(&f.positions, "avg_price", msft),
        Some(dec!(1.12345679))
    );
}

#[test]
fn endpoints_the_manifest_reports_missing_are_not_reported_twice() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    manifest(
        root,
        &["TZ1"],
        r#"{"account": "TZ1", "endpoint": "pnl", "error": "HTTP 500"}"#,
    );
    write(root, "tradezero/TZ1/account.json", DETAILS);
    write(root, "tradezero/TZ1/positions.json", POSITIONS);
    let n = read_rows(root, None).unwrap();
    assert_eq!(n.rows.quarantine.height(), 0);
    // Incomplete, so its accounts frame row says `data_complete` false (recon-frames'
    // `an_incomplete_account_is_not_data_complete`).
    assert!(
        n.incomplete
            .contains(&("tradezero".to_string(), "TZ1".to_string()))
    );
}

mod never_panics {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        // Whatever bytes land in the files, normalize answers with rows or quarantine rows.
        #[test]
        fn arbitrary_bodies(positions in ".{0,200}", pnl in ".{0,200}", details in ".{0,100}") {
            let dir = tempfile::tempdir().unwrap();
            let root = dir.path();
            manifest(root, &["TZ1"], "");
            write(root, "tradezero/TZ1/account.json", &details);
            write(root, "tradezero/TZ1/positions.json", &positions);
            write(root, "tradezero/TZ1/pnl.json", &pnl);
            let n = read_rows(root, None).unwrap();
            prop_assert_eq!(n.rows.accounts.height(), 1);
        }

        #[test]
        fn arbitrary_position_fields(side in ".{0,8}", shares in "[-0-9.eE\"a-z]{0,12}", sym in ".{0,24}") {
            let dir = tempfile::tempdir().unwrap();
            let root = dir.path();
            manifest(root, &["TZ1"], "");
            let body = format!(
                r#"{{"positions":[{{"positionId":"1","symbol":{},"tradedSymbol":{},"side":{},"shares":{}}}]}}"#,
                serde_json::to_string(&sym).unwrap(),
                serde_json::to_string(&sym).unwrap(),
                serde_json::to_string(&side).unwrap(),
                if shares.is_empty() { "null".to_string() } else { shares.clone() },
            );
            write(root, "tradezero/TZ1/positions.json", &body);
            let n = read_rows(root, None).unwrap();
            // One position read, or at least one quarantine row saying why not.
            prop_assert!(n.rows.positions.height() == 1 || n.rows.quarantine.height() >= 1);
        }
    }
}

/// The fixture under fixtures/tradezero/quirks: the slim account list (lower-case id), `bp`,
/// a bare positions array, two lots of one symbol, a short option with negative `shares`
/// matched to its P&L row by OCC symbol (the row's `positionId` differs), fractional shares
/// without a P&L row, `…Pnl`/`…PnL` casing in one file, a lot closed today and an orphan row.
#[test]
fn the_fixture_becomes_exact_rows_field_by_field() {
    let n = read_rows(&fixture("tradezero/quirks"), None).unwrap();
    let f = &n.rows;
    let a = &f.accounts;
    assert_eq!(a.height(), 2);
    let tz1 = row_of(a, "account_id", "TZ1");
    assert_eq!(str_at(a, "account_kind", tz1).as_deref(), Some("margin"));
    let paper = row_of(a, "account_id", "TZP2");
    assert_eq!(str_at(a, "account_kind", paper).as_deref(), Some("paper"));

    let b = &f.balances;
    let i = row_of(b, "account_id", "TZ1");
    assert_eq!(dec_at(b, "cash", i), Some(dec!(1000.25)));
    assert_eq!(dec_at(b, "net_liq", i), Some(dec!(3456.78)));
    assert_eq!(dec_at(b, "buying_power", i), Some(dec!(4001)));
    assert_eq!(dec_at(b, "maintenance_requirement", i), Some(dec!(1700)));
    assert_eq!(dec_at(b, "reported_exposure", i), Some(dec!(4044.5)));

    let p = &f.positions;
    assert_eq!(p.height(), 4, "{p}");
    let lot11 = row_of(p, "position_id", "11");
    let lot14 = row_of(p, "position_id", "14");
    assert_eq!(dec_at(p, "quantity", lot11), Some(dec!(10)));
    assert_eq!(dec_at(p, "market_value", lot11), Some(dec!(2030.5)));
    assert_eq!(dec_at(p, "mark", lot11), Some(dec!(203.05)));
    assert_eq!(dec_at(p, "quantity", lot14), Some(dec!(2)));
    assert_eq!(dec_at(p, "market_value", lot14), Some(dec!(406.1)));
    // `unrealizedPnl` (lower-case l) on this row, `unrealizedPnL` on the others.
    assert_eq!(dec_at(p, "unrealized_pnl", lot14), Some(dec!(6.3)));
    let qqq = row_of(p, "symbol", "QQQ270115C00703000");
    assert_eq!(dec_at(p, "quantity", qqq), Some(dec!(-2)));
    assert_eq!(dec_at(p, "multiplier", qqq), Some(dec!(100)));
    assert_eq!(dec_at(p, "market_value", qqq), Some(dec!(-1090)));
    assert_eq!(dec_at(p, "mark", qqq), Some(dec!(5.45)));
    let nvda = row_of(p, "symbol", "NVDA");
    assert_eq!(dec_at(p, "quantity", nvda), Some(dec!(0.5)));
    assert_eq!(dec_at(p, "market_value", nvda), None);

    let pnl = &f.pnl;
    assert_eq!(pnl.height(), 5);
    let closed = row_of(pnl, "symbol", "INTC");
    assert_eq!(dec_at(pnl, "exposure", closed), Some(dec!(0)));
    assert_eq!(dec_at(pnl, "realized_pnl", closed), Some(dec!(42.5)));
    assert_eq!(f.quarantine.height(), 0);
}
