//! No gap reads as clean: a page missing before a later one, a broker the manifest marks
//! failed or partial without saying why, a broker that lists no account, an account the
//! stored list names without a folder (no manifest), and a manifest of another format are
//! all incomplete or refused, by name.

mod common;

use common::*;

use std::path::Path;

/// A copy of a fixture folder, to break.
fn copy_of(rel: &str) -> tempfile::TempDir {
    fn copy(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for e in std::fs::read_dir(from).unwrap() {
            let e = e.unwrap();
            let target = to.join(e.file_name());
            if e.path().is_dir() {
                copy(&e.path(), &target);
            } else {
                std::fs::copy(e.path(), target).unwrap();
            }
        }
    }
    let dir = tempfile::tempdir().unwrap();
    copy(&fixture(rel), dir.path());
    dir
}

fn incomplete(n: &Read) -> Vec<(String, String)> {
    n.incomplete.iter().cloned().collect()
}

fn gap_errors(n: &Read) -> Vec<String> {
    n.fetch_errors
        .iter()
        .map(|(b, e)| format!("{b} {}: {}", e.endpoint, e.error))
        .collect()
}

#[test]
fn an_etrade_page_missing_before_a_later_one_makes_the_account_incomplete() {
    let snap = copy_of("etrade/quirks");
    let key_a = snap.path().join("etrade/KeyA");
    std::fs::rename(
        key_a.join("portfolio.0002.json"),
        key_a.join("portfolio.0003.json"),
    )
    .unwrap();
    let n = read_rows(snap.path(), None).unwrap();
    assert!(
        incomplete(&n).contains(&("etrade".into(), "KeyA".into())),
        "{:?}",
        incomplete(&n)
    );
    let q = quarantine(&n.rows.quarantine);
    assert!(
        q.iter()
            .any(|(s, _, r)| s == "etrade/KeyA/portfolio.0002.json"
                && r.contains("page 2 is missing but page 3")),
        "{q:?}"
    );
    // The untouched fixture is complete.
    let whole = read_rows(&fixture("etrade/quirks"), None).unwrap();
    assert!(!incomplete(&whole).contains(&("etrade".into(), "KeyA".into())));
}

#[test]
fn a_clear_street_page_gap_is_named_too() {
    let snap = copy_of("clearstreet/quirks");
    let pages: Vec<_> = std::fs::read_dir(snap.path().join("clearstreet"))
        .unwrap()
        .flatten()
        .filter(|e| e.path().is_dir())
        .flat_map(|e| std::fs::read_dir(e.path()).unwrap().flatten())
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().ends_with("positions.0001.json"))
        .collect();
    let first = &pages[0];
    let account = first
        .parent()
        .unwrap()
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    std::fs::rename(first, first.with_file_name("positions.0002.json")).unwrap();
    let n = read_rows(snap.path(), None).unwrap();
    assert!(
        incomplete(&n).contains(&("clearstreet".into(), account)),
        "{:?}",
        incomplete(&n)
    );
}

fn rewrite_manifest(dir: &Path, edit: impl Fn(&mut serde_json::Value)) {
    let path = dir.join("manifest.json");
    let mut m: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    edit(&mut m);
    std::fs::write(path, serde_json::to_vec(&m).unwrap()).unwrap();
}

#[test]
fn a_broker_marked_failed_or_partial_without_errors_is_not_clean() {
    for status in ["failed", "partial"] {
        let snap = copy_of("etrade/quirks");
        rewrite_manifest(snap.path(), |m| {
            m["brokers"]["etrade"]["status"] = status.into()
        });
        let n = read_rows(snap.path(), None).unwrap();
        let errors = gap_errors(&n);
        assert!(
            errors
                .iter()
                .any(|e| e.contains(&format!("marks etrade {status}"))),
            "{errors:?}"
        );
        // And it reaches the frame the fetch-incomplete rule reads.
        assert_eq!(n.rows.fetch_errors.height(), 1);
    }
}

#[test]
fn a_broker_that_lists_no_account_is_incomplete() {
    let snap = copy_of("etrade/quirks");
    rewrite_manifest(snap.path(), |m| {
        m["brokers"]["etrade"]["accounts"] = serde_json::json!([])
    });
    let n = read_rows(snap.path(), None).unwrap();
    assert!(
        gap_errors(&n)
            .iter()
            .any(|e| e.contains("listed no accounts")),
        "{:?}",
        gap_errors(&n)
    );
}

#[test]
fn without_a_manifest_an_account_listed_but_without_a_folder_is_incomplete() {
    let snap = copy_of("tradezero/quirks");
    std::fs::remove_file(snap.path().join("manifest.json")).unwrap();
    let listed: Vec<String> = std::fs::read_dir(snap.path().join("tradezero"))
        .unwrap()
        .flatten()
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    let gone = listed[0].clone();
    std::fs::remove_dir_all(snap.path().join("tradezero").join(&gone)).unwrap();
    let n = read_rows(
        snap.path(),
        Some(chrono::NaiveDate::from_ymd_opt(2026, 11, 20).unwrap()),
    )
    .unwrap();
    assert!(
        incomplete(&n).contains(&("tradezero".into(), gone.clone())),
        "{gone} is listed in accounts.json but has no folder: {:?}",
        incomplete(&n)
    );
}

#[test]
fn a_manifest_of_another_format_is_refused_by_name() {
    let snap = copy_of("etrade/quirks");
    rewrite_manifest(snap.path(), |m| m["format"] = 2.into());
    let e = read_rows(snap.path(), None).unwrap_err().to_string();
    assert!(e.contains("format 2") && e.contains("newer recon"), "{e}");
}

/// Quarantine rows under `pointer` of `source`.
fn rows_under(n: &Read, source: &str, pointer: &str) -> Vec<String> {
    quarantine(&n.rows.quarantine)
        .into_iter()
        .filter(|(s, p, _)| s == source && p.starts_with(pointer))
        .map(|(_, p, r)| format!("{p}: {r}"))
        .collect()
}

#[test]
fn a_position_with_an_unreadable_size_is_quarantined_once() {
    // E*TRADE: the first position of KeyA's first page with a quantity that is no number.
    let snap = copy_of("etrade/quirks");
    let page = snap.path().join("etrade/KeyA/portfolio.0001.json");
    let text = std::fs::read_to_string(&page).unwrap();
    let broken = text.replacen(r#""quantity":"40""#, r#""quantity":"forty""#, 1);
    assert_ne!(broken, text, "the fixture changed");
    std::fs::write(&page, broken).unwrap();
    let n = read_rows(snap.path(), None).unwrap();
    let rows = rows_under(
        &n,
        "etrade/KeyA/portfolio.0001.json",
        "/PortfolioResponse/AccountPortfolio/0/Position/0",
    );
    assert_eq!(rows.len(), 1, "{rows:?}");

    // Architect: a lot whose quantity is no number.
    let snap = copy_of("architect/quirks");
    let id = "aaaaaaaa-0000-4000-8000-000000000001";
    let file = snap.path().join(format!("architect/{id}/summary.json"));
    let text = std::fs::read_to_string(&file).unwrap();
    let broken = text.replacen(r#""quantity":10,"#, r#""quantity":"ten","#, 1);
    assert_ne!(broken, text, "the fixture changed");
    std::fs::write(&file, broken).unwrap();
    let n = read_rows(snap.path(), None).unwrap();
    let rows = rows_under(
        &n,
        &format!("architect/{id}/summary.json"),
        "/positions/AAPL US Equity",
    );
    assert_eq!(rows.len(), 1, "{rows:?}");
}

#[test]
fn absurd_numbers_are_quarantined_and_never_kill_the_read() {
    // Values at or beyond 10^20, and products that overflow, in every shape the
    // parsers multiply: the position is kept or quarantined, never a panic.
    let snap = copy_of("architect/quirks");
    let id = "aaaaaaaa-0000-4000-8000-000000000001";
    let file = snap.path().join(format!("architect/{id}/summary.json"));
    let text = std::fs::read_to_string(&file).unwrap();
    let text = text
        .replacen(
            r#""quantity":10,"#,
            r#""quantity":"9999999999999999999","#,
            1,
        )
        .replacen(
            r#""cost_basis":190.5"#,
            r#""cost_basis":"9999999999999999999.5""#,
            1,
        )
        .replacen(r#""equity":"9000.00""#, r#""equity":"1e25""#, 1);
    assert!(
        text.contains("9999999999999999999.5") && text.contains("1e25"),
        "the fixture changed"
    );
    std::fs::write(&file, text).unwrap();
    let n = read_rows(snap.path(), None).unwrap();
    let q = quarantine(&n.rows.quarantine);
    assert!(
        q.iter().any(|(_, _, r)| r.contains("out of range")),
        "{q:?}"
    );
    assert!(q.iter().any(|(_, _, r)| r.contains("overflows")), "{q:?}");
}
