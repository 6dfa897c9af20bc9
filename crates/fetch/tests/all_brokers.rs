//! All five connectors against the simulator at once, under every fault profile: every
//! account of every broker is fetched or reported with its reason, nothing hangs, retries
//! stay within their bound, and no credential reaches the snapshot.

mod common;

use common::*;
use recon_model::Broker;
use recon_model::manifest::FetchStatus;
use recon_sim::{Faults, SimBook, SimCredentials, SimOptions, clearstreet, etrade, start};
use std::time::Duration;

const RETRIES: usize = 3;

async fn run(profile: &str) {
    let faults = Faults::profile(profile).unwrap();
    // Under `loop`, small pages so that Clear Street's and E*TRADE's lists do page.
    let paging = faults.paging_loop;
    let options = SimOptions {
        faults,
        clearstreet: clearstreet::Dialect {
            page_size_cap: paging.then_some(1),
            ..Default::default()
        },
        etrade: etrade::Dialect {
            page_size_cap: paging.then_some(1),
            ..Default::default()
        },
        ..SimOptions::default()
    };
    let book = SimBook::demo();
    let sim = start(book.clone(), SimCredentials::random(), options)
        .await
        .unwrap();
    let secrets_seen: Vec<String> = sim
        .credentials
        .by_broker()
        .flat_map(|(_, creds)| creds.into_iter().map(|(_, v)| v.to_string()))
        .collect();
    let connectors = five_connectors(&sim);
    let (dir, manifest) =
        tokio::time::timeout(Duration::from_secs(60), fetch_into(&connectors, book.as_of))
            .await
            .unwrap_or_else(|_| panic!("{profile}: the fetch hung"));

    for broker in Broker::ALL {
        let entry = &manifest.brokers[broker.as_str()];
        let requests = entry.requests.as_ref().unwrap();
        assert!(
            requests.iter().all(|r| r.attempts as usize <= RETRIES + 1),
            "{profile}/{broker}: more attempts than the bound"
        );
        let want: Vec<&str> = book.accounts_of(*broker).map(|a| a.id.as_str()).collect();
        let paged = matches!(broker, Broker::Clearstreet | Broker::Etrade);
        if paging && paged {
            // The loop is caught and said, never followed forever.
            assert_ne!(entry.status, FetchStatus::Complete, "{profile}/{broker}");
            assert!(
                entry.errors.iter().all(|e| e.error.contains("paging loop")),
                "{profile}/{broker}: {:?}",
                entry.errors
            );
        } else {
            assert_eq!(
                entry.status,
                FetchStatus::Complete,
                "{profile}/{broker}: {:?}",
                entry.errors
            );
            let mut got: Vec<String> = entry.accounts.clone();
            got.sort();
            let mut want: Vec<String> = want
                .iter()
                .map(|a| {
                    if *broker == Broker::Tradezero {
                        a.to_ascii_uppercase()
                    } else {
                        a.to_string()
                    }
                })
                .collect();
            want.sort();
            assert_eq!(got, want, "{profile}/{broker}");
        }
    }
    for file in walk(dir.path()) {
        let text = String::from_utf8_lossy(&std::fs::read(&file).unwrap()).into_owned();
        for s in &secrets_seen {
            assert!(
                !text.contains(s.as_str()),
                "{profile}: {} holds a credential",
                file.display()
            );
        }
    }
}

#[tokio::test]
async fn no_faults() {
    run("none").await;
}

#[tokio::test]
async fn flaky_brokers_are_fetched_whole() {
    run("flaky").await;
}

#[tokio::test]
async fn slow_brokers_are_fetched_whole() {
    run("slow").await;
}

#[tokio::test]
async fn html_pages_instead_of_json_are_retried() {
    run("invalid").await;
}

#[tokio::test]
async fn paging_loops_are_caught() {
    run("loop").await;
}

#[tokio::test]
async fn expiring_tokens_are_renewed() {
    run("expiry").await;
}

/// The five connectors recon builds, pointed at `sim`.
fn five_connectors(sim: &recon_sim::RunningSim) -> Vec<Box<dyn recon_fetch::Connector>> {
    let connectors: Vec<_> = Broker::ALL
        .iter()
        .map(|b| sim_connector(sim, *b, None, quick(RETRIES), &[]))
        .collect();
    assert_eq!(connectors.len(), Broker::ALL.len());
    connectors
}

/// Fetches every broker of a freshly started simulator serving `book` into a new folder.
async fn snapshot_of(book: &SimBook) -> tempfile::TempDir {
    let sim = start(
        book.clone(),
        SimCredentials::random(),
        SimOptions::default(),
    )
    .await
    .unwrap();
    fetch_into(&five_connectors(&sim), book.as_of).await.0
}

#[tokio::test]
async fn the_same_seed_gives_byte_identical_answers_from_every_broker() {
    let as_of = chrono::NaiveDate::from_ymd_opt(2026, 11, 20).unwrap();
    let spec = recon_sim::generate::GenSpec {
        break_rate: 0.3,
        ..recon_sim::generate::GenSpec::new(9, 15, 12, as_of)
    };
    let (one, _) = recon_sim::generate::generate(&spec);
    let (two, _) = recon_sim::generate::generate(&spec);
    // Two simulators, other credentials, tokens and nonces: the same bodies, byte for byte.
    let a = snapshot_of(&one).await;
    let b = snapshot_of(&two).await;
    let files = |d: &std::path::Path| -> Vec<std::path::PathBuf> {
        let mut f: Vec<_> = walk(d)
            .into_iter()
            .filter(|p| p.file_name().is_some_and(|n| n != "manifest.json"))
            .map(|p| p.strip_prefix(d).unwrap().to_path_buf())
            .collect();
        f.sort();
        f
    };
    let names = files(a.path());
    assert_eq!(names, files(b.path()));
    let brokers: std::collections::BTreeSet<_> =
        names.iter().filter_map(|p| p.iter().next()).collect();
    assert_eq!(brokers.len(), Broker::ALL.len(), "{brokers:?}");
    for name in &names {
        let (x, y) = (
            std::fs::read(a.path().join(name)).unwrap(),
            std::fs::read(b.path().join(name)).unwrap(),
        );
        assert!(
            x == y,
            "{} differs:\n{}\n{}",
            name.display(),
            String::from_utf8_lossy(&x),
            String::from_utf8_lossy(&y)
        );
    }
}
