//! Canonical rows → frames: what the frames add to the rows the parsers give (their tests
//! are in `recon-parse`): every account's `data_complete`, from the accounts whose files
//! could not all be read, and a fixture's rows carried into frames cell for cell.

use polars::prelude::*;
use recon_frames::exact::from_units;
use recon_frames::{build_frames_of_parts, normalize_snapshot, read_snapshot};
use std::collections::BTreeSet;
use std::path::Path;

/// The brokers with a `quirks` fixture.
const BROKERS: [&str; 5] = [
    "tradezero",
    "clearstreet",
    "tastytrade",
    "etrade",
    "architect",
];

fn fixture(rel: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures")
        .join(rel)
}

#[test]
fn an_incomplete_account_is_not_data_complete() {
    let read = read_snapshot(&fixture("etrade/quirks"), None).unwrap();
    let book = read.book();
    assert!(!book.accounts.is_empty());
    let (a, b) = (&book.accounts[0], &book.accounts[1]);
    let incomplete = BTreeSet::from([(a.broker.to_string(), a.account_id.clone())]);
    let frames = build_frames_of_parts(&read.parts, &incomplete, &[]).unwrap();
    let accounts = &frames.accounts;
    let complete = |id: &str| {
        let ids = accounts.column("account_id").unwrap().str().unwrap();
        let i = (0..accounts.height())
            .find(|&i| ids.get(i) == Some(id))
            .unwrap();
        accounts.column("data_complete").unwrap().get(i).unwrap()
    };
    assert_eq!(complete(&a.account_id), AnyValue::Boolean(false));
    assert_eq!(complete(&b.account_id), AnyValue::Boolean(true));
}

/// Every fixture's positions reach the positions frame unchanged: same count, and each
/// quantity, market value and CUSIP in the same row.
#[test]
fn every_fixtures_rows_become_frame_cells_unchanged() {
    for broker in BROKERS {
        let dir = fixture(&format!("{broker}/quirks"));
        let read = read_snapshot(&dir, None).unwrap().book();
        let n = normalize_snapshot(&dir, None).unwrap();
        let p = &n.frames.positions;
        assert_eq!(p.height(), read.positions.len(), "{broker}");
        assert_eq!(
            n.frames.quarantine.height(),
            read.quarantine.len(),
            "{broker}"
        );
        let money = |column: &str, i: usize| match p.column(column).unwrap().get(i).unwrap() {
            AnyValue::Decimal(v, _, s) => from_units(v, s),
            AnyValue::Null => None,
            other => panic!("{column}: {other:?}"),
        };
        for (i, row) in read.positions.iter().enumerate() {
            assert_eq!(money("quantity", i), Some(row.quantity), "{broker} {i}");
            assert_eq!(money("market_value", i), row.market_value, "{broker} {i}");
            let cusip = p.column("cusip").unwrap().str().unwrap().get(i);
            assert_eq!(cusip, row.cusip.as_deref(), "{broker} {i}");
        }
    }
}

/// The frames of a snapshot's rows kept in their parts (one book per account, as a check
/// reads them) are the frames of the same rows in one book, cell for cell.
#[test]
fn frames_of_parts_are_the_frames_of_one_book() {
    use recon_frames::build_frames;
    let mut parts_seen = 0;
    for broker in BROKERS {
        let read = read_snapshot(&fixture(&format!("{broker}/quirks")), None).unwrap();
        parts_seen += read.parts.len();
        let incomplete = BTreeSet::new();
        let of_parts = build_frames_of_parts(&read.parts, &incomplete, &[]).unwrap();
        let of_book = build_frames(&read.book(), &incomplete, &[]).unwrap();
        for ((name, a), (_, b)) in of_parts.named().into_iter().zip(of_book.named()) {
            assert!(
                a.height() > 0 || name != "positions",
                "{broker}: no positions"
            );
            assert!(a.equals_missing(b), "{broker} {name}:\n{a}\n{b}");
        }
    }
    assert!(parts_seen > 5, "the fixtures are read in several parts");
}
