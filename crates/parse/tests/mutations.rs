//! Nothing a broker sends can crash normalize or slip through unseen: any file of any
//! broker's fixture, cut short, with bytes flipped, or with a value swapped for another
//! type, still normalizes — every account is still there, and a position that can no
//! longer be read is a quarantine row or an incomplete account, never a panic or a silence.

mod common;

use common::*;
use proptest::prelude::*;

use std::path::{Path, PathBuf};

const FIXTURES: [&str; 5] = [
    "tradezero/quirks",
    "clearstreet/quirks",
    "tastytrade/quirks",
    "etrade/quirks",
    "architect/quirks",
];

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(files(&p));
        } else if p.file_name().is_some_and(|n| n != "manifest.json") {
            out.push(p);
        }
    }
    out.sort();
    out
}

fn copy(from: &Path, to: &Path) {
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        let dest = to.join(p.file_name().unwrap());
        if p.is_dir() {
            std::fs::create_dir_all(&dest).unwrap();
            copy(&p, &dest);
        } else {
            std::fs::copy(&p, &dest).unwrap();
        }
    }
}

/// How a file is damaged.
#[derive(Debug, Clone)]
enum Damage {
    /// Cut at this fraction of its length (a dropped connection).
    Truncate(f64),
    /// These bytes replaced (position as a fraction of the length, the new byte).
    Flip(Vec<(f64, u8)>),
    /// The n-th JSON string value replaced by a number, a bool, an object or null.
    Retype(usize, &'static str),
}

fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        (0.0..1.0f64).prop_map(Damage::Truncate),
        prop::collection::vec((0.0..1.0f64, any::<u8>()), 1..8).prop_map(Damage::Flip),
        (
            0..200usize,
            prop::sample::select(vec!["1e400", "true", "{}", "null", "[]", "-0"])
        )
            .prop_map(|(n, v)| Damage::Retype(n, v)),
    ]
}

fn apply(bytes: &[u8], d: &Damage) -> Vec<u8> {
    match d {
        Damage::Truncate(f) => bytes[..(bytes.len() as f64 * f) as usize].to_vec(),
        Damage::Flip(flips) => {
            let mut b = bytes.to_vec();
            for (f, byte) in flips {
                if !b.is_empty() {
                    let i = ((b.len() - 1) as f64 * f) as usize;
                    b[i] = *byte;
                }
            }
            b
        }
        Damage::Retype(n, value) => {
            // Replace the n-th `"…"` that follows a colon (a string value).
            let text = String::from_utf8_lossy(bytes).into_owned();
            let mut seen = 0;
            let mut out = String::new();
            let mut rest = text.as_str();
            while let Some(i) = rest.find(":\"") {
                let (head, tail) = rest.split_at(i + 1);
                out.push_str(head);
                let Some(end) = tail[1..].find('"') else {
                    rest = tail;
                    break;
                };
                if seen == *n {
                    out.push_str(value);
                } else {
                    out.push_str(&tail[..end + 2]);
                }
                seen += 1;
                rest = &tail[end + 2..];
            }
            out.push_str(rest);
            out.into_bytes()
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn damaged_broker_files_never_panic_and_never_vanish(
        fixture in prop::sample::select(FIXTURES.to_vec()),
        pick in any::<prop::sample::Index>(),
        d in damage(),
    ) {
        let src = fixture_path(fixture);
        let dir = tempfile::tempdir().unwrap();
        copy(&src, dir.path());
        let all = files(dir.path());
        let target = pick.get(&all).clone();
        let original = std::fs::read(&target).unwrap();
        let damaged = apply(&original, &d);
        std::fs::write(&target, &damaged).unwrap();

        let clean = read_rows(&src, None).unwrap();
        let n = read_rows(dir.path(), None).unwrap();
        // Every account of the manifest is still there.
        prop_assert_eq!(n.rows.accounts.height(), clean.rows.accounts.height());
        // A position that is no longer read is accounted for: a quarantine row or an
        // incomplete account says so. (A flipped digit that still reads as a number is a
        // different value, not a lost one: nothing can tell it from the truth.)
        if n.rows.positions.height() < clean.rows.positions.height() {
            let before: std::collections::BTreeSet<_> =
                quarantine(&clean.rows.quarantine).into_iter().collect();
            let said = quarantine(&n.rows.quarantine)
                .into_iter()
                .any(|row| !before.contains(&row))
                || n.incomplete.len() > clean.incomplete.len();
            prop_assert!(said, "{target:?} damaged by {d:?}: positions lost without a word");
        }
    }
}

fn fixture_path(rel: &str) -> PathBuf {
    fixture(rel)
}
